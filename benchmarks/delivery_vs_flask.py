"""Benchmark 2: the same signed deliveries through asana_hooks' Receiver vs the Flask stack.

The Flask app is the stack of Asana's own Python example: Flask on werkzeug's threaded server
(``make_server(..., threaded=True)``, a thread per connection, HTTP/1.1 keep-alive), an HMAC check
of the raw body with ``hmac.compare_digest``, ``json.loads`` and a loop over the events (request
logging off, as on the aiohttp side). Both servers run in their own subprocess; this process
generates the load with an aiohttp client, ``--concurrency`` deliveries in flight. The Receiver
does more per delivery (pydantic models, dedupe, routing to a no-op handler). Rounds alternate.

    python3 benchmarks/delivery_vs_flask.py [--requests 1500] [--batch-requests 400] [--rounds 5]
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
    parser.add_argument("--requests", type=int, default=1500, help="1-event deliveries per round")
    parser.add_argument("--batch-requests", type=int, default=400, help="50-event deliveries per round")
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
    print(f"# Benchmark 2: delivery throughput, receiver vs Flask (threaded werkzeug)\n{machine()}")
    print(f"concurrency {plan.concurrency}, {plan.rounds} rounds, requests/round {dict(plan.requests)}\n")
    anyio.run(compare_throughput, ["flask", "receiver"], "flask", plan)


if __name__ == "__main__":
    main()
