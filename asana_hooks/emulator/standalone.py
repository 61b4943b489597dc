"""The emulator as a process: ``python -m asana_hooks.emulator --port 8765``.

It prints its base URL and serves until SIGINT or SIGTERM. The token comes from ``--token``, from
``$ASANA_HOOKS_EMULATOR_TOKEN`` (which keeps it out of the process list), or is generated; a
generated token is printed once, on purpose, because it is the emulator's own credential for local
use and there is no other way to learn it. A token the caller supplied is never echoed.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence

import anyio

from asana_hooks.emulator.service import Emulator

__all__ = ["TOKEN_ENV", "main", "serve"]

TOKEN_ENV = "ASANA_HOOKS_EMULATOR_TOKEN"  # noqa: S105 - the variable's name, not a token


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m asana_hooks.emulator", description="Serve a local Asana for webhooks."
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default)")
    parser.add_argument("--token", default=None, help=f"bearer token to accept (or set ${TOKEN_ENV})")
    parser.add_argument(
        "--strict", action="store_true", help="refuse loopback/private/localhost targets like Asana"
    )
    parser.add_argument("--verbose", action="store_true", help="log requests and deliveries")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the emulator until interrupted; return the exit status.

    Args:
        argv: Command-line arguments (default: ``sys.argv[1:]``).
    """
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    token = args.token or os.environ.get(TOKEN_ENV) or None
    anyio.run(serve, args.host, args.port, token, args.strict)
    return 0


async def serve(host: str, port: int, token: str | None, strict: bool) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with Emulator(host=host, port=port, token=token, strict=strict) as emulator:
            print(f"Asana emulator: {emulator.base_url}", flush=True)
            if token is None:
                print(f"Token: {emulator.token}", flush=True)
            else:
                print("Token: (as supplied)", flush=True)
            async for _ in signals:
                break
    print("Asana emulator stopped.", file=sys.stderr, flush=True)
