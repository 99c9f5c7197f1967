"""The call benchmark: N calls through the local carrier, per-turn latency at every stage and at the ear.

    python -m bench.calls --engines embedded --calls 1 --turns 5     # voice-to-voice target
    python -m bench.calls --engines instant --calls 200 --turns 3    # orchestration + jitter at scale

A real server (embedded PostgreSQL in a temporary data dir, real websockets) runs in this process and
places every call through POST /api/calls; the local carrier runs in a child process
(bench/carrier_process.py), reached as Twilio is (TWILIO_API_BASE), and its phone speaks the caller's
lines as real-time 20 ms mu-law frames and records what its ear plays. Stage latencies come from the
database (ms after the caller stopped speaking, as media/call.py stamps them), voice-to-voice from the
carrier's recordings (bench/ear.py), outbound jitter from each call's pacer, loop lag, CPU and memory
from this process, i.e. the server's (the benchmark's own driving is one POST per call); the carrier's
CPU is printed apart. Caller audio: the embedded run synthesizes its lines with the embedded Piper at
start (another voice than the persona's); the instant run plays tests/media/fixtures/call_me_back.wav
(espeak-ng speech).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import math
import os
import random
import resource
import secrets
import socket
import tempfile
import time
import uuid
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench.carrier_process import CarrierProcess, carrier_process
from bench.ear import ear_turns
from bench.instant_engines import EngineTimes, instant_engines
from bench.report import Results, print_results
from media.call import Call
from media.codec import write_wav
from media.resample import resample
from orchestrator.app import create_app
from orchestrator.carrier import CarrierSettings
from orchestrator.carrier.report import CallReport
from orchestrator.config import Settings, load_settings
from orchestrator.keys import ENGINES, LIVE_CALLS, RECORDER
from orchestrator.telephony_setup import carrier_settings

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "media" / "fixtures" / "call_me_back.wav"
PHONE = "+14155550177"
PASSWORD = "correct horse battery staple"
CALLER_LINES = [
    "Hi, I have a job interview tomorrow morning and I am really nervous.",
    "It is for a nursing job at the city hospital.",
    "I think my weak spot is talking about my last job.",
    "Could you help me practice one question?",
    "Thanks, that helps. I will go to bed early tonight.",
]
CALLER_VOICE = {"piper": {"length_scale": 1.0, "pitch_semitones": -2.0}}
WINDOW_MS = 32.0  # the VAD window: a turn ends on the first window boundary at or past end_silence_ms
log = logging.getLogger("bench.calls")


@dataclass
class Probe:
    """Samples the server while calls run: loop lag, live calls, RSS, and each finished call's jitter."""

    app: web.Application
    lag_ms: list[float] = field(default_factory=list)
    peak_live: int = 0
    peak_rss_kib: int = 0
    jitter: dict[str, Any] = field(default_factory=dict)  # call id -> JitterStats
    _live: dict[int, Any] = field(default_factory=dict)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        tick = 0
        while True:
            due = loop.time() + 0.02
            await asyncio.sleep(0.02)
            self.lag_ms.append(1000 * (loop.time() - due))
            tick += 1
            if tick % 25 == 0:
                self.sweep()
            if tick % 250 == 0:
                recent = sorted(self.lag_ms[-250:])
                log.warning(
                    "live calls %d, ended %d, loop lag p50 %.1f max %.1f ms, RSS %d MiB",
                    len(self.app[LIVE_CALLS]),
                    len(self.jitter),
                    recent[len(recent) // 2],
                    recent[-1],
                    rss_kib() // 1024,
                )

    def sweep(self) -> None:
        """Keep each live call until it ends, then keep only its pacer's jitter (not the call)."""
        live = self.app[LIVE_CALLS]
        self.peak_live = max(self.peak_live, len(live))
        self.peak_rss_kib = max(self.peak_rss_kib, rss_kib())
        current = {id(call): call for call in live}
        for key, call in list(self._live.items()):
            if key not in current:
                self.jitter[str(call.call_log.call_id)] = call.pacer.jitter()
                del self._live[key]
        self._live.update(current)

    def finish(self) -> None:
        self.sweep()
        for call in self._live.values():
            self.jitter[str(call.call_log.call_id)] = call.pacer.jitter()
        self._live.clear()


@dataclass
class GcPauses:
    """The server's garbage-collection pauses while calls run (each stops the event loop), by generation."""

    ms: dict[int, list[float]] = field(default_factory=lambda: {0: [], 1: [], 2: []})
    _started: float = 0.0

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self._on_gc)
        return self

    def __exit__(self, *_: object) -> None:
        gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.ms[info["generation"]].append(1000 * (time.perf_counter() - self._started))


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def loadavg() -> list[str]:
    return Path("/proc/loadavg").read_text().split()[:3]


