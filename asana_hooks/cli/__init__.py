"""The ``asana-hooks`` command (also ``python -m asana_hooks``).

Expected failures print one line on stderr and exit with a distinct code (see ``--help``); no
tracebacks. Tokens come from ``ASANA_ACCESS_TOKEN`` or ``--token-file``, never from the command line,
and are never printed.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import anyio

from asana_hooks.cli.arguments import build_parser
from asana_hooks.cli.exit_codes import ExitCode, exit_code_for
from asana_hooks.cli.output import error_line, silence_stdout
from asana_hooks.errors import AsanaHooksError

__all__ = ["console_main", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit status (never raises ``SystemExit``).

    Args:
        argv: The arguments after the program name (default: ``sys.argv[1:]``).
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        # argparse exits on --help (0) and on bad arguments (2, after printing the usage line).
        return exit_.code if isinstance(exit_.code, int) else ExitCode.USAGE
    if not hasattr(args, "run"):
        parser.print_help(sys.stderr)
        return ExitCode.USAGE
    try:
        code: int = anyio.run(args.run, args)
    except KeyboardInterrupt:
        print("asana-hooks: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``asana-hooks list | head -1``): not an error worth a traceback.
        silence_stdout()
        return ExitCode.OK
    except BaseException as exc:
        # Task groups wrap what their tasks raise; an expected error alone in a group is still expected.
        expected = _expected(exc)
        if expected is None:
            raise
        print(error_line(expected), file=sys.stderr)
        return exit_code_for(expected)
    return code


def _expected(exc: BaseException) -> AsanaHooksError | None:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc if isinstance(exc, AsanaHooksError) else None


def console_main() -> None:
    """Entry point of the ``asana-hooks`` console script."""
    raise SystemExit(main())
