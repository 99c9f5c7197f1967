"""What the real-time audio primitives cost, and how steady the pacer is under load.

    .venv/bin/python bench/media_primitives.py [--pacer-seconds 5] [--streams 1 20 50]

Per-frame costs are the mean of many calls on one core; the inbound chain (mu-law decode, VAD, turn
detector) per 20 ms frame bounds how many calls one core can listen to. Pacer jitter is measured with
N pacers running at once on one event loop, each sending 50 frames a second to a no-op sink.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from media.codec import pcm16_to_ulaw, read_wav, ulaw_to_pcm16
from media.framing import Framer
from media.pacer import Pacer, PacerSettings
from media.resample import StreamResampler, resample
from media.turns import TurnDetector, TurnSettings
from media.twilio_stream import StreamDecoder
from media.vad import VadSettings, voice_activity

SPEECH = Path(__file__).resolve().parent.parent / "tests/media/fixtures/call_me_back.wav"
TURNS = TurnSettings(
    min_speech_ms=300,
    barge_in_min_speech_ms=400,
    speculative_silence_ms=150,
    end_silence_ms=350,
    prefix_padding_ms=300,
)


def per_call_us(fn: Callable[[], object], calls: int) -> float:
    fn()
    started = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - started) / calls * 1e6


def bench_codec(pcm: bytes) -> None:
    frame = pcm[:320]
    ulaw = pcm16_to_ulaw(frame)
    print(f"mu-law encode, 20 ms frame:          {per_call_us(lambda: pcm16_to_ulaw(frame), 20000):8.2f} us")
    print(f"mu-law decode, 20 ms frame:          {per_call_us(lambda: ulaw_to_pcm16(ulaw), 20000):8.2f} us")
    framer = Framer(160, b"\xff")
    print(f"framer push, 480 B (3 frames out):   {per_call_us(lambda: framer.push(ulaw * 3), 20000):8.2f} us")


def bench_resample(pcm: bytes) -> None:
    for in_rate, out_rate in [(8000, 16000), (22050, 8000), (24000, 8000), (16000, 8000), (48000, 8000)]:
        source = resample(pcm * 2, 8000, in_rate)
        size = in_rate // 50 * 2
        frames = [source[i : i + size] for i in range(0, len(source) - size, size)]
        resampler = StreamResampler(in_rate, out_rate)
        resampler.process(frames[0])
        started = time.perf_counter()
        for frame in frames * 20:
            resampler.process(frame)
        per_frame = (time.perf_counter() - started) / (len(frames) * 20) * 1e6
        print(f"stream resample {in_rate:>5} -> {out_rate:>5}, 20 ms: {per_frame:8.2f} us")
    utterance = pcm[: 2 * 8000]
    one_shot = per_call_us(lambda: resample(utterance, 8000, 16000), 200)
    print(f"one-shot resample 1 s 8k -> 16k:     {one_shot:8.2f} us")


def bench_vad(pcm: bytes) -> None:
    for engine, rate in [("silero", 8000), ("silero", 16000), ("webrtc", 8000)]:
        audio = resample(pcm, 8000, rate) * 4
        settings = VadSettings(engine=engine, threshold=0.5, webrtc_mode=3, energy_gate_dbfs=-120.0)  # type: ignore[arg-type]
        vad = voice_activity(settings, rate)
        vad.feed(audio[:6400])
        started = time.perf_counter()
        windows = vad.feed(audio)
        per_window = (time.perf_counter() - started) / len(windows) * 1e6
        print(f"VAD {engine} at {rate:>5} Hz, per {vad.window_ms:.0f} ms window: {per_window:8.2f} us")
    silence = bytes(2 * 8000 * 4)
    vad = voice_activity(VadSettings(engine="silero", threshold=0.5, webrtc_mode=3, energy_gate_dbfs=-55.0), 8000)
    vad.feed(silence)  # warm up (the settled-in-silence state is computed once per process)
    started = time.perf_counter()
    windows = vad.feed(silence)
    per_window = (time.perf_counter() - started) / len(windows) * 1e6
    print(f"VAD silero, silence under the energy gate:  {per_window:8.2f} us per window (model not run)")


def bench_inbound_chain(pcm: bytes) -> None:
    """Everything done per received Twilio frame before STT: the JSON message, base64, mu-law, VAD, turn
    detection; on a line that is half speech, half digital silence, with the VAD's energy gate on and off."""
    ulaw = pcm16_to_ulaw(pcm + bytes(len(pcm)))
    sid = "MZ" + "0" * 32
    frames = [ulaw[i : i + 160] for i in range(0, len(ulaw) - 160, 160)] * 5
    messages = [
        json.dumps(
            {
                "event": "media",
                "sequenceNumber": str(n + 2),
                "streamSid": sid,
                "media": {"track": "inbound", "chunk": str(n + 1), "timestamp": str(20 * n), "payload": b64(f)},
            }
        )
        for n, f in enumerate(frames)
    ]
    for gate_dbfs in (-120.0, -55.0):
        decoder = StreamDecoder()
        decoder.stream_sid = sid
        vad = voice_activity(
            VadSettings(engine="silero", threshold=0.5, webrtc_mode=3, energy_gate_dbfs=gate_dbfs), 8000
        )
        turns = TurnDetector(TURNS)
        started = time.perf_counter()
        events = 0
        for message in messages:
            media = decoder.decode(message)
            for window in vad.feed(ulaw_to_pcm16(media.ulaw)):  # type: ignore[union-attr]
                events += len(turns.push(window))
        per_frame = (time.perf_counter() - started) / len(frames) * 1e6
        gate = "off" if gate_dbfs <= -120 else f"{gate_dbfs:.0f} dBFS"
        print(
            f"inbound chain (JSON+base64+mu-law+silero+turns, energy gate {gate}), per 20 ms frame: {per_frame:.1f} us"
            f" = {per_frame / 20000 * 100:.2f}% of a core per call ({events} events)"
        )


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def bench_pacer(streams: int, seconds: float) -> None:
    async def sink(_: bytes) -> None:
        return None

    pacers = [Pacer(PacerSettings(lead_ms=200), sink) for _ in range(streams)]
    frames = int(seconds * 50)
    for pacer in pacers:
        for _ in range(frames):
            pacer.put(b"\xff" * 160, 20.0)
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(p.run()) for p in pacers]
        await asyncio.sleep(seconds)
        for task in tasks:
            task.cancel()
    stats = [p.jitter() for p in pacers]
    p50 = float(np.median([j.p50_ms for j in stats]))
    print(
        f"pacer, {streams:>3} streams x {seconds:.0f} s: jitter p50 {p50:.3f} ms, "
        f"worst stream p99 {max(j.p99_ms for j in stats):.3f} ms, max {max(j.max_ms for j in stats):.3f} ms "
        f"({sum(j.count for j in stats)} frames)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pacer-seconds", type=float, default=5.0)
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 20, 50])
    args = parser.parse_args()
    pcm = read_wav(SPEECH).pcm
    bench_codec(pcm)
    bench_resample(pcm)
    bench_vad(pcm)
    bench_inbound_chain(pcm)
    for streams in args.streams:
        asyncio.run(bench_pacer(streams, args.pacer_seconds))


if __name__ == "__main__":
    main()
