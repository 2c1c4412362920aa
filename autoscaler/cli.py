"""Command line: ``kubevirt-autoscaler <command>``.

Each command lives in its own module and registers itself here with a parser builder and a
handler, so this file only dispatches.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from autoscaler import __version__
from autoscaler.commands import registrars

Handler = Callable[[argparse.Namespace], int]


def _version(_: argparse.Namespace) -> int:
    print(f"kubevirt-autoscaler {__version__}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kubevirt-autoscaler",
        description="Elastic worker pools of KubeVirt VMs for tenant Kubernetes clusters.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("version", help="print the version").set_defaults(handler=_version)
    for register in registrars():
        register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        sys.stderr.close()
        return 0
