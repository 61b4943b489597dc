"""Which webhook targets the emulator refuses (pure function, no server)."""

from __future__ import annotations

import pytest

from asana_hooks.emulator.replies import ApiError
from asana_hooks.emulator.targets import check_target


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8080/h",
        "https://LOCALHOST./h",
        "https://app.localhost/h",
        "http://127.0.0.1/h",
        "http://10.1.2.3/h",
        "http://192.168.0.5/h",
        "http://169.254.1.1/h",
        "http://[::1]/h",
        "http://0.0.0.0/h",
        "http://224.0.0.1/h",
    ],
)
def test_strict_mode_refuses_local_and_private_hosts(url: str) -> None:
    """Loopback, private, link-local, unspecified and multicast hosts get 403 naming the URL."""
    with pytest.raises(ApiError) as caught:
        check_target(url, strict=True)
    assert caught.value.status == 403
    assert caught.value.message == f"Invalid webhook target: {url}"


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/h", "http://localhost/h", "https://hooks.example.test/h?x=1"]
)
def test_permissive_mode_allows_loopback(url: str) -> None:
    """The default lets local receivers through."""
    check_target(url, strict=False)


def test_strict_mode_allows_public_names_and_addresses() -> None:
    """Public hosts pass strict mode (no DNS lookup is made)."""
    check_target("https://hooks.example.test/asana/h/t1", strict=True)
    check_target("https://8.8.8.8/h", strict=True)


@pytest.mark.parametrize(
    "url", ["ftp://example.com/", "example.com/h", "http://", "http://h:70000/", "http://[::1/"]
)
@pytest.mark.parametrize("strict", [True, False])
def test_non_http_or_unparsable_targets_are_always_refused(url: str, strict: bool) -> None:
    """Other schemes, missing hosts, bad ports and broken IPv6 literals get 403."""
    with pytest.raises(ApiError) as caught:
        check_target(url, strict=strict)
    assert caught.value.status == 403
