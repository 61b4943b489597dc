"""Where the CLI takes its token, base URL, filters and store from, and how it refuses bad ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from asana_hooks.cli.exit_codes import ExitCode
from asana_hooks.cli.settings import default_store_url, parse_filter
from asana_hooks.errors import InvalidRequestError
from asana_hooks.models import WebhookFilter
from tests.cli.conftest import Cli, Lab


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("task", WebhookFilter(resource_type="task")),
        ("task:added", WebhookFilter(resource_type="task", action="added")),
        (
            "task:changed:name,due_on",
            WebhookFilter(resource_type="task", action="changed", fields=["name", "due_on"]),
        ),
        ("task::name", WebhookFilter(resource_type="task", action="changed", fields=["name"])),
        (
            "task/milestone:added",
            WebhookFilter(resource_type="task", resource_subtype="milestone", action="added"),
        ),
        (
            ' {"resource_type": "project", "action": "changed"} ',
            WebhookFilter(resource_type="project", action="changed"),
        ),
    ],
)
def test_filters_parse_from_the_compact_syntax_and_json(text: str, expected: WebhookFilter) -> None:
    """TYPE[/SUBTYPE][:ACTION[:FIELDS]] and JSON objects give the same filters; fields imply 'changed'."""
    assert parse_filter(text).to_request() == expected.to_request()


def test_a_json_filter_keeps_keys_it_does_not_know() -> None:
    """Unknown keys in a JSON filter are sent as given (Asana may add filter keys)."""
    parsed = parse_filter('{"resource_type": "task", "tag": "urgent"}')
    assert parsed.to_request() == {"resource_type": "task", "tag": "urgent"}


@pytest.mark.parametrize("text", ['{"foo": "bar"}', "{}", '{"resource_type": null}'])
def test_a_json_filter_without_any_known_key_is_refused(text: str) -> None:
    """A JSON filter that sets none of Asana's filter keys is a typo, not an empty filter."""
    with pytest.raises(InvalidRequestError, match="set at least one of"):
        parse_filter(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("task:bogus", "unknown action 'bogus'"),
        ("task/", "subtype after '/' is missing"),
        ("task:changed:name,,due_on", "between commas is empty"),
        ("x" * 101, "resource type is"),
    ],
)
def test_compact_filter_typos_are_refused(text: str, reason: str) -> None:
    """Unknown actions, dangling separators and absurdly long names are refused with the reason."""
    with pytest.raises(InvalidRequestError, match=reason):
        parse_filter(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "resource type is missing"),
        (":added", "resource type is missing"),
        ("task:added:name", "only valid with the action 'changed'"),
        ("task:changed:name:due_on", "use TYPE"),
        ("Task", "snake_case"),
        ("task:changed:name,due on", "snake_case"),
        ("{not json", "not valid JSON"),
        ("[1]", "snake_case"),
        ('{"action": 3}', "wrong type for action"),
        ('{"fields": "name"}', "wrong type for fields"),
    ],
)
def test_malformed_filters_are_refused_with_the_reason(text: str, reason: str) -> None:
    """Each malformed --filter is an InvalidRequestError whose message says what is wrong."""
    with pytest.raises(InvalidRequestError, match=reason.replace("(", r"\(")):
        parse_filter(text)


def test_a_bad_filter_exits_with_the_usage_code_before_any_request(lab: Lab, cli: Cli) -> None:
    """A bad --filter on the command line is one line and the usage code; nothing reaches Asana."""
    result = cli(
        "create", "--resource", lab.emulator.world.project_gid, "--target", "http://x.test/", "--filter", "{"
    )
    assert result.code == ExitCode.USAGE
    assert result.err == "asana-hooks: error: --filter '{' is not valid JSON\n"
    assert lab.call(lambda: len(lab.emulator.handshakes)) == 0