def busy_jiffies() -> tuple[int, int]:
    """(busy, total) CPU jiffies of the whole machine, to tell our load from everyone else's."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bench_settings(data_dir: Path, port: int, args: argparse.Namespace) -> tuple[Settings, CarrierSettings]:
    """The server's settings, pointed at a carrier (whose settings come second) as at Twilio."""
    env = {
        "DATABASE_URL": "",
        "JWT_SECRET": secrets.token_urlsafe(48),
        "CALLMEBACK_DATA_DIR": str(data_dir),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
    }
    if "CALLMEBACK_CONFIG" in os.environ:  # the settings being compared, e.g. [local_llm] threads
        env["CALLMEBACK_CONFIG"] = os.environ["CALLMEBACK_CONFIG"]
    local = carrier_settings(load_settings(env=env))
    local = replace(
        local, host="127.0.0.1", port=free_port(), answer_delay_s=0.2, progress_step_s=0.05, calls_per_second=0.0
    )
    local = replace(local, recordings_dir=None)
    settings = load_settings(
        env={
            **env,
            "TWILIO_ACCOUNT_SID": local.account_sid,
            "TWILIO_AUTH_TOKEN": local.auth_token,
            "TWILIO_FROM_NUMBER": local.numbers[0].number,
            "TWILIO_API_BASE": f"http://127.0.0.1:{local.port}",
        }
    )
    room = args.calls + 10
    settings = replace(
        settings,
        database=replace(settings.database, pool_max_size=max(settings.database.pool_max_size, 20)),
        # Every benchmark user signs up and logs in from 127.0.0.1.
        auth=replace(settings.auth, registrations_per_address=room, login_attempts_per_address=room),
        telephony=replace(settings.telephony, max_live_calls_per_user=room, calls_per_window=room, daily_call_cap=room),
        turns=replace(settings.turns, speculative_reply=args.speculative_reply == "on"),
        # The caller waits silently for the ramp; no "are you still there?" in the middle of a benchmark.
        call=replace(
            settings.call,
            idle_prompt_s=3600.0,
            idle_hangup_s=3600.0,
            first_token_timeout_s=max(settings.call.first_token_timeout_s, args.first_token_timeout_s),
        ),
    )
    return settings, local


