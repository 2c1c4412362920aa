from __future__ import annotations

from pathlib import Path

import pytest

from autoscaler.api.crdgen import render_crds
from autoscaler.cli import main


def test_print_shows_both_crds(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crds"]) == 0
    out = capsys.readouterr().out
    assert "name: tenantclusters.autoscaling.kvpool.io" in out
    assert "name: nodepools.autoscaling.kvpool.io" in out


def test_write_then_check_passes(tmp_path: Path) -> None:
    target = tmp_path / "crds"
    assert main(["crds", "--write", str(target)]) == 0
    assert sorted(p.name for p in target.iterdir()) == sorted(render_crds())
    assert main(["crds", "--check", str(target)]) == 0


def test_check_names_stale_and_missing_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["crds", "--write", str(tmp_path)]) == 0
    tenant_file, nodepool_file = sorted(render_crds(), reverse=True)
    (tmp_path / tenant_file).write_text("edited by hand\n")
    (tmp_path / nodepool_file).unlink()
    capsys.readouterr()
    assert main(["crds", "--check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert tenant_file in err
    assert nodepool_file in err


def test_write_into_an_unwritable_place_fails_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["crds", "--write", str(blocker / "sub")]) == 1
    assert "cannot write CRDs" in capsys.readouterr().err


def test_write_and_check_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["crds", "--write", "a", "--check", "b"])
