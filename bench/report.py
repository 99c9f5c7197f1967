"""The call benchmark's figures: what was measured, how it is defined, and the PASS/MISS per target."""

from __future__ import annotations

import argparse
import statistics
from collections import Counter
from dataclasses import dataclass
from typing import Any

from bench.ear import EarTurn, greeting_ms
from bench.instant_engines import EngineTimes
from orchestrator.carrier.report import CallReport

STAGES = (
    "transcript",
    "llm_first_token",
    "tts_first_audio",
    "first_frame_queued",
    "first_frame_sent",
    "first_mark_echoed",
)
VOICE_TO_VOICE_P50_MS = 900.0
OVERHEAD_P99_MS = 10.0
JITTER_P99_MS = 20.0


@dataclass
class Results:
    args: argparse.Namespace
    setup_s: float
    wall_s: float
    calls: list[dict[str, Any]]  # GET /api/calls/{id}
    reports: dict[str, CallReport]  # by call id
    ear: dict[str, list[EarTurn]]
    jitter: dict[str, Any]  # call id -> media.pacer.JitterStats
    engine_times: EngineTimes
    end_of_turn_ms: float
    cpu_s: float  # this process (the server) while calls ran
    carrier_cpu_s: float  # the carrier's process, over the whole run (setup included)
    machine_busy_cores: float
    rss_before_kib: int
    rss_after_kib: int
    peak_rss_kib: int
    peak_live: int
    calls_alive_after: int  # media.call.Call objects still reachable once every call ended: a leak if > 0
    lag_ms: list[float]
    gc_ms: dict[int, list[float]]  # the server's garbage-collection pauses by generation
    load: tuple[list[str], list[str]]


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def _row(name: str, values: list[float], unit: str = "ms") -> str:
    return (
        f"  {name:<34} n={len(values):<5} p50 {pct(values, 50):8.1f}  p95 {pct(values, 95):8.1f}"
        f"  p99 {pct(values, 99):8.1f}  max {max(values, default=float('nan')):8.1f} {unit}"
    )


def _verdict(name: str, ok: bool, got: str) -> str:
    return f"  {'PASS' if ok else 'MISS'}  {name}: {got}"