class Api:
    """The JSON API as one signed-up user with a verified phone."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base_url = base_url
        self.token = ""

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with self.session.request(method, self.base_url + path, headers=headers, **kwargs) as response:
            body = await response.json()
            if response.status >= 300:
                raise RuntimeError(f"{method} {path}: {response.status} {body}")
            return body

    async def sign_up_verified(self, carrier: CarrierProcess) -> None:
        email = f"bench-{uuid.uuid4().hex[:10]}@example.test"
        body = await self.request("POST", "/api/auth/register", json={"email": email, "password": PASSWORD})
        self.token = body["token"]
        await self.request("POST", "/api/phone/verify", json={"phone": PHONE})
        code = await carrier.last_code(PHONE)
        await self.request("POST", "/api/phone/verify/check", json={"phone": PHONE, "code": code})


async def caller_lines(app: web.Application, args: argparse.Namespace, folder: Path) -> list[Path]:
    if args.engines == "instant":
        return [FIXTURE] * args.turns
    tts = app[ENGINES].tts
    paths = []
    for index in range(args.turns):
        line = CALLER_LINES[index % len(CALLER_LINES)]
        async with aclosing(tts.synthesize(line, CALLER_VOICE)) as chunks:
            pcm = b"".join([chunk async for chunk in chunks])
        paths.append(folder / f"line{index}.wav")
        write_wav(paths[-1], resample(pcm, tts.sample_rate, 8000), 8000)
    return paths


async def place_calls(api: Api, carrier: CarrierProcess, lines: list[Path], args: argparse.Namespace) -> list[str]:
    """Place the calls over `ramp_s`; each caller's first line is timed so that every call is live
    before anyone speaks, and turn ends spread evenly over one turn period (not all at once)."""
    rng = random.Random(7)
    loop = asyncio.get_running_loop()
    start = loop.time()
    first_line_at = start + args.ramp_s + args.greeting_s
    period_s = args.reply_s + 2.0
    ids = []
    for index in range(args.calls):
        await asyncio.sleep(max(0.0, start + index * args.ramp_s / args.calls - loop.time()))
        spread = rng.uniform(0, period_s) if args.calls > 1 else 0.0
        wait_s = max(args.greeting_s, first_line_at - loop.time() - 0.5) + spread
        script: list[dict[str, Any]] = [{"wait": wait_s}]
        for path in lines:
            script += [{"play": str(path)}, {"wait": args.reply_s}]
        await carrier.set_scenario(PHONE, [*script, {"hangup": True}], ring_s=0.2)
        body = await api.request("POST", "/api/calls", json={"persona_id": args.persona, "context": "benchmark"})
        ids.append(body["id"])
    return ids


async def wait_for_calls(carrier: CarrierProcess, timeout_s: float) -> list[str]:
    """Wait until every carrier call has ended (or the timeout passed); returns their CallSids."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    sids = await carrier.call_sids()  # every call was accepted (REST 201) before this runs
    for sid in sids:
        if not await carrier.wait_finished(sid, max(0.0, deadline - loop.time())):
            log.warning("gave up waiting after %.0f s: reporting the calls that ended", timeout_s)
            break
    return sids


async def fetch_reports(carrier: CarrierProcess, sids: list[str]) -> dict[str, CallReport]:
    """Every ended call's report with both recordings, by call id (by CallSid if it never streamed)."""
    reports = {}
    for sid in sids:
        report = await carrier.report(sid)
        if report.finished:
            key = report.streams[0].custom_parameters.get("call_id", sid) if report.streams else sid
            reports[key] = report
    return reports


