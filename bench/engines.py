"""Measure the embedded engines on this machine: `python -m bench.engines [stt] [tts] [llm]`.

Prints one line per figure. STT is fed Piper speech through the phone path (8 kHz, mu-law round
trip), so its WER is on the audio a caller's words would really have; the LLM part joins the model
into a fresh temporary data dir, so the join and the cold start are measured too.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from contextlib import aclosing
from dataclasses import replace
from pathlib import Path

from media.stt_whisper import WhisperSpeechToText
from media.tts_piper import PiperTextToSpeech
from personas.gguf_parts import KNOWN_MODELS, ensure_joined, find_parts
from personas.llm import OpenAiLanguageModel, TextDelta, ToolCall
from personas.local_llm import LocalLlmServer
from tests.engines.pitch import median_f0
from tests.engines.settings import LOCAL_REQUESTS, VOICES, WHISPER, local_llm, piper
from tests.engines.speech import mulaw_round_trip
from tests.engines.wer import word_error_rate, words

SENTENCES = [
    "I went for a run this morning but I skipped the gym after work.",
    "Can you call me back tomorrow at seven in the morning?",
    "My sister is visiting this weekend so I will be pretty busy.",
    "Honestly I feel tired, but I finished the report before lunch.",
    "Okay, bye for now, you can hang up.",
    "I ate a salad for dinner and went to bed early last night.",
]
STT_RENDERS = 3


async def speak(tts: PiperTextToSpeech, text: str, voice: str) -> bytes:
    async with aclosing(tts.synthesize(text, VOICES[voice])) as chunks:
        return b"".join([chunk async for chunk in chunks])


async def bench_tts() -> None:
    for rate in (8000, 16000):
        async with PiperTextToSpeech(piper(rate)) as tts:
            await speak(tts, "Warm up.", "brad")
            for voice in VOICES:
                firsts, rtfs, audio = [], [], b""
                for text in SENTENCES:
                    started = time.perf_counter()
                    first = None
                    pcm = b""
                    async with aclosing(tts.synthesize(text, VOICES[voice])) as chunks:
                        async for chunk in chunks:
                            first = first or time.perf_counter() - started
                            pcm += chunk
                    firsts.append(first or 0.0)
                    rtfs.append((time.perf_counter() - started) / (len(pcm) / 2 / rate))
                    audio += pcm
                first_ms = statistics.median(firsts) * 1000
                print(
                    f"tts piper {voice:5s} @{rate}: first audio median {first_ms:.0f} ms"
                    f" (max {max(firsts) * 1000:.0f}), RTF median {statistics.median(rtfs):.3f},"
                    f" median F0 {median_f0(audio, rate):.0f} Hz"
                )


async def bench_stt() -> None:
    async with PiperTextToSpeech(piper(8000)) as tts:
        utterances = []
        for _render in range(STT_RENDERS):  # Piper varies each rendering: more samples of each voice
            for voice in VOICES:
                for text in SENTENCES:
                    utterances.append((voice, text, mulaw_round_trip(await speak(tts, text, voice))))
    variants = [
        ("beam 1, 2 threads, vad on, 15 s window (default)", WHISPER),
        ("full 30 s window", replace(WHISPER, encoder_window_s=30.0)),
        ("beam 5", replace(WHISPER, beam_size=5)),
        ("1 thread", replace(WHISPER, cpu_threads=1)),
        ("vad off", replace(WHISPER, vad_filter=False)),
    ]
    for label, settings in variants:
        async with WhisperSpeechToText(settings) as stt:
            await stt.transcribe(utterances[0][2], 8000)  # warm-up
            latencies, errors, ref_words = [], 0.0, 0
            per_voice: dict[str, list[float]] = {}
            for voice, text, pcm in utterances:
                result = await stt.transcribe(pcm, 8000)
                latencies.append(result.latency_s)
                n = len(words(text))
                wer = word_error_rate(text, result.text)
                errors += wer * n
                ref_words += n
                per_voice.setdefault(voice, []).append(wer)
                if wer > 0 and label == variants[0][0]:
                    print(f"  {voice}: {text!r} -> {result.text!r}")
            audio_s = sum(len(u[2]) / 2 / 8000 for u in utterances)
            voices = ", ".join(f"{v} {statistics.mean(w) * 100:.1f}%" for v, w in per_voice.items())
            print(
                f"stt whisper tiny.en {label}: latency median {statistics.median(latencies) * 1000:.0f} ms"
                f" (max {max(latencies) * 1000:.0f}) for {audio_s / len(utterances):.1f} s utterances,"
                f" RTF {sum(latencies) / audio_s:.3f}, WER {errors / ref_words * 100:.1f}% ({voices})"
            )


async def bench_llm(model: str) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        parts = KNOWN_MODELS[model]
        started = time.perf_counter()
        ensure_joined(parts, find_parts(parts), Path(data_dir) / "models")
        print(f"llm {model}: join + verify {time.perf_counter() - started:.2f} s (cold)")
        async with LocalLlmServer(local_llm(Path(data_dir), model)) as server:
            assert server.timings is not None
            timings = server.timings
            print(
                f"llm {model}: start {timings.prepare_s + timings.load_s:.2f} s"
                f" (prepare {timings.prepare_s:.2f} s with the sidecar, load {timings.load_s:.2f} s)"
            )
            llm = OpenAiLanguageModel(server.client_settings(LOCAL_REQUESTS))
            system = (
                "You are Sarah, a warm and caring friend. You are on a phone call with Jordan, who asked you"
                " to call back and check in on how the day went. Speak naturally, like a real person on the"
                " phone: one or two short sentences per reply, no lists, no emojis, no stage directions."
                " Ask one gentle follow-up question when it helps. Remember what Jordan tells you and refer"
                " back to it. If Jordan says goodbye, say a short warm goodbye. Today is Monday 4 May 2026;"
                " Jordan's timezone is Europe/Paris and the local time is 18:30."
            )
            history = [{"role": "system", "content": system}]
            for turn in ["Hi Sarah, it's Jordan.", "I have a job interview tomorrow.", "What should I do?"]:
                history.append({"role": "user", "content": turn})
                started = time.perf_counter()
                first, text, usage = None, "", None
                async with aclosing(llm.complete(history)) as events:
                    async for event in events:
                        if isinstance(event, TextDelta):
                            first = first or time.perf_counter() - started
                            text += event.text
                        elif not isinstance(event, ToolCall):
                            usage = event.usage
                total = time.perf_counter() - started
                tokens = usage.completion_tokens if usage else 0
                cached = usage.cached_prompt_tokens if usage else None
                rate = (tokens - 1) / (total - first) if first and tokens > 1 else 0.0
                print(
                    f"llm {model}: first token {(first or 0) * 1000:.0f} ms, {rate:.0f} tok/s,"
                    f" {tokens} tokens in {total:.2f} s (cached prompt {cached})"
                    f": {text.strip()[:80]!r}"
                )
                history.append({"role": "assistant", "content": text})
            await llm.aclose()
            stop_started = time.perf_counter()
        print(f"llm {model}: stop {time.perf_counter() - stop_started:.2f} s")


async def main(parts: list[str]) -> None:
    if "tts" in parts:
        await bench_tts()
    if "stt" in parts:
        await bench_stt()
    if "llm" in parts:
        await bench_llm("qwen2.5-coder-0.5b")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:] or ["tts", "stt", "llm"]))
