"""Settings of ``kubevirt-autoscaler run``: flags override environment (``KVPOOL_*``), which
overrides an optional YAML file, which overrides the defaults."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from autoscaler.core.config import CoreConfig

# CoreConfig knobs that the settings may override (everything but the scheduler names, which
# have their own setting).
CORE_KNOBS = frozenset(
    f.name for f in dataclasses.fields(CoreConfig) if f.name != "scheduler_names"
)


class SettingsError(ValueError):
    """Settings that cannot be used; the message names the source and the setting."""


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

    # Loops of the process ------------------------------------------------------------------
    host_refresh_seconds: float = Field(
        default=10.0, gt=0, description="how often bare-metal host capacity is read"
    )
    tenant_resync_seconds: float = Field(
        default=30.0,
        gt=0,
        description="how often every TenantCluster is reconciled (kubeconfig Secret re-read)",
    )
    garbage_interval_seconds: float = Field(
        default=60.0, gt=0, description="how often orphaned objects are looked for"
    )
    orphan_grace_seconds: float = Field(
        default=300.0,
        ge=0,
        description="an orphan (user-data Secret without VM, VM of a removed tenant) is "
        "collected only after it has been one for this long",
    )
    bootstrap_token_ttl_seconds: float = Field(default=3600.0, gt=0)
    tenant_probe_timeout_seconds: float = Field(
        default=5.0, gt=0, description="a tenant API server slower than this counts as unreachable"
    )
    watch_backoff_max_seconds: float = Field(
        default=30.0, gt=0, description="longest wait between failed list or watch attempts"
    )
    core: dict[str, float] = Field(
        default_factory=dict,
        description="overrides of the decision core's deadlines, backoff and scale-down "
        f"pacing (seconds): {', '.join(sorted(CORE_KNOBS))}",
    )

    @field_validator("scheduler_names")
    @classmethod
    def _some_scheduler(cls, names: list[str]) -> list[str]:
        if not names:
            raise ValueError("at least one scheduler name is required")
        return names

    @field_validator("core")
    @classmethod
    def _known_core_knobs(cls, knobs: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(knobs) - CORE_KNOBS)
        if unknown:
            raise ValueError(
                f"unknown core setting(s) {', '.join(unknown)}; known: "
                f"{', '.join(sorted(CORE_KNOBS))}"
            )
        return knobs

    @model_validator(mode="after")
    def _windows_ordered(self) -> Settings:
        if self.batch_idle_seconds > self.batch_max_seconds:
            raise ValueError("batch_idle_seconds must not exceed batch_max_seconds")
        if self.renew_deadline_seconds >= self.lease_duration_seconds:
            raise ValueError("renew_deadline_seconds must be shorter than lease_duration_seconds")
        self.core_config()  # raises with the offending knob
        return self

    def core_config(self) -> CoreConfig:
        values: dict[str, Any] = {
            name: int(value) if name == "max_disrupted_per_pass" else float(value)
            for name, value in self.core.items()
        }
        return CoreConfig(**values, scheduler_names=tuple(self.scheduler_names))


def load_settings(config_file: Path | None, overrides: dict[str, Any]) -> Settings:
    """Build settings from a YAML file (lowest), the environment, then explicit overrides.

    Raises :class:`SettingsError` naming what is wrong.
    """
    from_file: dict[str, Any] = {}
    if config_file is not None:
        try:
            loaded = yaml.safe_load(config_file.read_text())
        except OSError as exc:
            raise SettingsError(f"{config_file}: cannot read: {exc.strerror or exc}") from None
        except yaml.YAMLError as exc:
            raise SettingsError(f"{config_file}: not valid YAML: {exc}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise SettingsError(
                f"{config_file}: expected a mapping of settings, got {type(loaded).__name__}"
            )
        from_file = {str(k).replace("-", "_"): v for k, v in (loaded or {}).items()}
    try:
        defaults_from_env = Settings()
        merged = {**from_file, **_explicit_env(defaults_from_env), **overrides}
        return Settings.model_validate({k: v for k, v in merged.items() if v is not None})
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown setting"
        lines.append(f"{where}: {message}" if where else message)
    return "invalid settings: " + "; ".join(lines)


def _explicit_env(settings: Settings) -> dict[str, Any]:
    """The fields that the environment set (so that they win over the file)."""
    return {name: getattr(settings, name) for name in settings.model_fields_set}
