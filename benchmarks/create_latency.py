"""Benchmark 3: create-with-handshake latency against the emulator, three ways.

Each create is three loopback HTTP exchanges: ``POST /webhooks`` to the emulator, which POSTs the
handshake (``X-Hook-Secret``) to the target and, once answered, the first heartbeat (a signed
``{"events": []}``) before it returns the 201. The emulator runs in its own subprocess (Asana is
remote); everything else runs in this process:

* ``asana_hooks``: ``Hub.subscribe(project, router)`` with an in-memory store; its embedded
  Receiver answers the handshake and verifies the heartbeat on the same event loop.
* ``floor``: the same exchanges with raw aiohttp: a ``ClientSession.post`` of the same JSON while
  a bare aiohttp handler echoes the handshake and answers the heartbeat 200 unchecked.
* ``asana SDK + Flask``: ``asana.WebhooksApi(api_client).create_webhook({"data": ...}, {})``
  (synchronous, run in a worker thread) while a threaded werkzeug/Flask app (Asana's example)
  stores the secret, echoes it, and HMAC-checks the heartbeat.

Every create uses a fresh target on the seeded project with the same filter; the webhook is
deleted after each timed create (untimed), so the emulator's state stays the same. Subjects take
turns create by create, after a warm-up. Target: asana_hooks <= 1.3x the floor.

    python3 benchmarks/create_latency.py [--creates 300] [--warmup 10]
"""

from __future__ import annotations

import argparse
import json
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import anyio
import asana
from measure import TOKEN_ENV, ServerProcess, machine, median, p99, print_table
from servers import echo_app, flask_app, serve_flask, serve_site

from asana_hooks import ClientConfig, Event, Hub, MemoryStore, Router


async def _noop(event: Event) -> None:
    return None


async def run(creates: int, warmup: int) -> None:
    """Time ``creates`` creates per subject, interleaved, and print the table."""
    token = secrets.token_urlsafe(32)
    # The quota is lifted: this measures latency, and the run makes ~6 requests per create round.
    async with ServerProcess("emulator", "--rate-limit", "1000000", env={TOKEN_ENV: token}) as emulator:
        api = emulator.base_url
        auth = {"Authorization": f"Bearer {token}"}
        router = Router()
        router.add(_noop, "task", action="changed", field="name")
        filters = [item.to_request() for item in router.filters() or []]
        async with aiohttp.ClientSession(headers=auth) as session:
            async with session.get(f"{api}/projects") as response:
                project = (await response.json())["data"][0]["gid"]
            floor_runner, floor_base = await serve_site(echo_app())
            flask_server = serve_flask(flask_app({}))
            flask_thread = threading.Thread(target=flask_server.serve_forever, daemon=True)
            flask_thread.start()
            flask_base = f"http://127.0.0.1:{flask_server.server_port}/receive-webhook"
            configuration = asana.Configuration()
            configuration.access_token = token
            configuration.host = api
            sdk = asana.WebhooksApi(asana.ApiClient(configuration))
            try:
                async with (
                    MemoryStore() as store,
                    Hub(store=store, token=token, client_config=ClientConfig(base_url=api)) as hub,
                ):
                    await hub.start()

                    async def ours(index: int) -> float:
                        started = time.perf_counter()
                        subscription = await hub.subscribe(project, router)
                        elapsed = time.perf_counter() - started
                        await subscription.unsubscribe()
                        return elapsed

                    async def floor(index: int) -> float:
                        target = f"{floor_base}/f/{index}"
                        data = {"data": {"resource": project, "target": target, "filters": filters}}
                        started = time.perf_counter()
                        async with session.post(f"{api}/webhooks", json=data) as response:
                            created: dict[str, Any] = json.loads(await response.read())
                            status = response.status
                        elapsed = time.perf_counter() - started
                        if status != 201:
                            raise RuntimeError(f"floor create answered {status}")
                        async with session.delete(f"{api}/webhooks/{created['data']['gid']}") as response:
                            await response.read()
                        return elapsed

                    def sdk_create(index: int) -> float:
                        data = {
                            "data": {
                                "resource": project,
                                "target": f"{flask_base}/sdk{index}",
                                "filters": filters,
                            }
                        }
                        started = time.perf_counter()
                        created = sdk.create_webhook(data, {})
                        elapsed = time.perf_counter() - started
                        sdk.delete_webhook(created["gid"])
                        return elapsed

                    async def sdk_flask(index: int) -> float:
                        return await anyio.to_thread.run_sync(sdk_create, index)

                    subjects: dict[str, Callable[[int], Awaitable[float]]] = {
                        "floor (raw aiohttp)": floor,
                        "asana_hooks Hub.subscribe": ours,
                        "asana SDK + Flask": sdk_flask,
                    }
                    samples: dict[str, list[float]] = {name: [] for name in subjects}
                    names = list(subjects)
                    for index in range(warmup + creates):
                        # Rotate who goes first, so no subject always follows the same one.
                        shift = index % len(names)
                        for name in names[shift:] + names[:shift]:
                            elapsed = await subjects[name](index)
                            if index >= warmup:
                                samples[name].append(elapsed)
            finally:
                flask_server.shutdown()
                flask_thread.join()
                await floor_runner.cleanup()
    floor_median = median(samples["floor (raw aiohttp)"])
    sdk_median = median(samples["asana SDK + Flask"])
    rows = [
        [
            name,
            f"{median(values) * 1e3:.2f}",
            f"{p99(values) * 1e3:.2f}",
            f"{median(values) / floor_median:.2f}",
            f"{median(values) / sdk_median:.2f}",
        ]
        for name, values in samples.items()
    ]
    print_table(["subject", "median ms", "p99 ms", "× floor (median)", "× SDK+Flask (median)"], rows)


def main() -> None:
    """Parse options and run."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--creates", type=int, default=300, help="timed creates per subject")
    parser.add_argument("--warmup", type=int, default=10, help="untimed creates per subject first")
    args = parser.parse_args()
    print(f"# Benchmark 3: create-with-handshake latency against the emulator\n{machine()}")
    print(f"{args.creates} timed creates per subject (after {args.warmup} untimed), interleaved\n")
    anyio.run(run, args.creates, args.warmup)


if __name__ == "__main__":
    main()
