"""The soak: N calls kept live at once through the local carrier for a duration, then a leak check.

    python -m bench.soak --calls 100 --minutes 10     # the documented run (an idle machine)
    python -m bench.soak --calls 10 --minutes 0.5     # what tests/hardening/test_soak.py runs

The server runs in this process with the instant stand-in engines (bench/instant_engines.py), the
carrier in a child process (bench/carrier_process.py), exactly as `bench/calls.py` sets them up. Each
of the N slots places a call through POST /api/calls, the caller speaks a line every few seconds until
its script hangs up after `--call-s`, and the slot places the next call, until `--minutes` have passed.
Then every call's records are checked in the database (status, stream, one caller utterance per line
spoken, persona turns, no gap in the sequence numbers) and the process is compared with its state before
the calls: resident memory (growth per call-hour), asyncio tasks and open sockets, which must be back at
their baseline once the calls have ended.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import math
import os
import resource
import sys
import tempfile
import time
import wave
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench.calls import FIXTURE, PHONE, Api, Probe, bench_settings, free_port, rss_kib
from bench.calls import parse_args as call_bench_args
from bench.carrier_process import carrier_process
from bench.instant_engines import instant_engines
from orchestrator.app import create_app
from orchestrator.keys import POOL, RECORDER

log = logging.getLogger("bench.soak")
_ENDED = {"completed", "busy", "no-answer", "failed", "canceled"}


_CLIENT_KEEPALIVE_S = 15.0  # aiohttp's client default: idle pooled connections close after it
_SERVER_KEEPALIVE_S = 10.0
_TRANSIENT_TASK_S = 5.0


async def settle() -> None:
    """Before each count: idle keep-alive connections (this side's API client, the carrier's webhook
    client) are the clients' to close, after aiohttp's 15 s; counted before that they look like leaks."""
    await asyncio.sleep(_CLIENT_KEEPALIVE_S + 1.0)
    gc.collect()


async def _finish_transient(tasks: set[asyncio.Task[Any]]) -> None:
    """A leak is a task that stays: give those caught mid-flight (asyncpg returning a connection to the
    pool, a poller's query) a moment to end before the count."""
    if tasks:
        await asyncio.wait(tasks, timeout=_TRANSIENT_TASK_S)


@dataclass
class SoakResults:
    calls: int = 0  # placed
    completed: int = 0
    incomplete: list[str] = field(default_factory=list)  # call id: what is missing
    lines_spoken: int = 0  # caller lines the scripts played
    caller_utterances: int = 0  # caller turns recorded
    lost_utterances: int = 0
    call_hours: float = 0.0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    rss_before_kib: int = 0
    rss_after_kib: int = 0
    peak_rss_kib: int = 0
    peak_live: int = 0
    tasks_before: int = 0
    tasks_after: int = 0
    sockets_before: int = 0
    sockets_after: int = 0
    pool_before: int = 0  # the database pool's connections: it grows under load and keeps them (asyncpg)
    pool_after: int = 0
    lag_p99_ms: float = 0.0

    @property
    def rss_growth_mib_per_call_hour(self) -> float:
        grown = (self.rss_after_kib - self.rss_before_kib) / 1024
        return grown / self.call_hours if self.call_hours else 0.0


def open_sockets() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:  # closed while we looked
            pass
    return count


def _fixture_s() -> float:
    with wave.open(str(FIXTURE)) as wav:
        return wav.getnframes() / wav.getframerate()


def caller_script(args: argparse.Namespace) -> tuple[list[dict[str, Any]], int]:
    """One call's script (greeting wait, then a line every few seconds, then hang up) and its line count."""
    cycle_s = _fixture_s() + args.reply_s
    lines = max(1, int((args.call_s - args.greeting_s) // cycle_s))
    script: list[dict[str, Any]] = [{"wait": args.greeting_s}]
    for _ in range(lines):
        script += [{"play": str(FIXTURE)}, {"wait": args.reply_s}]
    return [*script, {"hangup": True}], lines


async def _one_slot(api: Api, args: argparse.Namespace, index: int, deadline: float, ids: list[str]) -> None:
    """Keep one call live until the deadline: place it, wait for its end, place the next."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(index * min(args.call_s, 10.0) / args.calls)  # stagger the starts
    while True:
        call = await api.request("POST", "/api/calls", json={"persona_id": args.persona, "context": "soak"})
        ids.append(call["id"])
        await asyncio.sleep(args.call_s - 1.0)
        give_up = loop.time() + args.call_s + 60
        while call["status"] not in _ENDED and loop.time() < give_up:
            await asyncio.sleep(1.0)
            call = await api.request("GET", f"/api/calls/{call['id']}")
        if loop.time() >= deadline:
            return


async def check_records(app: web.Application, ids: list[str], lines: int, results: SoakResults) -> None:
    """Every call ended normally with every caller line recorded once, in sequence."""
    rows = await app[POOL].fetch(
        """SELECT c.id::text AS id, c.status, c.stream_sid, c.ended_at,
                  count(u.*) FILTER (WHERE u.role = 'caller') AS caller,
                  count(u.*) FILTER (WHERE u.role = 'persona') AS persona,
                  count(u.*) AS total, coalesce(max(u.seq) - min(u.seq) + 1, 0) AS span
           FROM calls c LEFT JOIN utterances u ON u.call_id = c.id
           WHERE c.id = ANY($1::uuid[]) GROUP BY c.id""",
        ids,
    )
    results.calls = len(ids)
    results.lines_spoken = lines * len(ids)
    found = {row["id"]: row for row in rows}
    for call_id in ids:
        row = found.get(call_id)
        if row is None:
            results.incomplete.append(f"{call_id}: no call row")
            results.lost_utterances += lines
            continue
        results.caller_utterances += row["caller"]
        results.lost_utterances += max(0, lines - row["caller"])
        problems = []
        if row["status"] != "completed" or row["ended_at"] is None:
            problems.append(f"status {row['status']}")
        if row["stream_sid"] is None:
            problems.append("no stream_sid")
        if row["caller"] != lines:
            problems.append(f"{row['caller']}/{lines} caller turns")
        if row["persona"] < lines + 1:  # the opening, then a reply to every line
            problems.append(f"{row['persona']} persona turns")
        if row["span"] != row["total"]:
            problems.append("a gap in the utterance sequence")
        if problems:
            results.incomplete.append(f"{call_id}: {', '.join(problems)}")
        else:
            results.completed += 1


async def soak(args: argparse.Namespace, data_dir: Path, database_url: str | None = None) -> SoakResults:
    port = free_port()
    # The call benchmark's server settings, with its own defaults for every knob the soak does not set.
    settings, local = bench_settings(
        data_dir, port, call_bench_args(["--engines", "instant", "--calls", str(args.calls)])
    )
    if database_url:
        settings = replace(settings, database=replace(settings.database, url=database_url))
    room = args.calls * (math.ceil(args.minutes * 60 / args.call_s) + 2) + 10
    settings = replace(
        settings,
        telephony=replace(settings.telephony, max_live_calls_per_user=room, calls_per_window=room, daily_call_cap=room),
    )
    engines, _ = instant_engines()
    script, lines = caller_script(args)
    results = SoakResults()
    async with carrier_process(local) as (carrier, _cpu):
        app = create_app(settings, engines=engines)
        # The server closes idle keep-alive connections before the count (production keeps aiohttp's 75 s).
        runner = web.AppRunner(app, access_log=None, keepalive_timeout=_SERVER_KEEPALIVE_S)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", port).start()
            async with aiohttp.ClientSession() as session:
                api = Api(session, settings.base_url)
                await api.sign_up_verified(carrier)
                # One short call first: what the first call loads once (the VAD model, caches, pooled
                # connections) is not growth.
                warm_up = {**args.__dict__, "call_s": args.greeting_s + _fixture_s() + args.reply_s + 0.5}
                await carrier.set_scenario(PHONE, caller_script(argparse.Namespace(**warm_up))[0], ring_s=0.2)
                await _one_slot(api, argparse.Namespace(**warm_up), 0, 0.0, [])
                await carrier.set_scenario(PHONE, script, ring_s=0.2)
                await settle()
                baseline_tasks = set(asyncio.all_tasks())
                results.tasks_before = len(baseline_tasks)
                results.sockets_before = open_sockets()
                results.pool_before = app[POOL].get_size()
                results.rss_before_kib = rss_kib()
                usage = resource.getrusage(resource.RUSAGE_SELF)
                started = time.monotonic()
                probe = Probe(app)
                probe_task = asyncio.create_task(probe.run())
                ids: list[str] = []
                deadline = asyncio.get_running_loop().time() + args.minutes * 60
                try:
                    async with asyncio.TaskGroup() as group:
                        for index in range(args.calls):
                            group.create_task(_one_slot(api, args, index, deadline, ids))
                finally:
                    probe_task.cancel()
                    await asyncio.gather(probe_task, return_exceptions=True)
                results.wall_s = time.monotonic() - started
                after = resource.getrusage(resource.RUSAGE_SELF)
                results.cpu_s = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
                probe.finish()
                await asyncio.sleep(2.0)  # the server side of the last hang-ups, status callbacks
                await settle()
                await app[RECORDER].flush()
                await _finish_transient(asyncio.all_tasks() - baseline_tasks)
                remaining = asyncio.all_tasks()
                results.tasks_after = len(remaining)
                for task in remaining - baseline_tasks if len(remaining) > len(baseline_tasks) else ():
                    log.warning("task left after the calls: %s %s", task.get_name(), task.get_coro())
                results.sockets_after = open_sockets()
                results.pool_after = app[POOL].get_size()
                results.rss_after_kib = rss_kib()
                results.peak_rss_kib = probe.peak_rss_kib
                results.peak_live = probe.peak_live
                lags = sorted(probe.lag_ms)
                results.lag_p99_ms = lags[int(0.99 * (len(lags) - 1))] if lags else 0.0
                await check_records(app, ids, lines, results)
                durations = await app[POOL].fetchval(
                    "SELECT coalesce(sum(duration_s), 0) FROM calls WHERE id = ANY($1::uuid[])", ids
                )
                results.call_hours = durations / 3600
        finally:
            await runner.cleanup()
    return results


def print_results(args: argparse.Namespace, results: SoakResults) -> None:
    print(f"soak: {args.calls} concurrent calls for {args.minutes:g} min ({args.call_s:g} s calls), instant engines")
    print(f"  calls placed {results.calls}, records complete {results.completed}, incomplete {len(results.incomplete)}")
    for problem in results.incomplete[:10]:
        print(f"    {problem}")
    print(
        f"  caller lines spoken {results.lines_spoken}, recorded {results.caller_utterances}, "
        f"lost {results.lost_utterances}"
    )
    print(f"  peak live calls {results.peak_live}, call-hours {results.call_hours:.2f}, wall {results.wall_s:.0f} s")
    print(
        f"  memory: RSS {results.rss_before_kib // 1024} -> {results.rss_after_kib // 1024} MiB "
        f"(peak {results.peak_rss_kib // 1024}), growth {results.rss_growth_mib_per_call_hour:.1f} MiB per call-hour"
    )
    print(f"  asyncio tasks {results.tasks_before} -> {results.tasks_after} (baseline before the calls)")
    print(
        f"  open sockets {results.sockets_before} -> {results.sockets_after} (of which the database pool's "
        f"{results.pool_before} -> {results.pool_after})"
    )
    print(f"  server CPU {results.cpu_s:.0f} s, event-loop lag p99 {results.lag_p99_ms:.1f} ms, load {os.getloadavg()}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10, help="calls kept live at once")
    parser.add_argument("--minutes", type=float, default=1.0, help="how long new calls are placed")
    parser.add_argument("--call-s", type=float, default=60.0, help="length of each call's script")
    parser.add_argument("--greeting-s", type=float, default=3.0, help="caller silence for the greeting")
    parser.add_argument("--reply-s", type=float, default=3.0, help="caller silence after each line")
    parser.add_argument("--persona", default="brad")
    parser.add_argument("--verbose", action="store_true", help="server logs at INFO")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="callmeback-soak-") as folder:
        data_dir = Path(folder)
        data_dir.chmod(0o755)  # the embedded PostgreSQL's own user must reach its data dir
        results = asyncio.run(soak(args, data_dir))
    print_results(args, results)
    clean = not results.incomplete and results.lost_utterances == 0
    return 0 if clean and results.tasks_after <= results.tasks_before else 1


if __name__ == "__main__":
    sys.exit(main())
