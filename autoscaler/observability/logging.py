"""structlog configuration: one JSON object per line (or colored text for humans).

Records from the standard ``logging`` module (ours and libraries') go through the same
processors, so every line has an ISO timestamp, level and logger name, plus whatever
:func:`log_context` bound for the current task (tenant, pool, vm, node).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

import structlog
from structlog.typing import Processor

CONTEXT_KEYS = ("tenant", "pool", "vm", "node")


def configure_logging(
    level: str | int = "INFO",
    *,
    json: bool = True,
    stream: TextIO | None = None,
) -> None:
    """Route structlog and standard logging to ``stream`` (stderr) as JSON or console text."""
    numeric = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: Processor
    if json:
        shared.append(structlog.processors.format_exc_info)
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=_is_tty(stream))
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    # The API client logs every request body at DEBUG; keep it quiet unless asked for.
    logging.getLogger("kubernetes_asyncio").setLevel(max(numeric, logging.INFO))


def _is_tty(stream: TextIO | None) -> bool:
    target = stream or sys.stderr
    return bool(getattr(target, "isatty", lambda: False)())


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)


@contextmanager
def log_context(**values: str | None) -> Iterator[None]:
    """Bind tenant, pool, vm or node (those not None) to every log line in this context."""
    unknown = set(values) - set(CONTEXT_KEYS)
    if unknown:
        raise ValueError(f"unknown log context keys: {', '.join(sorted(unknown))}")
    bound = {k: v for k, v in values.items() if v is not None}
    with structlog.contextvars.bound_contextvars(**bound):
        yield
