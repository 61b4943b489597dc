"""``demo`` and the entry points: the first things a new user runs."""

from __future__ import annotations

import subprocess

import pytest

from asana_hooks.cli import console_main
from asana_hooks.cli.exit_codes import ExitCode
from tests.cli.conftest import Cli
from tests.cli.processes import REPO, command, environment


def test_demo_shows_verified_events_and_a_summary(cli: Cli) -> None:
    """`demo` exits 0 after printing each verified event and a summary with every event verified."""
    result = cli("demo")
    assert result.code == ExitCode.OK, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith("local Asana emulator at http://127.0.0.1:")
    assert "subscribed to the project in one call" in lines[1]
    events = [line for line in lines if "verified event:" in line]
    assert any('task "Ship the demo": name changed' in line for line in events)
    assert any('comment "Done!" added to task' in line for line in events)
    summary = lines[-1]
    assert summary.startswith(f"summary: {len(events)} events delivered, {len(events)} verified and handled")
    assert "(0 refused)" in summary
    assert summary.endswith("deleted")


def test_demo_json_is_one_json_object_per_line_with_counts(cli: Cli) -> None:
    """`demo --json` prints JSON lines; the summary counts every delivered event as verified."""
    result = cli("demo", "--json")
    assert result.code == ExitCode.OK, result.err
    records = result.json_lines()
    assert [r["type"] for r in records[:2]] == ["emulator", "subscribed"]
    events = [r["event"] for r in records if r["type"] == "event"]
    summary = records[-1]
    assert summary["type"] == "summary"
    assert summary["events_delivered"] == summary["events_verified"] == len(events) >= 6
    assert summary["deliveries_refused"] == 0
    assert summary["unsubscribed"] is True
    assert {e["action"] for e in events} >= {"added", "changed", "removed"}


def test_python_m_asana_hooks_help_lists_the_exit_codes() -> None:
    """`python -m asana_hooks --help` runs the CLI and documents every exit code."""
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        command("--help"),
        env=environment(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == ExitCode.OK
    assert "exit codes:" in done.stdout
    for code in ExitCode:
        assert f"  {int(code):>3}  " in done.stdout
    for name in ("demo", "emulator", "listen", "create", "get", "list", "update", "delete"):
        assert f"    {name} " in done.stdout


def test_the_console_script_exits_with_the_status_of_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`asana-hooks` (console_main) raises SystemExit with main's status: 2 with no command."""
    monkeypatch.setattr("sys.argv", ["asana-hooks"])
    with pytest.raises(SystemExit) as exited:
        console_main()
    assert exited.value.code == ExitCode.USAGE
    assert "exit codes:" in capsys.readouterr().err
