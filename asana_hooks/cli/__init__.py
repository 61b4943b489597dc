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
from asana_hooks.errors import AsanaHooksError

__all__ = ["console_main", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help(sys.stderr)
        return ExitCode.USAGE
    try:
        code: int = anyio.run(args.run, args)
    except AsanaHooksError as error:
        print(f"asana-hooks: error: {_one_line(error)}", file=sys.stderr)
        return exit_code_for(error)
    except KeyboardInterrupt:
        print("asana-hooks: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    return code


def _one_line(error: AsanaHooksError) -> str:
    notes = getattr(error, "__notes__", [])
    text = " ".join([str(error), *notes])
    return " ".join(text.split())


def console_main() -> None:
    """Entry point of the ``asana-hooks`` console script."""
    raise SystemExit(main())
