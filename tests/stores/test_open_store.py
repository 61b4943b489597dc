"""open_store: store URLs to stores, and errors that never echo credentials."""

from __future__ import annotations

from pathlib import Path

import pytest

from asana_hooks.errors import InvalidRequestError
from asana_hooks.stores import MemoryStore, SQLiteStore, open_inbox, open_store


def test_memory_url_gives_a_memory_store() -> None:
    """memory: is the in-process store."""
    assert isinstance(open_store("memory:"), MemoryStore)


def test_absolute_sqlite_url_gives_that_file(tmp_path: Path) -> None:
    """sqlite:///abs/path.db points at the absolute path."""
    store = open_store(f"sqlite://{tmp_path}/a.db")
    assert isinstance(store, SQLiteStore)
    assert store.path == tmp_path / "a.db"


def test_relative_sqlite_url_gives_a_relative_file() -> None:
    """sqlite:relative/path.db is relative to the working directory."""
    store = open_store("sqlite:var/hooks.db")
    assert isinstance(store, SQLiteStore)
    assert store.path == Path("var/hooks.db")


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("postgres://admin:hunter2@db.internal/hooks", "'postgres'"),
        ("admin:hunter2@db.internal", "unknown scheme"),
        ("no-scheme-here", "without a scheme"),
        ("sqlite://admin:hunter2@host/x.db", "no host"),
        ("sqlite:///x.db?password=hunter2", "no query"),
        ("sqlite://", "file path"),
        ("sqlite:", "file path"),
        ("sqlite:///tmp/dir/", "file path"),
        ("memory://hunter2", "just 'memory:'"),
    ],
)
def test_bad_urls_are_refused_without_echoing_credentials(url: str, words: str) -> None:
    """Unknown schemes and malformed URLs raise InvalidRequestError that never repeats secrets."""
    with pytest.raises(InvalidRequestError) as caught:
        open_store(url)
    assert words in str(caught.value)
    assert "hunter2" not in str(caught.value)
    assert "internal" not in str(caught.value)
    assert "admin" not in str(caught.value)


def test_an_unparseable_url_is_refused_without_echoing_it() -> None:
    """A URL urllib cannot split raises InvalidRequestError, not ValueError from urllib."""
    with pytest.raises(InvalidRequestError, match="could not be parsed") as caught:
        open_store("sqlite://[hunter2/x.db")
    assert "hunter2" not in str(caught.value)


def test_a_redis_url_without_the_redis_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without redis-py installed, redis:// is a one-line usage error naming the extra to install."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "redis" else real(name, *a)
    )
    with pytest.raises(InvalidRequestError, match=r"asana-hooks\[redis\]"):
        open_store("redis://127.0.0.1:6379/0")
    with pytest.raises(InvalidRequestError, match=r"asana-hooks\[redis\]"):
        open_inbox("redis://127.0.0.1:6379/0")
