"""Benchmark 4: 100 and 1,000 concurrent subscribes through one hub (one receiver).

For each count, a fresh emulator subprocess and a fresh worker subprocess: the worker starts a
Hub (in-memory store, embedded Receiver), makes one untimed subscribe/unsubscribe to warm up,
then starts ``count`` ``Hub.subscribe`` calls at once in one task group and waits for all.
Each (subject, count) runs ``--repeats`` times, alternating; the table shows medians. Reported:
wall time, per-subscribe latency (median, p99), time per subscribe and its growth from
the small to the large count, the worker's peak RSS (VmHWM) and RSS growth per subscription.

Baseline, measured the same way in its own worker: the floor of benchmark 3 (raw aiohttp creates
with a bare echo handler) under the same cap of 15 concurrent writes.

Both the client (``ClientConfig.max_concurrent_writes``) and the emulator cap concurrent writes
at 15 per token, as Asana does; so at most 15 creates (and handshakes) are in flight and the
rest queue in the client. Each subscribe watches its own task (created untimed beforehand), so
the emulator's quota of requests per minute is lifted for the set-up; on real Asana that quota
(1,500 per minute) alone would stretch 1,000 creates over at least 40 seconds.

    python3 benchmarks/concurrent_subscribes.py [--counts 100 1000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import secrets
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import anyio
from measure import HERE, TOKEN_ENV, ServerProcess, machine, median, p99, print_table, vm_kib
from servers import echo_app, serve_site

from asana_hooks import ClientConfig, Event, Hub, MemoryStore, Router

_WRITES = 15  # Asana's (and the client's default) cap of concurrent writes per token


async def _noop(event: Event) -> None:
    return None


async def _concurrently(count: int, one: Callable[[int], Awaitable[None]]) -> tuple[float, list[float]]:
    latencies: list[float] = []

    async def timed(index: int) -> None:
        started = time.perf_counter()
        await one(index)
        latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        for index in range(count):
            group.start_soon(timed, index)
    return time.perf_counter() - started, latencies


async def _tasks(api: str, token: str, count: int) -> list[str]:
    """``count`` new tasks in the seeded project: one resource to watch per subscribe."""
    writes = anyio.Semaphore(_WRITES)
    gids: list[str] = []
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session:
        async with session.get(f"{api}/projects") as response:
            project = (await response.json())["data"][0]["gid"]

        async def one(index: int) -> None:
            data = {"data": {"name": f"Task {index}", "projects": [project]}}
            async with writes, session.post(f"{api}/tasks", json=data) as response:
                gids.append((await response.json())["data"]["gid"])

        async with anyio.create_task_group() as group:
            for index in range(count):
                group.start_soon(one, index)
    return gids


async def hub_worker(api: str, token: str, count: int) -> dict[str, Any]:
    """``count`` concurrent ``Hub.subscribe`` calls; figures of this process."""
    tasks = await _tasks(api, token, count + 1)
    router = Router()
    router.add(_noop, "task", action="changed", field="name")
    async with (
        MemoryStore() as store,
        Hub(store=store, token=token, client_config=ClientConfig(base_url=api)) as hub,
    ):
        warm = await hub.subscribe(tasks[-1], router)
        await warm.unsubscribe()
        gc.collect()
        rss_before = vm_kib("VmRSS")

        async def one(index: int) -> None:
            await hub.subscribe(tasks[index], router)

        wall, latencies = await _concurrently(count, one)
        gc.collect()
        rss_after = vm_kib("VmRSS")
        assert len(hub.subscriptions) == count
    return _figures(count, wall, latencies, rss_before, rss_after)


async def floor_worker(api: str, token: str, count: int) -> dict[str, Any]:
    """``count`` concurrent raw creates (15 in flight) against a bare echo handler."""
    tasks = await _tasks(api, token, count + 1)
    runner, base = await serve_site(echo_app())
    writes = anyio.Semaphore(_WRITES)
    created: list[dict[str, Any]] = []
    filters = [{"resource_type": "task", "action": "changed", "fields": ["name"]}]
    try:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session:

            async def one(index: int) -> None:
                data = {
                    "data": {
                        "resource": tasks[index],
                        "target": f"{base}/f/{index}",
                        "filters": filters,
                    }
                }
                async with writes, session.post(f"{api}/webhooks", json=data) as response:
                    body = json.loads(await response.read())
                    if response.status != 201:
                        raise RuntimeError(f"create answered {response.status}")
                created.append(body)

            await one(-1)
            gc.collect()
            rss_before = vm_kib("VmRSS")
            wall, latencies = await _concurrently(count, one)
            gc.collect()
            rss_after = vm_kib("VmRSS")
    finally:
        await runner.cleanup()
    return _figures(count, wall, latencies, rss_before, rss_after)


def _figures(count: int, wall: float, latencies: list[float], before: int, after: int) -> dict[str, Any]:
    return {
        "count": count,
        "wall": wall,
        "median": median(latencies),
        "p99": p99(latencies),
        "rss_before_kib": before,
        "rss_after_kib": after,
        "peak_kib": vm_kib("VmHWM"),
    }


async def run(counts: list[int], repeats: int) -> None:
    """One emulator and one worker per (subject, count, repeat), alternating; print the medians."""
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for repeat in range(repeats):
        for count in counts:
            subjects = ("floor", "hub") if repeat % 2 == 0 else ("hub", "floor")
            for subject in subjects:
                token = secrets.token_urlsafe(32)
                emulator = ServerProcess("emulator", "--rate-limit", "1000000", env={TOKEN_ENV: token})
                async with emulator:
                    command = [sys.executable, str(HERE / "concurrent_subscribes.py"), "--worker", subject]
                    command += ["--count", str(count), "--api", emulator.base_url]
                    env = {**os.environ, TOKEN_ENV: token}
                    done = await anyio.run_process(command, env=env, stderr=None)
                figures = json.loads(done.stdout.decode().strip().splitlines()[-1])
                runs.setdefault((subject, count), []).append(figures)
    # Each figure's median over the repeats.
    results = {
        key: {name: median([run[name] for run in values]) for name in values[0]}
        for key, values in runs.items()
    }
    small, large = min(counts), max(counts)
    rows = []
    for subject, label in (("floor", "floor (raw aiohttp)"), ("hub", "asana_hooks Hub")):
        for count in counts:
            r = results[subject, count]
            floor = results["floor", count]
            per = r["wall"] / count
            growth = per / (results[subject, small]["wall"] / small)
            rows.append(
                [
                    label,
                    f"{count:,}",
                    f"{r['wall']:.2f}",
                    f"{per * 1e3:.2f}",
                    f"{growth:.2f}" if count == large and large != small else "1.00",
                    f"{r['median'] * 1e3:.1f}",
                    f"{r['p99'] * 1e3:.1f}",
                    f"{r['peak_kib'] / 1024:.1f}",
                    f"{(r['rss_after_kib'] - r['rss_before_kib']) / count:.1f}",
                    f"{r['wall'] / floor['wall']:.2f}",
                ]
            )
    print_table(
        [
            "subject",
            "subscribes",
            "wall s",
            "ms/subscribe",
            f"growth {small}→{large}",
            "latency median ms",
            "latency p99 ms",
            "peak RSS MiB",
            "RSS KiB/subscription",
            "wall × floor",
        ],
        rows,
    )


def main() -> None:
    """Run the comparison, or one worker (``--worker``, used by the comparison itself)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--counts", type=int, nargs="+", default=[100, 1000], help="subscribes per run")
    parser.add_argument("--repeats", type=int, default=2, help="runs per subject and count (medians)")
    parser.add_argument("--worker", choices=["hub", "floor"], help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--api", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker = hub_worker if args.worker == "hub" else floor_worker
        figures = anyio.run(worker, args.api, os.environ[TOKEN_ENV], args.count)
        print(json.dumps(figures), flush=True)
        return
    print(f"# Benchmark 4: concurrent subscribes through one hub\n{machine()}")
    print(
        f"counts {args.counts}, {args.repeats} runs each (medians); "
        f"client and emulator cap concurrent writes at {_WRITES}\n"
    )
    anyio.run(run, sorted(args.counts), args.repeats)


if __name__ == "__main__":
    main()
