"""Benchmark 1: signed deliveries through asana_hooks' Receiver vs a bare aiohttp handler.

Both servers run in their own subprocess (one event loop each); this process generates the load
with an aiohttp client, ``--concurrency`` deliveries in flight over keep-alive connections. Every
delivery is signed and its events are unique (no redelivery for dedupe to drop). The Receiver
verifies the HMAC, parses, dedupes and routes each event to a no-op handler through a Router; the
bare handler reads the body and answers 200. Rounds alternate between the two servers.

Target: the Receiver's throughput >= 0.85 of the bare handler's.

    python3 benchmarks/delivery_throughput.py [--requests 2000] [--batch-requests 600] [--rounds 5]
"""

from __future__ import annotations

import argparse

import anyio
from measure import ThroughputPlan, compare_throughput, machine


def main() -> None:
    """Parse options, run the comparison, print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000, help="1-event deliveries per round")
    parser.add_argument("--batch-requests", type=int, default=600, help="50-event deliveries per round")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per server and size")
    parser.add_argument("--warmup", type=int, default=300, help="untimed deliveries per server first")
    parser.add_argument("--concurrency", type=int, default=32, help="deliveries in flight")
    args = parser.parse_args()
    plan = ThroughputPlan(
        sizes=(1, 50),
        requests={1: args.requests, 50: args.batch_requests},
        rounds=args.rounds,
        warmup=args.warmup,
        concurrency=args.concurrency,
    )
    print(f"# Benchmark 1: delivery throughput, receiver vs bare aiohttp\n{machine()}")
    print(f"concurrency {plan.concurrency}, {plan.rounds} rounds, requests/round {dict(plan.requests)}\n")
    anyio.run(compare_throughput, ["bare", "receiver"], "bare", plan)


if __name__ == "__main__":
    main()
