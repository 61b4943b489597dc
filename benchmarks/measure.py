"""What every benchmark shares: statistics, machine facts, server subprocesses, realistic deliveries.

Nothing here asserts a duration: benchmarks print figures and ratios, and people judge them.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import importlib.util
import json
import os
import platform
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiohttp
import anyio
from anyio.abc import Process

__all__ = [
    "SECRET_ENV",
    "TOKEN_ENV",
    "BatchFactory",
    "ThroughputPlan",
    "LoadResult",
    "ServerProcess",
    "apply_load",
    "compare_throughput",
    "cpu_seconds_of",
    "machine",
    "median",
    "new_secret",
    "p99",
    "print_table",
    "vm_kib",
]

HERE = Path(__file__).resolve().parent
# Run from a clone without installing: the package sits beside this folder.
if importlib.util.find_spec("asana_hooks") is None:
    sys.path.insert(0, str(HERE.parent))
#: The delivery secret handed to server subprocesses (through the environment, never argv).
SECRET_ENV = "BENCH_HOOK_SECRET"  # noqa: S105 - the variable's name
#: The emulator token handed to subprocesses.
TOKEN_ENV = "BENCH_EMULATOR_TOKEN"  # noqa: S105 - the variable's name
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# -- statistics ----------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    """The median of ``values``."""
    return statistics.median(values)


def p99(values: Sequence[float]) -> float:
    """The 99th percentile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, -(-99 * len(ordered) // 100) - 1))
    return ordered[rank]


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print a Markdown table (so results paste straight into docs/benchmarks.md)."""
    cells = [[str(c) for c in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for index, row in enumerate(cells):
        print("| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) + " |")
        if index == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


def machine() -> str:
    """One line naming the CPU, core count, Python and key library versions."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = []
    for name in ("aiohttp", "pydantic", "flask", "asana"):
        try:
            from importlib.metadata import version

            versions.append(f"{name} {version(name)}")
        except Exception:  # noqa: S112 - a missing optional package is simply not listed
            continue
    return (
        f"{model}, nproc={os.cpu_count()}, Python {platform.python_version()} "
        f"({platform.python_implementation()}), {', '.join(versions)}"
    )


def cpu_seconds_of(pid: int) -> float:
    """User + system CPU seconds a process has used so far (from /proc, 1/CLK_TCK resolution)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def vm_kib(field: str, pid: int | str = "self") -> int:
    """A ``Vm*`` line of /proc/PID/status in KiB (``VmRSS`` now, ``VmHWM`` the peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


# -- server subprocesses ---------------------------------------------------------------------------


class ServerProcess:
    """``python3 benchmarks/servers.py KIND ...`` as an async context manager.

    The child prints ``READY <base_url>`` once bound; closing its stdin tells it to stop. Secrets
    travel through the environment, never the command line.
    """

    def __init__(self, kind: str, *args: str, env: Mapping[str, str] | None = None) -> None:
        self.kind = kind
        self._command = [sys.executable, str(HERE / "servers.py"), kind, *args]
        path = os.pathsep.join(filter(None, [str(HERE.parent), os.environ.get("PYTHONPATH")]))
        self._env = {**os.environ, **(env or {}), "PYTHONPATH": path}
        self._process: Process | None = None
        self.base_url = ""

    @property
    def pid(self) -> int:
        """The child's process id."""
        assert self._process is not None
        return self._process.pid

    def cpu_seconds(self) -> float:
        """CPU seconds the child has used so far."""
        return cpu_seconds_of(self.pid)

    async def __aenter__(self) -> Self:
        process = await anyio.open_process(
            self._command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None, env=self._env
        )
        self._process = process
        assert process.stdout is not None
        buffer = b""
        try:
            with anyio.fail_after(30):
                while b"\n" not in buffer:
                    buffer += await process.stdout.receive()
        except (anyio.EndOfStream, TimeoutError):
            await self.aclose()
            raise RuntimeError(f"the {self.kind} server did not start (see its stderr above)") from None
        line = buffer.split(b"\n", 1)[0].decode()
        if not line.startswith("READY "):
            await self.aclose()
            raise RuntimeError(f"{self.kind} server did not start: {line!r}")
        self.base_url = line.removeprefix("READY ").strip()
        return self

    async def aclose(self) -> None:
        """Ask the child to stop (stdin EOF); kill it if it has not exited within 10 seconds."""
        process, self._process = self._process, None
        if process is None:
            return
        with anyio.CancelScope(shield=True):
            if process.stdin is not None:
                await process.stdin.aclose()
            with anyio.move_on_after(10):
                await process.wait()
                return
            process.kill()
            await process.wait()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


# -- realistic deliveries ------------------------------------------------------------------------

_SLOT = b"@@@@@@@@@@@@"  # replaced by a 12-digit sequence number per event


def _event_shapes(slot: str) -> list[dict[str, Any]]:
    """Five event shapes as Asana sends them to a project webhook (compact, ids only)."""
    user = {"gid": "1201234567890123", "resource_type": "user"}
    task = {"gid": f"1209{slot}", "resource_type": "task", "resource_subtype": "default_task"}
    project = {"gid": "1208765432100001", "resource_type": "project"}
    created_at = "2025-03-14T09:26:53.589Z"
    return [
        {
            "user": user,
            "created_at": created_at,
            "action": "changed",
            "resource": task,
            "parent": None,
            "change": {"field": "name", "action": "changed"},
        },
        {
            "user": user,
            "created_at": created_at,
            "action": "added",
            "resource": {"gid": f"1207{slot}", "resource_type": "story", "resource_subtype": "comment_added"},
            "parent": task,
        },
        {
            "user": user,
            "created_at": created_at,
            "action": "changed",
            "resource": task,
            "parent": None,
            "change": {
                "field": "assignee",
                "action": "changed",
                "new_value": {"gid": "1201234567890456", "resource_type": "user"},
            },
        },
        {
            "user": user,
            "created_at": created_at,
            "action": "added",
            "resource": task,
            "parent": project,
        },
        {
            "user": None,
            "created_at": created_at,
            "action": "changed",
            "resource": task,
            "parent": None,
            "change": {
                "field": "custom_fields",
                "action": "changed",
                "new_value": {
                    "gid": "1206543210987654",
                    "resource_type": "custom_field",
                    "resource_subtype": "enum",
                    "enum_value": {"gid": "1206543210987655", "resource_type": "enum_option"},
                },
            },
        },
    ]


class BatchFactory:
    """Signed ``{"events": [...]}`` bodies of ``size`` realistic events, each event unique.

    Every event gets a fresh sequence number in its resource gid, so no delivery is a redelivery
    (the receiver's dedupe would otherwise drop repeats and flatter it). Filling a byte template
    keeps the load generator cheap.
    """

    def __init__(self, size: int, secret: str) -> None:
        shapes = _event_shapes(_SLOT.decode())
        events = [shapes[i % len(shapes)] for i in range(size)]
        self._parts = json.dumps({"events": events}, separators=(",", ":")).encode().split(_SLOT)
        self._key = secret.encode()
        self._next = 0
        self.size = size

    def body(self) -> bytes:
        """The next unique body (unsigned)."""
        parts = self._parts
        start = self._next
        self._next += len(parts) - 1
        pieces = [parts[0]]
        for index, part in enumerate(parts[1:]):
            pieces.append(b"%012d" % (start + index))
            pieces.append(part)
        return b"".join(pieces)

    def signed(self) -> tuple[bytes, str]:
        """The next unique body and its ``X-Hook-Signature``."""
        body = self.body()
        return body, hmac.new(self._key, body, hashlib.sha256).hexdigest()


def new_secret() -> str:
    """A secret like the ones Asana hands out (64 hex characters)."""
    return secrets.token_hex(32)


# -- load ----------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class LoadResult:
    """One timed round of deliveries against one server."""

    requests: int
    seconds: float
    latencies: list[float]
    server_cpu: float
    client_cpu: float

    @property
    def throughput(self) -> float:
        """Deliveries per second."""
        return self.requests / self.seconds

    @property
    def server_cpu_per_request(self) -> float:
        """Server CPU seconds per delivery."""
        return self.server_cpu / self.requests


async def apply_load(
    session: aiohttp.ClientSession,
    url: str,
    next_request: Callable[[], tuple[bytes, str]],
    *,
    requests: int,
    concurrency: int,
    server_pid: int,
) -> LoadResult:
    """POST ``requests`` signed deliveries with at most ``concurrency`` in flight.

    Raises:
        RuntimeError: A delivery was not answered 200 (the figures would be meaningless).
    """
    latencies: list[float] = []
    remaining = requests
    failures: list[int] = []

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            body, signature = next_request()
            headers = {"Content-Type": "application/json", "X-Hook-Signature": signature}
            started = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                status = response.status
            latencies.append(time.perf_counter() - started)
            if status != 200:
                failures.append(status)

    cpu_before = cpu_seconds_of(server_pid)
    client_before = time.process_time()
    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        for _ in range(concurrency):
            group.start_soon(worker)
    seconds = time.perf_counter() - started
    result = LoadResult(
        requests=requests,
        seconds=seconds,
        latencies=latencies,
        server_cpu=cpu_seconds_of(server_pid) - cpu_before,
        client_cpu=time.process_time() - client_before,
    )
    if failures:
        raise RuntimeError(f"{len(failures)} deliveries failed (first status {failures[0]}) at {url}")
    return result


# -- throughput comparison (benchmarks 1 and 2) ----------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ThroughputPlan:
    """How much load a throughput comparison applies.

    Attributes:
        sizes: Events per delivery, each measured separately.
        requests: Deliveries per timed round for each size.
        rounds: Timed rounds per server; servers alternate (A B, then B A) to cancel drift.
        warmup: Untimed deliveries per server before the first round.
        concurrency: Deliveries in flight at once (one keep-alive connection each).
    """

    sizes: Sequence[int]
    requests: Mapping[int, int]
    rounds: int
    warmup: int
    concurrency: int


async def compare_throughput(kinds: Sequence[str], baseline: str, plan: ThroughputPlan) -> None:
    """Serve each kind in its own subprocess and load them in turn from this process; print a table.

    The ratio column divides each server's median throughput (deliveries/s over the rounds) by
    the baseline's; the CPU column is the server process's own CPU time per delivery, which stays
    meaningful when the load generator, not the server, is what saturates.
    """
    secret = new_secret()
    env = {SECRET_ENV: secret}
    rows: list[list[object]] = []
    async with contextlib.AsyncExitStack() as stack:
        servers = {kind: await stack.enter_async_context(ServerProcess(kind, env=env)) for kind in kinds}
        connector = aiohttp.TCPConnector(limit=plan.concurrency)
        session = await stack.enter_async_context(aiohttp.ClientSession(connector=connector))
        for size in plan.sizes:
            factory = BatchFactory(size, secret)
            results: dict[str, list[LoadResult]] = {kind: [] for kind in kinds}
            for server in servers.values():
                await apply_load(
                    session,
                    server.base_url,
                    factory.signed,
                    requests=plan.warmup,
                    concurrency=plan.concurrency,
                    server_pid=server.pid,
                )
            for round_index in range(plan.rounds):
                order = list(kinds) if round_index % 2 == 0 else list(reversed(kinds))
                for kind in order:
                    server = servers[kind]
                    results[kind].append(
                        await apply_load(
                            session,
                            server.base_url,
                            factory.signed,
                            requests=plan.requests[size],
                            concurrency=plan.concurrency,
                            server_pid=server.pid,
                        )
                    )
            base_rate = median([r.throughput for r in results[baseline]])
            base_cpu = sum(r.server_cpu for r in results[baseline]) / sum(
                r.requests for r in results[baseline]
            )
            for kind in kinds:
                runs = results[kind]
                rate = median([r.throughput for r in runs])
                latencies = [x for r in runs for x in r.latencies]
                cpu = sum(r.server_cpu for r in runs) / sum(r.requests for r in runs)
                client = sum(r.client_cpu for r in runs) / sum(r.seconds for r in runs)
                rows.append(
                    [
                        size,
                        kind,
                        f"{rate:,.0f}",
                        f"{rate * size:,.0f}",
                        f"{median(latencies) * 1e3:.2f}",
                        f"{p99(latencies) * 1e3:.2f}",
                        f"{cpu * 1e6:,.0f}",
                        f"{client:.0%}",
                        f"{rate / base_rate:.2f}",
                        f"{base_cpu / cpu:.2f}" if cpu else "n/a",
                    ]
                )
    print_table(
        [
            "events/delivery",
            "server",
            "deliveries/s",
            "events/s",
            "latency median ms",
            "latency p99 ms",
            "server CPU µs/delivery",
            "load-gen CPU",
            f"throughput ÷ {baseline}",
            f"CPU efficiency ÷ {baseline}",
        ],
        rows,
    )


def run_throughput_comparison(
    title: str, kinds: Sequence[str], baseline: str, *, doc: str, requests: int, batch_requests: int
) -> None:
    """The command line shared by the throughput benchmarks: parse options, run, print the table."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=requests, help="1-event deliveries per round")
    parser.add_argument(
        "--batch-requests", type=int, default=batch_requests, help="50-event deliveries per round"
    )
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
    print(f"# {title}\n{machine()}")
    print(f"concurrency {plan.concurrency}, {plan.rounds} rounds, requests/round {dict(plan.requests)}\n")
    anyio.run(compare_throughput, list(kinds), baseline, plan)
