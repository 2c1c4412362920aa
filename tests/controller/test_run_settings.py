"""Settings of ``run`` from defaults, file, environment and flags; bad input is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from autoscaler.cli import build_parser, main
from autoscaler.commands.run import overrides as run_overrides
from autoscaler.controller.app import loop_settings, manager_settings
from autoscaler.controller.settings import Settings, SettingsError, load_settings
from autoscaler.rawjson import RequestTimeouts


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


# One model, three sources: each source alone, then each rule of precedence --------------------

SOURCES = ("file", "environment", "flag")


def settings_from(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    values: dict[str, str | None],
) -> Settings:
    """``name`` set to ``values[source]`` by each source given (None: a flag not given)."""
    config = None
    if "file" in values:
        config = tmp_path / "settings.yaml"
        config.write_text(f"{name.replace('_', '-')}: {values['file']}\n")
    if "environment" in values:
        monkeypatch.setenv(f"KVPOOL_{name.upper()}", str(values["environment"]))
    flags = {name: values["flag"]} if "flag" in values else {}
    return load_settings(config, flags)


@pytest.mark.parametrize("source", SOURCES)
def test_each_source_alone_sets_a_setting(
    source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    value = {"file": "from-file", "environment": "from-env", "flag": "from-flag"}[source]
    settings = settings_from(tmp_path, monkeypatch, "namespace", {source: value})
    assert settings.namespace == value


def test_nothing_given_is_the_defaults() -> None:
    assert load_settings(None, {}) == Settings()
    assert load_settings(None, {}).request_timeout_seconds == 30.0


@pytest.mark.parametrize(
    ("given", "winner"),
    [
        (("file", "environment"), "environment"),
        (("environment", "flag"), "flag"),
        (("file", "flag"), "flag"),
        (("file", "environment", "flag"), "flag"),
    ],
)
def test_precedence_is_flags_then_environment_then_file(
    given: tuple[str, ...], winner: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values: dict[str, str | None] = {source: f"from-{source}" for source in given}
    settings = settings_from(tmp_path, monkeypatch, "lease_name", values)
    assert settings.lease_name == f"from-{winner}"


@pytest.mark.parametrize(
    ("name", "below", "expected"),
    [
        ("dry_run", {"file": "true"}, True),
        ("dry_run", {"environment": "true"}, True),
        ("leader_elect", {"file": "false"}, False),
        ("metrics_port", {"file": "9000", "environment": "9100"}, 9100),
        ("kubeconfig", {"file": "/etc/kvpool/management.kubeconfig"}, None),
    ],
)
def test_a_flag_not_given_overrides_nothing(
    name: str,
    below: dict[str, str],
    expected: object,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = settings_from(tmp_path, monkeypatch, name, {**below, "flag": None})
    if name == "kubeconfig":
        assert settings.kubeconfig == Path(below["file"])
    else:
        assert getattr(settings, name) == expected


def test_run_keeps_what_the_file_says_when_no_flag_is_given(tmp_path: Path) -> None:
    """``run --config``: dry_run and the kubeconfig from the file hold."""
    config = tmp_path / "settings.yaml"
    config.write_text(f"dry_run: true\nkubeconfig: {tmp_path / 'mgmt.yaml'}\nnamespace: ops\n")
    parser = build_parser()
    args = parser.parse_args(["run", "--config", str(config)])
    settings = load_settings(args.config, run_overrides(args))
    assert settings.dry_run is True
    assert settings.kubeconfig == tmp_path / "mgmt.yaml"
    assert settings.namespace == "ops"
    args = parser.parse_args(["run", "--config", str(config), "--no-dry-run", "--namespace", "x"])
    settings = load_settings(args.config, run_overrides(args))
    assert settings.dry_run is False and settings.namespace == "x"


def test_unknown_keys_in_the_file_are_named_with_the_file(tmp_path: Path) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text("dry-run: true\nwatch_inactivty_seconds: 5\nlease-nmae: x\n")
    with pytest.raises(SettingsError) as raised:
        load_settings(config, {})
    message = str(raised.value)
    assert str(config) in message
    assert "lease_nmae, watch_inactivty_seconds: unknown settings" in message


@pytest.mark.parametrize(
    ("source", "where"),
    [
        ("file", "settings.yaml"),
        ("environment", "KVPOOL_REQUEST_TIMEOUT_SECONDS"),
        ("flag", "--request-timeout-seconds"),
    ],
)
def test_a_bad_value_names_the_setting_and_its_source(
    source: str, where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SettingsError) as raised:
        settings_from(tmp_path, monkeypatch, "request_timeout_seconds", {source: "-1"})
    message = str(raised.value)
    assert "request_timeout_seconds" in message and where in message


def test_timeouts_and_the_watch_window_reach_the_informers_and_the_clients(
    tmp_path: Path,
) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text(
        "request-timeout-seconds: 7\nconnect-timeout-seconds: 2\nwatch-inactivity-seconds: 45\n"
    )
    settings = load_settings(config, {})
    informer = loop_settings(settings).informer
    assert informer.inactivity_timeout == 45.0
    assert informer.list_timeout == 7.0 and informer.connect_timeout == 2.0
    assert manager_settings(settings).timeouts == RequestTimeouts(connect=2.0, total=7.0)