async def bench(args: argparse.Namespace, data_dir: Path) -> Results:
    port = free_port()
    settings, local = bench_settings(data_dir, port, args)
    engines, times = (
        instant_engines(args.stt_delay_ms / 1000, args.llm_delay_ms / 1000)
        if args.engines == "instant"
        else (None, EngineTimes())
    )
    started = time.monotonic()
    async with carrier_process(local) as (carrier, carrier_cpu):
        app = create_app(settings, engines=engines)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()  # starts PostgreSQL and the engines
        try:
            await web.TCPSite(runner, "127.0.0.1", port).start()
            setup_s = time.monotonic() - started
            async with aiohttp.ClientSession() as session:
                api = Api(session, settings.base_url)
                await api.sign_up_verified(carrier)
                persona = await api.request("GET", f"/api/personas/{args.persona}")
                lines = await caller_lines(app, args, data_dir)
                probe = Probe(app)
                gc.collect()
                rss_before, load_before = rss_kib(), loadavg()
                usage_before, jiffies_before, wall_before = (
                    resource.getrusage(resource.RUSAGE_SELF),
                    busy_jiffies(),
                    time.monotonic(),
                )
                with GcPauses() as gc_pauses:
                    async with asyncio.TaskGroup() as tg:
                        probe_task = tg.create_task(probe.run())
                        ids = await place_calls(api, carrier, lines, args)
                        sids = await wait_for_calls(carrier, args.timeout_s)
                        probe_task.cancel()
                usage_after, jiffies_after, wall_s = (
                    resource.getrusage(resource.RUSAGE_SELF),
                    busy_jiffies(),
                    time.monotonic() - wall_before,
                )
                probe.finish()
                await asyncio.sleep(0.5)  # the server side of the last hang-ups
                gc.collect()
                rss_after, load_after = rss_kib(), loadavg()
                leaked = sum(isinstance(thing, Call) for thing in gc.get_objects())
                await app[RECORDER].flush()
                calls = [await api.request("GET", f"/api/calls/{call_id}") for call_id in ids]
                reports = await fetch_reports(carrier, sids)
        finally:
            await runner.cleanup()  # calls, engines, pool, PostgreSQL
    busy = jiffies_after[0] - jiffies_before[0]
    total = jiffies_after[1] - jiffies_before[1]
    cpu_s = (usage_after.ru_utime - usage_before.ru_utime) + (usage_after.ru_stime - usage_before.ru_stime)
    end_silence_ms = persona.get("end_of_turn_silence_ms") or settings.turns.end_silence_ms
    return Results(
        args=args,
        setup_s=setup_s,
        wall_s=wall_s,
        calls=calls,
        reports=reports,
        ear={call_id: ear_turns(r.caller_pcm, r.heard_pcm) for call_id, r in reports.items()},
        jitter=probe.jitter,
        engine_times=times,
        end_of_turn_ms=math.ceil(end_silence_ms / WINDOW_MS) * WINDOW_MS,
        cpu_s=cpu_s,
        carrier_cpu_s=carrier_cpu[0].seconds if carrier_cpu else float("nan"),
        machine_busy_cores=os_cores() * busy / total if total else 0.0,
        rss_before_kib=rss_before,
        rss_after_kib=rss_after,
        peak_rss_kib=probe.peak_rss_kib,
        peak_live=probe.peak_live,
        calls_alive_after=leaked,
        lag_ms=probe.lag_ms,
        gc_ms=gc_pauses.ms,
        load=(load_before, load_after),
    )


def os_cores() -> int:
    import os

    return os.cpu_count() or 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", choices=("embedded", "instant"), default="instant")
    parser.add_argument("--calls", type=int, default=1)
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--persona", default="brad")
    parser.add_argument("--ramp-s", type=float, default=None, help="spread call starts over this long")
    parser.add_argument("--greeting-s", type=float, default=None, help="caller silence for the greeting")
    parser.add_argument("--reply-s", type=float, default=None, help="caller silence after each line")
    parser.add_argument("--first-token-timeout-s", type=float, default=8.0)
    parser.add_argument("--speculative-reply", choices=("on", "off"), default="on", help="[turns] speculative_reply")
    parser.add_argument("--stt-delay-ms", type=float, default=0.0, help="instant engines: speech-to-text time")
    parser.add_argument("--llm-delay-ms", type=float, default=0.0, help="instant engines: time to first token")
    parser.add_argument("--timeout-s", type=float, default=540.0, help="give up on calls after this long")
    parser.add_argument("--verbose", action="store_true", help="server logs at INFO")
    parser.add_argument("--profile", type=Path, help="write cProfile stats of the whole run here")
    args = parser.parse_args(argv)
    embedded = args.engines == "embedded"
    if args.ramp_s is None:
        args.ramp_s = 0.0 if args.calls == 1 else args.calls / 10  # 10 call starts a second
    if args.greeting_s is None:
        args.greeting_s = 10.0 if embedded else 3.0
    if args.reply_s is None:
        args.reply_s = 12.0 if embedded else 3.0
    return args


async def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench-calls-") as tmp:
        results = await bench(args, Path(tmp))
    print_results(results)


if __name__ == "__main__":
    options = parse_args()
    if options.profile:
        import cProfile

        cProfile.run("asyncio.run(main())", str(options.profile))
    else:
        asyncio.run(main())
