"""``emulator``: serve the local Asana emulator until SIGINT/SIGTERM.

stdout gets two lines, the base URL and the token, so that scripts can read them; how to point the
other commands at it goes to stderr. A generated token is printed once, on purpose: it is the
emulator's own credential for local use and there is no other way to learn it. A token the caller
supplied (``--token`` or ``$ASANA_HOOKS_EMULATOR_TOKEN``) is never echoed.
"""

from __future__ import annotations

import argparse
import os
import signal

import anyio

from asana_hooks.cli.exit_codes import CommandFailed, ExitCode
from asana_hooks.cli.output import diagnostic
from asana_hooks.cli.settings import BASE_URL_ENV, TOKEN_ENV
from asana_hooks.cli.stop_signals import STOP_SIGNALS
from asana_hooks.emulator import Emulator
from asana_hooks.emulator.standalone import TOKEN_ENV as EMULATOR_TOKEN_ENV

__all__ = ["run_emulator"]


async def run_emulator(args: argparse.Namespace) -> int:
    """Serve the emulator on ``--host``/``--port`` until a signal; exit 0."""
    supplied = args.token or os.environ.get(EMULATOR_TOKEN_ENV) or None
    with anyio.open_signal_receiver(*STOP_SIGNALS) as signals:
        emulator = Emulator(host=args.host, port=args.port, token=supplied, strict=args.strict)
        try:
            await emulator.start()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise CommandFailed(
                f"cannot serve the emulator on {args.host}:{args.port}: {reason}; pick another --host/--port",
                ExitCode.BIND,
            ) from None
        try:
            print(f"Asana emulator: {emulator.base_url}", flush=True)
            print(f"Token: {emulator.token if supplied is None else '(as supplied)'}", flush=True)
            mode = (
                "strict: loopback and private targets are refused, as Asana does"
                if args.strict
                else "lenient: loopback targets are accepted (real Asana refuses them)"
            )
            diagnostic(
                f"{mode}; use it with: export {BASE_URL_ENV}={emulator.base_url} {TOKEN_ENV}=<the token>; "
                "stop with Ctrl-C"
            )
            async for number in signals:
                diagnostic(f"received {signal.Signals(number).name}: stopping the emulator")
                break
        finally:
            # Not shielded: the emulator's task group must be the innermost scope when it closes.
            await emulator.aclose()
    return ExitCode.OK
