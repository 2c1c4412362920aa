"""Settings of ``kubevirt-autoscaler run``: flags override environment (``KVPOOL_*``), which
overrides an optional YAML file, which overrides the defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KVPOOL_", extra="forbid")

    kubeconfig: Path | None = Field(
        default=None, description="management cluster kubeconfig; in-cluster config when unset"
    )
    namespace: str = Field(
        default="kvpool-system",
        description="namespace of the TenantCluster objects, their Secrets and the Lease",
    )
    all_namespaces: bool = Field(default=False, description="watch TenantClusters everywhere")
    leader_elect: bool = True
    lease_name: str = "kubevirt-autoscaler"
    lease_duration_seconds: float = Field(default=15.0, gt=0)
    renew_deadline_seconds: float = Field(default=10.0, gt=0)
    retry_period_seconds: float = Field(default=2.0, gt=0)
    identity: str | None = Field(
        default=None, description="leader identity; the hostname by default"
    )
    metrics_host: str = "0.0.0.0"
    metrics_port: int = Field(default=8080, ge=0, le=65535)
    batch_idle_seconds: float = Field(
        default=1.0, ge=0, description="act once no new pending pod arrived for this long"
    )
    batch_max_seconds: float = Field(
        default=10.0, gt=0, description="act at the latest this long after the first pending pod"
    )
    scan_interval_seconds: float = Field(
        default=10.0, gt=0, description="periodic decision even without new pending pods"
    )
    scheduler_names: list[str] = Field(default_factory=lambda: ["default-scheduler"])
    log_format: Literal["json", "console"] = "json"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    dry_run: bool = Field(default=False, description="decide and log, but change nothing")

    @field_validator("scheduler_names")
    @classmethod
    def _some_scheduler(cls, names: list[str]) -> list[str]:
        if not names:
            raise ValueError("at least one scheduler name is required")
        return names

    @model_validator(mode="after")
    def _windows_ordered(self) -> Settings:
        if self.batch_idle_seconds > self.batch_max_seconds:
            raise ValueError("batch_idle_seconds must not exceed batch_max_seconds")
        if self.renew_deadline_seconds >= self.lease_duration_seconds:
            raise ValueError("renew_deadline_seconds must be shorter than lease_duration_seconds")
        return self


def load_settings(config_file: Path | None, overrides: dict[str, Any]) -> Settings:
    """Build settings from a YAML file (lowest), the environment, then explicit overrides."""
    from_file: dict[str, Any] = {}
    if config_file is not None:
        loaded = yaml.safe_load(config_file.read_text())
        if loaded is not None and not isinstance(loaded, dict):
            raise ValueError(
                f"{config_file}: expected a mapping of settings, got {type(loaded).__name__}"
            )
        from_file = {str(k).replace("-", "_"): v for k, v in (loaded or {}).items()}
    defaults_from_env = Settings()
    merged = {**from_file, **_explicit_env(defaults_from_env), **overrides}
    return Settings.model_validate({k: v for k, v in merged.items() if v is not None})


def _explicit_env(settings: Settings) -> dict[str, Any]:
    """The fields that the environment set (so that they win over the file)."""
    return {name: getattr(settings, name) for name in settings.model_fields_set}
