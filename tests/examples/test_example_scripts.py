"""Each example starts as a script: it parses its settings and refuses to run without a token."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(path.name for path in (ROOT / "examples").glob("*.py") if path.name != "__init__.py")


def run_script(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run an example script with no Asana settings in its environment."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ASANA_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(ROOT / "examples" / name), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_there_are_four_example_scripts() -> None:
    """The examples folder holds the four documented scripts (a new one needs a test here too)."""
    assert SCRIPTS == ["await_events.py", "bot_one_call.py", "derived_filters.py", "mount_in_aiohttp_app.py"]


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_without_a_token_exits_with_a_usage_error_naming_the_variable(name: str) -> None:
    """Started with a resource but no ASANA_ACCESS_TOKEN, the script says what to set and exits 2."""
    result = run_script(name, "1200000000000002")
    assert result.returncode == 2, result.stderr
    assert "usage:" in result.stderr
    assert "set ASANA_ACCESS_TOKEN" in result.stderr
    assert result.stdout == ""


def test_derived_filters_script_prints_the_filters_without_asana() -> None:
    """--print-filters needs no token and prints the filters it would send, one JSON line each."""
    result = run_script("derived_filters.py", "--print-filters")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        '{"action": "added", "resource_subtype": "comment_added", "resource_type": "story"}',
        '{"action": "added", "resource_type": "task"}',
        '{"action": "changed", "fields": ["due_on", "name", "notes"], "resource_type": "task"}',
    ]
