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

from measure import run_throughput_comparison


def main() -> None:
    """Parse options, run the comparison, print the table."""
    run_throughput_comparison(
        "Benchmark 2: delivery throughput, receiver vs Flask (threaded werkzeug)",
        ["flask", "receiver"],
        "flask",
        doc=__doc__ or "",
        requests=1500,
        batch_requests=400,
    )


if __name__ == "__main__":
    main()
