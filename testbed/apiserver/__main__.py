"""``python -m testbed.apiserver``: run the fake API server as its own process.

It prints its URL on the first line of stdout once it serves, then runs until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from testbed.apiserver.crds import CrdError, project_crds
from testbed.apiserver.errors import ApiError
from testbed.apiserver.server import FakeApiServer
from testbed.kubeconfig import write_kubeconfig


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m testbed.apiserver", description="A fake Kubernetes API server."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--crd", action="append", default=[], type=Path, help="CRD YAML file or directory"
    )
    parser.add_argument(
        "--project-crds",
        action="store_true",
        help="also serve KubeVirt's and CDI's CRDs, and manifests/crds when present",
    )
    parser.add_argument("--token", help="require this bearer token")
    parser.add_argument("--kubeconfig", type=Path, help="write a kubeconfig for the server here")
    parser.add_argument(
        "--history", type=int, default=10_000, help="watch events kept per resource"
    )
    parser.add_argument("--bookmark-interval", type=float, default=5.0, metavar="SECONDS")
    return parser


async def serve(args: argparse.Namespace) -> None:
    sources = [*args.crd, *(project_crds() if args.project_crds else [])]
    server = FakeApiServer(
        host=args.host,
        port=args.port,
        crds=sources,
        token=args.token,
        history_size=args.history,
        bookmark_interval=args.bookmark_interval,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        if args.kubeconfig is not None:
            write_kubeconfig(args.kubeconfig, server.url, token=args.token)
        print(server.url, flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        asyncio.run(serve(args))
    except (CrdError, ApiError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
