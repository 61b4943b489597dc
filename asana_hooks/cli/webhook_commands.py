"""``create``, ``get``, ``list``, ``update`` and ``delete``: the Webhooks API from the shell."""

from __future__ import annotations

import argparse

from asana_hooks.cli.exit_codes import ExitCode
from asana_hooks.cli.output import diagnostic, print_json, webhook_details, webhook_json, webhook_table
from asana_hooks.cli.settings import client_config, parse_filter, read_token
from asana_hooks.client import AsanaClient
from asana_hooks.models import Webhook

__all__ = ["run_create", "run_delete", "run_get", "run_list", "run_update"]


async def _client(args: argparse.Namespace) -> AsanaClient:
    # Settings first: a bad base URL is reported before the token is looked for.
    config = client_config(args.base_url)
    return AsanaClient(await read_token(args.token_file), config=config)


def _fields(args: argparse.Namespace) -> list[str] | None:
    return [name.strip() for name in (args.opt_fields or "").split(",") if name.strip()] or None


def _show(webhook: Webhook, as_json: bool) -> None:
    if as_json:
        print_json(webhook_json(webhook))
    else:
        print(webhook_details(webhook), flush=True)


async def run_create(args: argparse.Namespace) -> int:
    """POST /webhooks. Something must answer Asana's handshake at the target (see ``listen``)."""
    filters = [parse_filter(text) for text in args.filter or []]
    async with await _client(args) as client:
        created = await client.create_webhook(
            args.resource,
            args.target,
            filters or None,
            opt_fields=_fields(args),
            opt_pretty=args.opt_pretty,
        )
    _show(created.webhook, args.json)
    return ExitCode.OK


async def run_get(args: argparse.Namespace) -> int:
    """GET /webhooks/{gid}."""
    async with await _client(args) as client:
        webhook = await client.get_webhook(
            args.webhook_gid, opt_fields=_fields(args), opt_pretty=args.opt_pretty
        )
    _show(webhook, args.json)
    return ExitCode.OK


async def run_list(args: argparse.Namespace) -> int:
    """GET /webhooks, every page."""
    async with await _client(args) as client:
        webhooks = [
            hook
            async for hook in client.list_webhooks(
                args.workspace,
                resource=args.resource,
                limit=args.limit,
                opt_fields=_fields(args),
                opt_pretty=args.opt_pretty,
            )
        ]
    if args.json:
        for hook in webhooks:
            print_json(webhook_json(hook))
    else:
        print(webhook_table(webhooks), flush=True)
        diagnostic(f"{len(webhooks)} webhook{'' if len(webhooks) == 1 else 's'}")
    return ExitCode.OK


async def run_update(args: argparse.Namespace) -> int:
    """PUT /webhooks/{gid}: the given filters replace the old ones."""
    filters = [] if args.clear_filters else [parse_filter(text) for text in args.filter]
    async with await _client(args) as client:
        webhook = await client.update_webhook(
            args.webhook_gid, filters, opt_fields=_fields(args), opt_pretty=args.opt_pretty
        )
    _show(webhook, args.json)
    return ExitCode.OK


async def run_delete(args: argparse.Namespace) -> int:
    """DELETE /webhooks/{gid}."""
    async with await _client(args) as client:
        await client.delete_webhook(args.webhook_gid, opt_pretty=args.opt_pretty)
    if args.json:
        print_json({"deleted": args.webhook_gid})
    else:
        print(f"deleted webhook {args.webhook_gid}", flush=True)
    return ExitCode.OK
