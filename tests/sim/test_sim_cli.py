"""``kubevirt-autoscaler simulate`` in-process: JSON on stdout, a PNG, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autoscaler.cli import main

KEYS = {
    "scenario",
    "seed",
    "simulated_seconds",
    "wall_seconds",
    "pods_total",
    "pods_never_scheduled",
    "pending_seconds_p50",
    "pending_seconds_p99",
    "vms_launched",
    "vms_deleted",
    "vms_failed",
    "peak_vms",
    "vcpu_hours_provisioned",
    "vcpu_hours_requested",
    "memory_gib_hours_provisioned",
    "memory_gib_hours_requested",
    "pdb_violations",
    "leaked_vms",
    "unserved",
    "vcpu_hours_breakdown",
}


def test_json_and_plot_with_the_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plot = tmp_path / "run.png"
    code = main(
        [
            "simulate",
            "host-exhaustion",
            "--json",
            "--duration",
            "15m",
            "--seed",
            "3",
            "--compare",
            "fixed-shape",
            "--plot",
            str(plot),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0
    summary = json.loads(captured.out)  # exactly one JSON document, nothing else
    assert set(summary) >= KEYS
    assert set(summary["baseline"]) >= KEYS
    assert summary["scenario"] == "host-exhaustion"
    assert summary["seed"] == 3
    assert summary["simulated_seconds"] == 900
    assert summary["unserved"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_readable_summary_names_the_metrics(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "boot-failures", "--duration", "300"]) == 0
    out = capsys.readouterr().out
    assert "pods never scheduled" in out
    assert "PDB violations" in out
    assert "where the provisioned vCPU-hours went" in out
    assert "idle on Ready nodes" in out


def test_a_bad_scenario_file_is_an_error_not_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("duration: 1h\nhostz: []\n")
    assert main(["simulate", str(path), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "broken.yaml" in captured.err
    assert "hostz" in captured.err


def test_a_bad_duration_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--duration", "soon"]) == 2
    assert "--duration" in capsys.readouterr().err
