"""Benchmark 5: a 1,000-event delivery, parse-and-route vs ``json.loads`` of the same bytes.

Subject: ``deliveries.parse_delivery(body)`` then ``Router.dispatch_all(delivery.events)`` to one
no-op handler (what the receiver does after verifying; dedupe is measured separately as the
``event_fingerprint`` row). Baseline: ``json.loads(body)``. Everything runs in this process, on
one event loop, subject and baseline alternating call by call after a warm-up.

    python3 benchmarks/batch_parsing.py [--events 1000] [--repeats 200]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Awaitable, Callable

import anyio
from measure import BatchFactory, machine, median, new_secret, p99, print_table

from asana_hooks import Event, Router
from asana_hooks.deliveries import event_fingerprint, parse_delivery


async def _noop(event: Event) -> None:
    return None


async def run(events: int, repeats: int, warmup: int) -> None:
    """Time each step ``repeats`` times, interleaved, and print the table."""
    factory = BatchFactory(events, new_secret())
    body = factory.body()
    router = Router()
    router.add(_noop)
    parsed = parse_delivery(body)
    assert len(parsed.events) == events
    assert not parsed.unparsed

    async def baseline() -> None:
        json.loads(body)

    async def parse_and_route() -> None:
        delivery = parse_delivery(body)
        await router.dispatch_all(delivery.events)

    async def parse_only() -> None:
        parse_delivery(body)

    async def route_only() -> None:
        await router.dispatch_all(parsed.events)

    async def fingerprints() -> None:
        for event in parsed.events:
            event_fingerprint(event.raw)

    steps: dict[str, Callable[[], Awaitable[None]]] = {
        "json.loads (baseline)": baseline,
        "parse_delivery + dispatch_all": parse_and_route,
        "  of which parse_delivery": parse_only,
        "  of which dispatch_all": route_only,
        "event_fingerprint × events (receiver dedupe)": fingerprints,
    }
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for index in range(warmup + repeats):
        for name, step in steps.items():
            started = time.perf_counter()
            await step()
            elapsed = time.perf_counter() - started
            if index >= warmup:
                samples[name].append(elapsed)
    base = median(samples["json.loads (baseline)"])
    rows = [
        [
            name,
            f"{median(values) * 1e3:.3f}",
            f"{p99(values) * 1e3:.3f}",
            f"{median(values) / events * 1e6:.2f}",
            f"{median(values) / base:.1f}",
        ]
        for name, values in samples.items()
    ]
    print_table(["step", "median ms", "p99 ms", "µs/event", "× json.loads"], rows)


def main() -> None:
    """Parse options and run."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1000, help="events in the batch")
    parser.add_argument("--repeats", type=int, default=200, help="timed calls per step")
    parser.add_argument("--warmup", type=int, default=20, help="untimed calls per step first")
    args = parser.parse_args()
    body_size = len(BatchFactory(args.events, new_secret()).body())
    print(f"# Benchmark 5: {args.events}-event batch ({body_size:,} bytes), parse+route vs json.loads")
    print(f"{machine()}\n{args.repeats} timed calls per step, interleaved\n")
    anyio.run(run, args.events, args.repeats, args.warmup)


if __name__ == "__main__":
    main()
