"""``create``, ``get``, ``list``, ``update`` and ``delete`` against the emulator, run in-process."""

from __future__ import annotations

import socket

import pytest

from asana_hooks.cli.exit_codes import ExitCode
from tests.cli.conftest import Cli, Lab


def test_create_registers_a_webhook_and_prints_its_details(lab: Lab, echo_target: str, cli: Cli) -> None:
    """`create` makes the webhook (the target echoes the handshake) and prints gid, target and filters."""
    project = lab.emulator.world.project_gid
    result = cli("create", "--resource", project, "--target", f"{echo_target}/hook", "--filter", "task:added")
    assert result.code == ExitCode.OK, result.err
    [gid] = lab.webhook_gids()
    assert "gid:" in result.out
    assert gid in result.out
    assert f"{echo_target}/hook" in result.out
    assert "task:added" in result.out


def test_create_json_is_the_webhook_record_without_the_handshake_secret(
    lab: Lab, echo_target: str, cli: Cli
) -> None:
    """`create --json` prints the record as JSON; the X-Hook-Secret of the 201 is not in it."""
    project = lab.emulator.world.project_gid
    result = cli("create", "--resource", project, "--target", f"{echo_target}/hook", "--json")
    assert result.code == ExitCode.OK, result.err
    [record] = result.json_lines()
    assert record["gid"] in lab.webhook_gids()
    assert record["resource"]["gid"] == project
    assert "X-Hook-Secret" not in result.out
    [handshake] = lab.call(lambda: [h.secret for h in lab.emulator.handshakes])
    assert handshake
    assert handshake not in result.out + result.err


def test_get_prints_the_webhook_as_text_or_json(lab: Lab, echo_target: str, cli: Cli) -> None:
    """`get GID` shows the record as key/value lines; with --json as one JSON object."""
    gid = lab.create_webhook(lab.emulator.world.project_gid, f"{echo_target}/a")
    text = cli("get", gid)
    assert text.code == ExitCode.OK, text.err
    assert text.out.splitlines()[0].split() == ["gid:", gid]
    assert "active:" in text.out
    assert "last_failure_content:" in text.out
    as_json = cli("get", gid, "--json")
    assert as_json.code == ExitCode.OK
    [record] = as_json.json_lines()
    assert record["gid"] == gid
    assert record["target"] == f"{echo_target}/a"


def test_list_follows_every_page(lab: Lab, echo_target: str, cli: Cli) -> None:
    """`list --limit 2` over five webhooks walks three pages and prints all five, in both formats."""
    world = lab.emulator.world
    gids = [lab.create_webhook(world.project_gid, f"{echo_target}/{n}") for n in range(5)]
    as_json = cli("list", "--workspace", world.workspace_gid, "--limit", "2", "--json")
    assert as_json.code == ExitCode.OK, as_json.err
    assert [record["gid"] for record in as_json.json_lines()] == gids
    table = cli("list", "--workspace", world.workspace_gid, "--limit", "2")
    assert table.code == ExitCode.OK
    header, *rows = table.out.splitlines()
    assert header.split() == ["GID", "ACTIVE", "RESOURCE", "TARGET"]
    assert [row.split()[0] for row in rows] == gids
    assert "5 webhooks" in table.err


def test_list_narrows_to_one_resource(lab: Lab, echo_target: str, cli: Cli) -> None:
    """`list --resource GID` prints only that resource's webhooks."""
    world = lab.emulator.world
    lab.create_webhook(world.project_gid, f"{echo_target}/p")
    on_task = lab.create_webhook(world.task_gids[0], f"{echo_target}/t")
    result = cli("list", "--workspace", world.workspace_gid, "--resource", world.task_gids[0], "--json")
    assert [record["gid"] for record in result.json_lines()] == [on_task]


def test_update_replaces_the_filters(lab: Lab, echo_target: str, cli: Cli) -> None:
    """`update --filter ...` replaces the old filters wholesale, as `get` then shows."""
    filters = [{"resource_type": "task", "action": "changed", "fields": ["name"]}]
    gid = lab.create_webhook(lab.emulator.world.project_gid, f"{echo_target}/u", filters)
    result = cli("update", gid, "--filter", "task:added", "--filter", "story/comment_added", "--json")
    assert result.code == ExitCode.OK, result.err
    [record] = result.json_lines()
    wanted = [("task", None, "added", None), ("story", "comment_added", None, None)]
    got = [
        (f["resource_type"], f.get("resource_subtype"), f.get("action"), f.get("fields"))
        for f in record["filters"]
    ]
    assert got == wanted
    [again] = cli("get", gid, "--json").json_lines()
    assert [f["resource_type"] for f in again["filters"]] == ["task", "story"]


def test_update_clear_filters_removes_them(lab: Lab, echo_target: str, cli: Cli) -> None:
    """`update --clear-filters` leaves the webhook with no filters (every event)."""
    gid = lab.create_webhook(lab.emulator.world.project_gid, f"{echo_target}/c", [{"resource_type": "task"}])
    result = cli("update", gid, "--clear-filters")
    assert result.code == ExitCode.OK, result.err
    assert "none (every event)" in result.out