def test_a_missing_token_is_a_usage_error_naming_the_variable(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without ASANA_ACCESS_TOKEN or --token-file: the usage code, and the line names both."""
    monkeypatch.delenv("ASANA_ACCESS_TOKEN", raising=False)
    result = cli("get", "123", "--base-url", "http://127.0.0.1:9/api/1.0")
    assert result.code == ExitCode.USAGE
    assert "ASANA_ACCESS_TOKEN" in result.err
    assert "--token-file" in result.err


def test_there_is_no_token_option(cli: Cli) -> None:
    """A token cannot be passed on the command line, where shell history and `ps` would keep it."""
    result = cli("get", "123", "--token", "abc")
    assert result.code == ExitCode.USAGE
    assert "unrecognized arguments: --token" in result.err


def test_a_token_file_is_read_instead_of_the_environment(
    lab: Lab, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--token-file wins over the environment; surrounding whitespace and the newline are trimmed."""
    token_file = tmp_path / "token"
    token_file.write_text(f"  {lab.emulator.token}\n", encoding="utf-8")
    monkeypatch.setenv("ASANA_ACCESS_TOKEN", "not-the-token")
    result = cli(
        "list",
        "--workspace",
        lab.emulator.world.workspace_gid,
        "--token-file",
        str(token_file),
        secrets=(lab.emulator.token,),
    )
    assert result.code == ExitCode.OK, result.err


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "cannot read the token file"),
        ("", "is empty"),
        ("\n  \n", "is empty"),
        ("two words", "token alone"),
    ],
)
def test_an_unusable_token_file_is_a_usage_error(
    lab: Lab, cli: Cli, tmp_path: Path, content: str | None, reason: str
) -> None:
    """A missing, empty or multi-word token file: the usage code and the file's name, not its content."""
    token_file = tmp_path / "token"
    if content is not None:
        token_file.write_text(content, encoding="utf-8")
    result = cli("get", "123", "--token-file", str(token_file), secrets=("two words",))
    assert result.code == ExitCode.USAGE
    assert reason in result.err
    assert str(token_file) in result.err


@pytest.mark.parametrize(
    "url", ["ftp://example.test/api/1.0", "http:///api/1.0", "example.test", "http://u:p@example.test/"]
)
def test_a_bad_base_url_is_a_usage_error(lab: Lab, cli: Cli, url: str) -> None:
    """--base-url must be http(s)://HOST...; anything else is refused before the token is read."""
    result = cli("get", "123", "--base-url", url, secrets=("u:p",))
    assert result.code == ExitCode.USAGE
    assert result.err.startswith("asana-hooks: error: bad base URL")


def test_the_base_url_comes_from_the_environment(lab: Lab, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """ASANA_BASE_URL picks the API root; --base-url overrides it."""
    monkeypatch.setenv("ASANA_BASE_URL", "http://127.0.0.1:9/nowhere")
    override = cli(
        "list", "--workspace", lab.emulator.world.workspace_gid, "--base-url", lab.emulator.base_url
    )
    assert override.code == ExitCode.OK, override.err
    monkeypatch.setenv("ASANA_BASE_URL", "gopher://x")
    assert cli("get", "1").code == ExitCode.USAGE


def test_the_default_store_is_sqlite_under_the_data_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The default store URL is an absolute sqlite:/// path under $XDG_DATA_HOME/asana-hooks."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_store_url() == f"sqlite://{tmp_path.as_posix()}/asana-hooks/secrets.sqlite3"


def test_bad_arguments_return_the_usage_code_instead_of_exiting(cli: Cli) -> None:
    """argparse's errors come back as the usage code; main() never raises SystemExit."""
    missing = cli("list")
    assert missing.code == ExitCode.USAGE
    assert "--workspace" in missing.err
    assert cli("frobnicate").code == ExitCode.USAGE
    assert cli().code == ExitCode.USAGE


def test_help_lists_the_exit_codes(cli: Cli) -> None:
    """--help exits 0 and ends with the table of exit codes."""
    result = cli("--help")
    assert result.code == ExitCode.OK
    for code in ExitCode:
        assert f"  {int(code):>3}  " in result.out


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    """--version prints the package's version and exits 0."""
    import asana_hooks
    from asana_hooks.cli import main

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"asana-hooks {asana_hooks.__version__}"
