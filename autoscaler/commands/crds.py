"""``kubevirt-autoscaler crds``: print, write or check the generated CRD manifests."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autoscaler.api.crdgen import render_crds


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "crds",
        help="print the CustomResourceDefinitions, or write or check them in a directory",
        description="Render the TenantCluster and NodePool CRDs from the API models.",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--write", metavar="DIR", type=Path, help="write the files into DIR")
    where.add_argument(
        "--check",
        metavar="DIR",
        type=Path,
        help="exit 1 if the files in DIR differ from what would be generated",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    files = render_crds()
    if args.write is not None:
        return write(files, args.write)
    if args.check is not None:
        return check(files, args.check)
    print("---\n".join(files[name] for name in sorted(files)), end="")
    return 0


def write(files: dict[str, str], directory: Path) -> int:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name, text in sorted(files.items()):
            (directory / name).write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"error: cannot write CRDs to {directory}: {exc}", file=sys.stderr)
        return 1
    for name in sorted(files):
        print(f"wrote {directory / name}")
    return 0


def stale_files(files: dict[str, str], directory: Path) -> list[str]:
    """Names of the generated files that are missing from ``directory`` or differ there."""
    stale = []
    for name, text in sorted(files.items()):
        path = directory / name
        try:
            current = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            current = None
        if current != text:
            stale.append(name)
    return stale


def check(files: dict[str, str], directory: Path) -> int:
    stale = stale_files(files, directory)
    for name in stale:
        print(
            f"{directory / name} is missing or out of date; "
            f"run: kubevirt-autoscaler crds --write {directory}",
            file=sys.stderr,
        )
    return 1 if stale else 0