def test_update_needs_filters_or_clear_filters(lab: Lab, cli: Cli) -> None:
    """`update GID` alone is a usage error: replacing filters with nothing must be asked for."""
    result = cli("update", "123")
    assert result.code == ExitCode.USAGE
    assert "--filter" in result.err


def test_delete_then_get_is_not_found(lab: Lab, echo_target: str, cli: Cli) -> None:
    """After `delete GID`, the webhook is gone and `get GID` exits with the not-found code."""
    gid = lab.create_webhook(lab.emulator.world.project_gid, f"{echo_target}/d")
    deleted = cli("delete", gid, "--json")
    assert deleted.code == ExitCode.OK, deleted.err
    assert deleted.json_lines() == [{"deleted": gid}]
    assert gid not in lab.webhook_gids()
    missing = cli("get", gid)
    assert missing.code == ExitCode.NOT_FOUND
    assert missing.out == ""
    assert missing.err.count("\n") == 1
    assert "404" in missing.err
    assert gid in missing.err
    assert "Traceback" not in missing.err


def test_a_refused_token_exits_unauthorized_without_printing_it(
    lab: Lab, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token the API refuses gives the 401 code and one line that never shows the token."""
    wrong = "wrong-token-0123456789abcdef"
    monkeypatch.setenv("ASANA_ACCESS_TOKEN", wrong)
    result = cli("list", "--workspace", lab.emulator.world.workspace_gid, secrets=(wrong, lab.emulator.token))
    assert result.code == ExitCode.UNAUTHORIZED
    assert result.err.startswith("asana-hooks: error: ")
    assert result.err.count("\n") == 1
    assert "401" in result.err
    assert "ASANA_ACCESS_TOKEN" in result.err


def test_rate_limited_after_the_retries_exits_rate_limited(lab: Lab, cli: Cli) -> None:
    """Five 429s in a row (Retry-After: 0) exhaust the client's retries: the rate-limited code."""
    lab.call(lab.emulator.faults.fail_next, "GET", "/webhooks", 429, retry_after=0, times=5)
    result = cli("get", "123")
    assert result.code == ExitCode.RATE_LIMITED
    assert "429" in result.err
    assert result.err.count("\n") == 1
    fault_left = cli("get", "123")
    assert fault_left.code == ExitCode.NOT_FOUND  # all five were used: the client tried five times


def test_a_long_retry_after_is_reported_at_once_with_the_wait(lab: Lab, cli: Cli) -> None:
    """A Retry-After beyond the client's patience is not slept through: the line names the wait."""
    lab.call(lab.emulator.faults.fail_next, "GET", "/webhooks", 429, retry_after=3600)
    result = cli("get", "123")
    assert result.code == ExitCode.RATE_LIMITED
    assert "retry after 3600 s" in result.err


def test_a_loopback_target_on_strict_asana_exits_forbidden_with_the_tunnel_hint(
    strict_lab: Lab, cli: Cli
) -> None:
    """Asana refuses a localhost target (InvalidTarget): the forbidden code and a line about tunnels."""
    project = strict_lab.emulator.world.project_gid
    result = cli("create", "--resource", project, "--target", "http://127.0.0.1:9/hook")
    assert result.code == ExitCode.FORBIDDEN
    assert result.err.count("\n") == 1
    assert "tunnel" in result.err
    assert "http://127.0.0.1:9/hook" in result.err


def test_a_workspace_webhook_without_filters_exits_bad_request_with_a_hint(
    lab: Lab, echo_target: str, cli: Cli
) -> None:
    """Larger-scope resources need filters: the bad-request code and an example filter."""
    workspace = lab.emulator.world.workspace_gid
    result = cli("create", "--resource", workspace, "--target", f"{echo_target}/w")
    assert result.code == ExitCode.BAD_REQUEST
    assert "--filter project:added" in result.err
    allowed = cli(
        "create", "--resource", workspace, "--target", f"{echo_target}/w", "--filter", "project:added"
    )
    assert allowed.code == ExitCode.OK, allowed.err


def test_an_unreachable_api_exits_with_the_transport_code(cli: Cli, lab: Lab) -> None:
    """Connection refused (nothing listens on the port) gives the transport code and one line."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # DELETE is not retried after a connection failure (it might have taken effect), so this is fast.
    result = cli("delete", "123", "--base-url", f"http://127.0.0.1:{port}/api/1.0")
    assert result.code == ExitCode.TRANSPORT
    assert result.err.count("\n") == 1
    assert "--base-url" in result.err


def test_a_limit_outside_1_to_100_is_a_usage_error(lab: Lab, cli: Cli) -> None:
    """`list --limit 0` is refused before anything is sent."""
    result = cli("list", "--workspace", lab.emulator.world.workspace_gid, "--limit", "0")
    assert result.code == ExitCode.USAGE
    assert "limit" in result.err


def test_a_duplicate_webhook_exits_forbidden(lab: Lab, echo_target: str, cli: Cli) -> None:
    """Creating the same resource and target twice: the second is refused with the forbidden code."""
    args = ("create", "--resource", lab.emulator.world.project_gid, "--target", f"{echo_target}/same")
    assert cli(*args).code == ExitCode.OK
    again = cli(*args)
    assert again.code == ExitCode.FORBIDDEN
    assert again.err.count("\n") == 1
    assert len(lab.webhook_gids()) == 1
