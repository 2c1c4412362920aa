"""Settings of ``run`` from defaults, file, environment and flags; bad input is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from autoscaler.cli import main
from autoscaler.controller.app import loop_settings, manager_settings
from autoscaler.controller.settings import SettingsError, load_settings


def test_flags_beat_environment_which_beats_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text("namespace: from-file\nmetrics-port: 9000\nbatch_idle_seconds: 0.5\n")
    monkeypatch.setenv("KVPOOL_METRICS_PORT", "9100")
    settings = load_settings(config, {"namespace": "from-flag", "dry_run": None})
    assert settings.namespace == "from-flag"
    assert settings.metrics_port == 9100
    assert settings.batch_idle_seconds == 0.5
    assert settings.dry_run is False


def test_core_knobs_reach_the_core_config_and_the_loops(tmp_path: Path) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text(
        "core: {drain_timeout: 42, max_disrupted_per_pass: 3}\nscan_interval_seconds: 4\n"
    )
    settings = load_settings(config, {"dry_run": True})
    loops = loop_settings(settings)
    assert loops.core.drain_timeout == 42.0 and loops.core.max_disrupted_per_pass == 3
    assert loops.actuator.dry_run and loops.actuator.drain.timeout == 42.0
    assert loops.windows.scan_interval_seconds == 4.0
    assert manager_settings(settings).namespace == "kvpool-system"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("core: {drain_timeot: 1}\n", "unknown core setting(s) drain_timeot"),
        ("core: {backoff_base: -1}\n", "backoff_base must be a non-negative duration"),
        ("batch_idle_seconds: 20\n", "batch_idle_seconds must not exceed batch_max_seconds"),
        ("metrics_prot: 1\n", "metrics_prot: unknown setting"),
        ("- a list\n", "expected a mapping of settings"),
        ("a: [\n", "not valid YAML"),
    ],
)
def test_bad_settings_are_named(tmp_path: Path, text: str, expected: str) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text(text)
    with pytest.raises(SettingsError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        load_settings(config, {})


def test_run_reports_bad_settings_and_a_missing_kubeconfig(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text("core: {nope: 1}\n")
    assert main(["run", "--config", str(config)]) == 2
    assert "unknown core setting(s) nope" in capsys.readouterr().err
    missing = tmp_path / "absent.yaml"
    assert main(["run", "--kubeconfig", str(missing), "--metrics-port", "0"]) == 1
    assert "absent.yaml" in capsys.readouterr().err
