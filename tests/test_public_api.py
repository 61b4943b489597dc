"""The curated public API: what `import asana_hooks` offers, kept sorted and complete."""

from __future__ import annotations

import asana_hooks


def test_all_is_sorted_and_unique() -> None:
    """`__all__` is sorted (case-sensitively, as ruff sorts it) and has no repeats."""
    names = list(asana_hooks.__all__)
    assert names == sorted(set(names))


def test_every_exported_name_exists() -> None:
    """Every name in `__all__` is an attribute of the package."""
    missing = [name for name in asana_hooks.__all__ if not hasattr(asana_hooks, name)]
    assert missing == []


def test_every_public_error_is_exported() -> None:
    """Each exception class of `asana_hooks.errors` is reachable from the package root."""
    from asana_hooks import errors

    assert set(errors.__all__) <= set(asana_hooks.__all__)


def test_every_error_descends_from_the_root() -> None:
    """Catching `AsanaHooksError` catches every error the library raises."""
    from asana_hooks import errors

    for name in errors.__all__:
        assert issubclass(getattr(errors, name), asana_hooks.AsanaHooksError), name
