"""``emulator``: serve the local Asana emulator until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import os

from asana_hooks.cli.exit_codes import ExitCode
from asana_hooks.emulator.standalone import TOKEN_ENV, serve

__all__ = ["run_emulator"]


async def run_emulator(args: argparse.Namespace) -> int:
    """Serve the emulator; a generated token is printed once, a supplied one never."""
    token = args.token or os.environ.get(TOKEN_ENV) or None
    await serve(args.host, args.port, token, args.strict)
    return ExitCode.OK
