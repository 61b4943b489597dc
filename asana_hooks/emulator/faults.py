"""Fault injection: make the emulator misbehave on purpose, a chosen number of times.

Each method arms a fault that is used up by the next matching request, handshake or delivery
(`times` of them). Faults never fire on their own: a test arms one and then makes the call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

__all__ = ["ApiFault", "Faults", "HandshakePlan"]

_R = TypeVar("_R", bound="_Armed")


@dataclass(kw_only=True)
class _Armed:
    remaining: int


@dataclass(kw_only=True)
class _ApiRule(_Armed):
    method: str
    path_prefix: str
    kind: str  # "fail" | "delay" | "reset"
    status: int = 500
    retry_after: str | None = None
    message: str | None = None
    seconds: float = 0.0

    def applies(self, method: str, path: str) -> bool:
        return self.method in ("*", method.upper()) and path.startswith(self.path_prefix)


@dataclass(frozen=True, kw_only=True)
class ApiFault:
    """What to do to one API request: wait first, then drop the connection or fail it."""

    delay: float = 0.0
    reset: bool = False
    status: int | None = None
    retry_after: str | None = None
    message: str | None = None


@dataclass(frozen=True, kw_only=True)
class HandshakePlan:
    """How the next create's handshake goes wrong (all false: it goes right)."""

    drop: bool = False
    immediate: bool = False
    delay: float = 0.0
    wrong_secret: bool = False
    extra: bool = False


@dataclass(kw_only=True)
class _HandshakeRule(_Armed):
    kind: str  # "drop" | "delay" | "wrong" | "extra"
    immediate: bool = False
    seconds: float = 0.0


class Faults:
    """The faults armed on one emulator (`emulator.faults`)."""

    def __init__(self) -> None:
        self._api: list[_ApiRule] = []
        self._handshake: list[_HandshakeRule] = []
        self._duplicate = 0
        self._reorder = 0

    # -- REST API ------------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        path_prefix: str,
        status: int,
        *,
        retry_after: float | str | None = None,
        times: int = 1,
        message: str | None = None,
    ) -> None:
        """Answer the next matching API requests with an error in Asana's shape.

        Args:
            method: HTTP method, or ``"*"`` for any.
            path_prefix: Matched against the path after ``/api/1.0`` (e.g. ``"/webhooks"``).
            status: The status to answer with (e.g. 500, 503, 429).
            retry_after: A `Retry-After` header value to send (any text, to test parsing).
            times: How many requests to fail.
            message: The error message (a default that names the status otherwise).
        """
        self._api.append(
            _ApiRule(
                remaining=times,
                method=method.upper(),
                path_prefix=path_prefix,
                kind="fail",
                status=status,
                retry_after=None if retry_after is None else str(retry_after),
                message=message,
            )
        )

    def delay_next(self, method: str, path_prefix: str, seconds: float, *, times: int = 1) -> None:
        """Answer the next matching API requests only after `seconds` of real time."""
        self._api.append(
            _ApiRule(
                remaining=times, method=method.upper(), path_prefix=path_prefix, kind="delay", seconds=seconds
            )
        )

    def reset_next(self, method: str, path_prefix: str, *, times: int = 1) -> None:
        """Close the connection of the next matching API requests without any response."""
        self._api.append(
            _ApiRule(remaining=times, method=method.upper(), path_prefix=path_prefix, kind="reset")
        )

    def take_api(self, method: str, path: str) -> ApiFault:
        """Use up the faults armed for this request (at most one of each kind)."""
        delay: _ApiRule | None = None
        reset: _ApiRule | None = None
        fail: _ApiRule | None = None
        for rule in self._api:
            if rule.remaining <= 0 or not rule.applies(method, path):
                continue
            if rule.kind == "delay" and delay is None:
                delay = self._use(rule)
            elif rule.kind == "reset" and reset is None:
                reset = self._use(rule)
            elif rule.kind == "fail" and fail is None:
                fail = self._use(rule)
        self._api = [rule for rule in self._api if rule.remaining > 0]
        return ApiFault(
            delay=delay.seconds if delay else 0.0,
            reset=reset is not None,
            status=fail.status if fail else None,
            retry_after=fail.retry_after if fail else None,
            message=fail.message if fail else None,
        )

    # -- handshakes ----------------------------------------------------------------------------

    def drop_handshake(self, *, times: int = 1, immediate: bool = False) -> None:
        """Send no handshake; the create fails as timed out (at once when `immediate`)."""
        self._handshake.append(_HandshakeRule(remaining=times, kind="drop", immediate=immediate))

    def delay_handshake(self, seconds: float, *, times: int = 1) -> None:
        """Wait `seconds` of real time before sending the handshake (it counts toward the timeout)."""
        self._handshake.append(_HandshakeRule(remaining=times, kind="delay", seconds=seconds))

    def wrong_handshake(self, *, times: int = 1) -> None:
        """Send a handshake secret that differs from the `X-Hook-Secret` in the 201 (and signatures)."""
        self._handshake.append(_HandshakeRule(remaining=times, kind="wrong"))

    def extra_handshake(self, *, times: int = 1) -> None:
        """After the create succeeds, POST a second, unexpected handshake with a fresh secret."""
        self._handshake.append(_HandshakeRule(remaining=times, kind="extra"))

    def take_handshake(self) -> HandshakePlan:
        """Use up the handshake faults armed for the next create (at most one of each kind)."""
        taken: dict[str, _HandshakeRule] = {}
        for rule in self._handshake:
            if rule.remaining > 0 and rule.kind not in taken:
                taken[rule.kind] = self._use(rule)
        self._handshake = [rule for rule in self._handshake if rule.remaining > 0]
        drop = taken.get("drop")
        delay = taken.get("delay")
        return HandshakePlan(
            drop=drop is not None,
            immediate=bool(drop and drop.immediate),
            delay=delay.seconds if delay else 0.0,
            wrong_secret="wrong" in taken,
            extra="extra" in taken,
        )

    # -- deliveries ----------------------------------------------------------------------------

    def duplicate_deliveries(self, *, times: int = 1) -> None:
        """Send the next delivery attempts twice, with identical bytes and signature."""
        self._duplicate += times

    def reorder_deliveries(self, *, times: int = 1) -> None:
        """Hold the next batch back and send it right after the batch that follows it."""
        self._reorder += times

    def take_duplicate(self) -> bool:
        """Use up one duplicate-delivery fault, if armed."""
        if self._duplicate <= 0:
            return False
        self._duplicate -= 1
        return True

    def take_reorder(self) -> bool:
        """Use up one reorder fault, if armed."""
        if self._reorder <= 0:
            return False
        self._reorder -= 1
        return True

    def clear(self) -> None:
        """Disarm every fault."""
        self._api.clear()
        self._handshake.clear()
        self._duplicate = self._reorder = 0

    @staticmethod
    def _use(rule: _R) -> _R:
        rule.remaining -= 1
        return rule