def print_results(r: Results) -> None:
    args = r.args
    persona_turns = [
        t for c in r.calls for t in c["transcript"] if t["role"] == "persona" and "transcript" in t["latency_ms"]
    ]
    caller_turns = [t for c in r.calls for t in c["transcript"] if t["role"] == "caller"]
    statuses = Counter(c["status"] for c in r.calls)
    ear_turns = [t for turns in r.ear.values() for t in turns]
    clean = [t.voice_to_voice_ms for t in ear_turns if not t.overlapped and t.voice_to_voice_ms is not None]
    streams = [s for rep in r.reports.values() for s in rep.streams]
    call_minutes = sum(len(rep.caller_pcm) / 2 / 8000 for rep in r.reports.values()) / 60
    n = len(r.calls)

    print(
        f"\n== bench/calls.py: {n} call(s), {args.turns} caller turn(s) each, {args.engines} engines, "
        f"persona {args.persona}; speculative replies {args.speculative_reply}"
        + (
            f"; stand-in engine delays: STT {args.stt_delay_ms:.0f} ms, LLM first token {args.llm_delay_ms:.0f} ms"
            if args.stt_delay_ms or args.llm_delay_ms
            else ""
        )
    )
    print(
        f"  machine: {r.machine_busy_cores:.2f} of {_cores()} cores busy during the run (all processes); "
        f"loadavg {' '.join(r.load[0])} before, {' '.join(r.load[1])} after"
    )
    print(
        f"  setup {r.setup_s:.1f} s; calls ran {r.wall_s:.1f} s (ramp {args.ramp_s:.0f} s); "
        f"peak live calls {r.peak_live}; statuses {dict(statuses)}"
    )
    print(
        f"  persona turns answering a caller: {len(persona_turns)}; interrupted persona turns: "
        f"{sum(1 for c in r.calls for t in c['transcript'] if t['role'] == 'persona' and t['interrupted'])}; "
        f"carrier errors {sum(len(rep.errors) for rep in r.reports.values())}; "
        f"malformed server messages {sum(s.invalid_messages for s in streams)}"
    )

    print("\n-- per-turn stage latency, ms after the caller stopped speaking (media/call.py stamps, from the database)")
    print(
        _row(
            "stt (caller row stt_ms: engine only)",
            [t["latency_ms"]["stt_ms"] for t in caller_turns if "stt_ms" in t["latency_ms"]],
        )
    )
    for stage in STAGES:
        print(_row(stage, [t["latency_ms"][stage] for t in persona_turns if stage in t["latency_ms"]]))
    print(
        "  ('stopped speaking' = the turn detector's end of voiced audio; the turn is declared "
        f"{r.end_of_turn_ms:.0f} ms of VAD time later)"
    )
    if n == 1:  # one call: each turn, to see which reply was slow and why (a long first sentence, say)
        for turn in persona_turns:
            stamps = " ".join(f"{turn['latency_ms'].get(stage, float('nan')):6.0f}" for stage in STAGES)
            print(f"  turn {stamps}  {turn['text'][:70]!r}")

    print(
        "\n-- voice-to-voice at the caller's ear (carrier recordings: last audible caller sample -> "
        "first audible persona sample)"
    )
    print(_row("voice_to_voice", clean))
    greetings = [greeting_ms(rep.caller_pcm, rep.heard_pcm) for rep in r.reports.values()]
    print(_row("greeting heard (after stream start)", [ms for ms in greetings if ms is not None]))
    print(
        f"  caller utterances {len(ear_turns)}; clean turns {len(clean)}; persona still audible when caller stopped "
        f"{sum(t.overlapped for t in ear_turns)}; no reply heard before the next line "
        f"{sum(t.voice_to_voice_ms is None for t in ear_turns)}"
    )

    overhead: list[float] = []
    times = r.engine_times
    if times.stt_s:
        engine_ms = 1000 * sum(statistics.fmean(x) for x in (times.stt_s, times.llm_first_s, times.tts_first_s) if x)
        overhead = [
            t["latency_ms"]["first_frame_sent"] - r.end_of_turn_ms - engine_ms
            for t in persona_turns
            if "first_frame_sent" in t["latency_ms"]
        ]
        print("\n-- orchestration overhead (instant engines)")
        print(
            f"  = first_frame_sent - end-of-turn silence ({r.end_of_turn_ms:.0f} ms: the persona's "
            "end_of_turn_silence_ms rounded up to the 32 ms VAD window)"
        )
        print(
            "    - the engines' own time to first output "
            f"(mean STT + LLM first token + TTS first chunk = {engine_ms:.3f} ms)"
        )
        print(
            "    i.e. turn detected -> queue to STT -> reply task -> sentence split -> resample/frame -> pacer"
            " -> first frame handed to the websocket"
        )
        print(_row("orchestration_overhead", overhead))

    per_call_p99 = [j.p99_ms for j in r.jitter.values() if j.count]
    print("\n-- outbound frame jitter (media/pacer.py: send lateness vs schedule, last 3000 frames of each call)")
    print(_row("per-call p50", [j.p50_ms for j in r.jitter.values() if j.count]))
    print(_row("per-call p99", per_call_p99))
    print(_row("per-call max", [j.max_ms for j in r.jitter.values() if j.count]))
    print(
        f"  pacer restarts (queue ran dry) {sum(j.restarts for j in r.jitter.values())}; at the phone: "
        f"dry 20 ms ticks while a mark was pending {sum(s.dry_ticks for s in streams)}; "
        f"phone ticks >10 ms late {sum(s.late_ticks for s in streams)} "
        f"(worst {max((s.max_tick_late_ms for s in streams), default=0):.1f} ms)"
    )
    print(_row("event-loop lag (20 ms probe)", r.lag_ms))
    print(
        "  garbage-collection pauses (each stops the loop): "
        + "; ".join(f"gen{g} {len(ms)} x, max {max(ms, default=0.0):.1f} ms" for g, ms in sorted(r.gc_ms.items()))
    )

    print("\n-- resources (the server's process; PostgreSQL, llama.cpp and the carrier are other processes)")
    call_seconds = 60 * call_minutes
    print(
        f"  server CPU {r.cpu_s:.1f} s over {call_seconds:.0f} call-seconds = "
        f"{1000 * r.cpu_s / call_seconds if call_seconds else float('nan'):.2f} CPU ms per call-second "
        f"({r.cpu_s / r.wall_s:.2f} cores over {r.wall_s:.0f} s; "
        f"at this rate one core carries {call_seconds / r.cpu_s if r.cpu_s else float('nan'):.0f} calls)"
    )
    print(f"  carrier process CPU {r.carrier_cpu_s:.1f} s over the whole run (the phones: not the server's cost)")
    recordings_kib = sum(len(x.caller_pcm) + len(x.heard_pcm) for x in r.reports.values()) / 1024 / max(1, n)
    print(
        f"  RSS {r.rss_before_kib / 1024:.0f} MiB before, peak {r.peak_rss_kib / 1024:.0f} MiB "
        f"({(r.peak_rss_kib - r.rss_before_kib) / max(1, r.peak_live):.0f} KiB per live call at peak), "
        f"{r.rss_after_kib / 1024:.0f} MiB after "
        f"({(r.rss_after_kib - r.rss_before_kib) / max(1, n):.0f} KiB growth per call); "
        f"recordings fetched from the carrier ~{recordings_kib:.0f} KiB per call"
    )
    print(f"  Call objects still alive after the run: {r.calls_alive_after}")

    print("\n-- targets")
    if args.engines == "embedded":
        got = (
            f"p50 {pct(clean, 50):.0f} ms over {len(clean)} turns, {n} call(s) "
            f"(target <= {VOICE_TO_VOICE_P50_MS:.0f} ms, 1 call)"
        )
        print(_verdict("voice-to-voice at the ear, embedded engines", pct(clean, 50) <= VOICE_TO_VOICE_P50_MS, got))
    else:
        scale = f" at {n} calls (peak {r.peak_live} live; target set for 200)"
        print(
            _verdict(
                "orchestration overhead p99 <= 10 ms",
                pct(overhead, 99) <= OVERHEAD_P99_MS,
                f"{pct(overhead, 99):.1f} ms{scale}",
            )
        )
        print(
            _verdict(
                "outbound jitter p99 <= 20 ms (p99 across calls of each call's p99)",
                pct(per_call_p99, 99) <= JITTER_P99_MS,
                f"{pct(per_call_p99, 99):.1f} ms{scale}",
            )
        )


def _cores() -> int:
    import os

    return os.cpu_count() or 1
