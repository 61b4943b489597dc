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

from measure import run_throughput_comparison


def main() -> None:
    """Parse options, run the comparison, print the table."""
    run_throughput_comparison(
        "Benchmark 1: delivery throughput, receiver vs bare aiohttp",
        ["bare", "receiver"],
        "bare",
        doc=__doc__ or "",
        requests=2000,
        batch_requests=600,
    )


if __name__ == "__main__":
    main()
