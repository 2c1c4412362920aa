"""One module per CLI command; each exposes ``register(subparsers)``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from importlib import import_module

Registrar = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]

# Modules are imported lazily by name so that `--help` stays fast and a command's heavy
# dependencies (matplotlib, kubernetes_asyncio) load only when that command runs.
COMMAND_MODULES: tuple[str, ...] = (
    "render",
    "validate",
    "crds",
    "simulate",
    "bench",
    "run",
    "plan",
)


def registrars() -> list[Registrar]:
    return [import_module(f"autoscaler.commands.{name}").register for name in COMMAND_MODULES]
