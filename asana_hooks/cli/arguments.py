"""The command line's grammar: subcommands, options, help."""

from __future__ import annotations

import argparse

from asana_hooks import __version__
from asana_hooks.cli import webhook_commands as run
from asana_hooks.cli.demo import run_demo
from asana_hooks.cli.emulator_command import run_emulator
from asana_hooks.cli.exit_codes import describe_codes
from asana_hooks.cli.listen import run_listen
from asana_hooks.cli.serve import add_serve_parser

__all__ = ["build_parser"]


def _api_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--token-file",
        metavar="PATH",
        help="read the Asana token from this file (default: $ASANA_ACCESS_TOKEN; never from argv)",
    )
    parser.add_argument(
        "--base-url",
        metavar="URL",
        help="API root (default: $ASANA_BASE_URL or https://app.asana.com/api/1.0)",
    )


def _output_options(parser: argparse.ArgumentParser, *, fields: bool = True, lines: bool = False) -> None:
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per line instead of a table" if lines else "print JSON instead of text",
    )
    if fields:
        parser.add_argument("--opt-fields", metavar="A,B", help="extra fields to return, comma-separated")
    parser.add_argument("--opt-pretty", action="store_true", help="ask Asana for pretty JSON")


_FILTER_HELP = (
    "an Asana filter: TYPE[/SUBTYPE][:ACTION[:FIELD,...]] or a JSON object, e.g. "
    "task:changed:name,due_on (repeatable)"
)


def _add_demo(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser(
        "demo",
        allow_abbrev=False,
        help="the main job: subscribe to a project on the embedded emulator and watch verified events",
        description="Start the local Asana emulator and a receiver, subscribe to a project in one "
        "call, change tasks through the emulator's REST API, print each verified event, then a "
        "summary, and unsubscribe.",
    )
    demo.add_argument("--json", action="store_true", help="print JSON lines for machines")
    demo.set_defaults(run=run_demo)


def _add_emulator(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    emulator = commands.add_parser("emulator", allow_abbrev=False, help="serve the local Asana emulator")
    emulator.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    emulator.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    emulator.add_argument(
        "--token", help="the token the emulator accepts (default: a generated one, printed once)"
    )
    emulator.add_argument(
        "--strict", action="store_true", help="refuse loopback and private targets, like Asana"
    )
    emulator.set_defaults(run=run_emulator)


def _add_listen(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    listen = commands.add_parser(
        "listen",
        allow_abbrev=False,
        help="run a receiver, subscribe to a resource, stream verified events as JSON lines",
        description="Each verified event is printed to stdout as one JSON line "
        '{"webhook_gid": ..., "event": {...}} holding the event as Asana sent it; diagnostics go to '
        "stderr. SIGINT/SIGTERM delete the webhook unless --keep.",
    )
    listen.add_argument("--resource", required=True, metavar="GID", help="the resource to watch")
    listen.add_argument(
        "--public-url",
        metavar="URL",
        help="base URL Asana calls (needed for real Asana: a public HTTPS URL, e.g. a tunnel's)",
    )
    listen.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    listen.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    listen.add_argument(
        "--store",
        metavar="URL",
        help="secret store: sqlite:///path (default: $XDG_DATA_HOME/asana-hooks/secrets.sqlite3), "
        "memory:, or redis://host:port/db (shared by replicas)",
    )
    listen.add_argument("--filter", action="append", metavar="FILTER", help=_FILTER_HELP)
    listen.add_argument("--keep", action="store_true", help="keep the webhook when stopped")
    _api_options(listen)
    listen.set_defaults(run=run_listen)


def _add_webhook_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    create = commands.add_parser(
        "create",
        allow_abbrev=False,
        help="POST /webhooks (something must answer the handshake)",
        description="Create a webhook. Asana answers only after its handshake reached the target and "
        "was echoed; the secret goes to the target and is never printed. 'listen' does both in one go.",
    )
    create.add_argument("--resource", required=True, metavar="GID")
    create.add_argument("--target", required=True, metavar="URL")
    create.add_argument("--filter", action="append", metavar="FILTER", help=_FILTER_HELP)
    create.set_defaults(run=run.run_create)

    get = commands.add_parser("get", allow_abbrev=False, help="GET /webhooks/{gid}")
    get.add_argument("webhook_gid", metavar="GID")
    get.set_defaults(run=run.run_get)

    listing = commands.add_parser("list", allow_abbrev=False, help="GET /webhooks, every page")
    listing.add_argument("--workspace", required=True, metavar="GID")
    listing.add_argument("--resource", metavar="GID")
    listing.add_argument("--limit", type=int, default=100, help="page size, 1..100 (default 100)")
    listing.set_defaults(run=run.run_list)

    update = commands.add_parser(
        "update", allow_abbrev=False, help="PUT /webhooks/{gid}: replace the filters"
    )
    update.add_argument("webhook_gid", metavar="GID")
    replacement = update.add_mutually_exclusive_group(required=True)
    replacement.add_argument("--filter", action="append", metavar="FILTER", help=_FILTER_HELP)
    replacement.add_argument(
        "--clear-filters", action="store_true", help="remove every filter (deliver every event)"
    )
    update.set_defaults(run=run.run_update)

    delete = commands.add_parser("delete", allow_abbrev=False, help="DELETE /webhooks/{gid}")
    delete.add_argument("webhook_gid", metavar="GID")
    delete.set_defaults(run=run.run_delete)

    for sub in (create, get, update):
        _api_options(sub)
        _output_options(sub)
    _api_options(listing)
    _output_options(listing, lines=True)
    _api_options(delete)
    _output_options(delete, fields=False)


def build_parser() -> argparse.ArgumentParser:
    """The ``asana-hooks`` parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="asana-hooks",
        # No abbreviations: "--token X" must not silently mean "--token-file X".
        allow_abbrev=False,
        description="Asana webhooks from asyncio: one-call subscribe, verified deliveries, a local emulator.",
        epilog="exit codes:\n" + describe_codes(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"asana-hooks {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    _add_demo(commands)
    _add_emulator(commands)
    _add_listen(commands)
    add_serve_parser(commands)
    _add_webhook_commands(commands)
    return parser
