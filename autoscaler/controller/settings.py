"""Settings of ``kubevirt-autoscaler run``: one model read from three sources.

Precedence: flags over the environment (``KVPOOL_*``) over an optional YAML file over the
defaults. A flag that was not given is absent, never a value: it overrides nothing. A key in the
file that is not a setting is an error naming the key and the file; a bad value is an error naming
the setting and where it came from.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from autoscaler.api.validation_errors import describe_errors
from autoscaler.core.config import CoreConfig

# CoreConfig knobs that the settings may override (everything but the scheduler names, which
# have their own setting).
CORE_KNOBS = frozenset(
    f.name for f in dataclasses.fields(CoreConfig) if f.name != "scheduler_names"
)


ENV_PREFIX = "KVPOOL_"

# The parsed settings file of the Settings being built (see load_settings).
_FILE_VALUES: ContextVar[Mapping[str, Any] | None] = ContextVar("settings_file", default=None)


class SettingsError(ValueError):
    """Settings that cannot be used; the message names the source and the setting."""


class SettingsFileSource(PydanticBaseSettingsSource):
    """The values of the YAML settings file, below the environment and the flags."""

    def __init__(self, settings_cls: type[BaseSettings], values: Mapping[str, Any]) -> None:
        super().__init__(settings_cls)
        self._values = dict(values)

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._values)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The first source that has a value wins: flags (passed as init values), environment,
        # then the file.
        from_file = SettingsFileSource(settings_cls, _FILE_VALUES.get() or {})
        return init_settings, env_settings, from_file

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
    request_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="longest time for one API request to any cluster, response included "
        "(also per page of a list)",
    )
    connect_timeout_seconds: float = Field(
        default=10.0, gt=0, description="longest time to get a connection to an API server"
    )
    watch_inactivity_seconds: float = Field(
        default=180.0,
        gt=0,
        description="a watch that delivers no event or bookmark for this long is re-listed, and "
        "its tenant counts as stale (Connected=False, no disruption) until a watch delivers "
        "again; API servers send a bookmark about every minute",
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


def load_settings(config_file: Path | None, flags: Mapping[str, Any]) -> Settings:
    """Build settings from a YAML file (lowest), the environment, then the flags given.

    ``flags`` maps setting names to flag values; None means the flag was not given. Raises
    :class:`SettingsError` naming what is wrong and where it came from.
    """
    from_file = read_settings_file(config_file) if config_file is not None else {}
    given = {name: value for name, value in flags.items() if value is not None}
    token = _FILE_VALUES.set(from_file)
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise SettingsError(_describe(exc, config_file, from_file, given)) from None
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    finally:
        _FILE_VALUES.reset(token)


def read_settings_file(path: Path) -> dict[str, Any]:
    """The settings in a YAML file, keys with ``-`` or ``_``; unknown keys are an error."""
    try:
        loaded = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path}: not valid YAML: {exc}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise SettingsError(f"{path}: expected a mapping of settings, got {type(loaded).__name__}")
    values = {str(key).replace("-", "_"): value for key, value in loaded.items()}
    unknown = sorted(set(values) - set(Settings.model_fields))
    if unknown:
        raise SettingsError(
            f"{path}: {', '.join(unknown)}: unknown setting" + ("s" if len(unknown) > 1 else "")
        )
    return values


def _describe(
    exc: ValidationError,
    config_file: Path | None,
    from_file: Mapping[str, Any],
    flags: Mapping[str, Any],
) -> str:
    def source(loc: tuple[int | str, ...]) -> str:
        if loc and isinstance(loc[0], str):
            return f"from {_source_of(loc[0], config_file, from_file, flags)}"
        return ""

    lines = describe_errors(exc, unknown="unknown setting", path_note=source)
    return "invalid settings: " + "; ".join(lines)


def _source_of(
    name: str, config_file: Path | None, from_file: Mapping[str, Any], flags: Mapping[str, Any]
) -> str:
    if name in flags:
        return f"--{name.replace('_', '-')}"
    variable = ENV_PREFIX + name.upper()
    if any(key.upper() == variable for key in os.environ):
        return variable
    if name in from_file:
        return str(config_file)
    return "the default"
