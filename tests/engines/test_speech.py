"""Piper speaks, the phone leg mangles it, Whisper hears it: the embedded voice loop end to end."""

from __future__ import annotations

import asyncio

import pytest

from media.stt import SpeechToTextError
from media.stt_whisper import WhisperSpeechToText
from media.tts import TextToSpeechError
from media.tts_piper import PiperTextToSpeech
from tests.engines.pitch import median_f0
from tests.engines.settings import WHISPER
from tests.engines.speech import mulaw_round_trip, spoken
from tests.engines.wer import word_error_rate, words

pytestmark = pytest.mark.engines

SENTENCES = [
    "I went for a run this morning but I skipped the gym after work.",
    "Can you call me back tomorrow at seven in the morning?",
]
PITCH_TEXT = (  # long enough (~8 s) for a stable median: per-render prosody noise moves it a few Hz
    "Hey, it is good to hear from you. How did your day go? Tell me about the hard parts too. "
    "I remember you said the meeting was worrying you, so I wanted to check in before dinner."
)


@pytest.mark.parametrize("voice", ["brad", "sarah", "alex"])
async def test_whisper_hears_each_persona_over_the_phone_leg(
    piper_8k: PiperTextToSpeech, whisper: WhisperSpeechToText, voice: str
) -> None:
    errors = total = 0.0
    for text in SENTENCES:
        pcm = mulaw_round_trip(b"".join(await spoken(piper_8k, text, voice)))
        transcript = await whisper.transcribe(pcm, 8000)
        n = len(words(text))
        errors += word_error_rate(text, transcript.text) * n
        total += n
        assert transcript.audio_s == pytest.approx(len(pcm) / 2 / 8000)
        assert transcript.compute_s > 0
    assert errors / total <= 0.10, f"{voice}: {errors / total:.0%} of words wrong"


async def test_whisper_takes_16k_and_queues_concurrent_utterances(
    piper_8k: PiperTextToSpeech, whisper: WhisperSpeechToText
) -> None:
    """One worker thread: two calls at once both succeed, and the second one waited for the first."""
    import numpy as np
    import soxr

    pcm8 = b"".join(await spoken(piper_8k, SENTENCES[0], "sarah"))
    pcm16 = soxr.resample(np.frombuffer(pcm8, "<i2"), 8000, 16000).astype("<i2").tobytes()
    first, second = await asyncio.gather(whisper.transcribe(pcm16, 16000), whisper.transcribe(pcm8, 8000))
    for transcript in (first, second):
        assert word_error_rate(SENTENCES[0], transcript.text) <= 0.10
    assert max(first.queued_s, second.queued_s) >= min(first.compute_s, second.compute_s) * 0.8


def test_the_engine_tests_run_whisper_as_configured(make_settings) -> None:
    assert make_settings("postgresql://unused@127.0.0.1/unused").whisper == WHISPER


async def test_whisper_hears_all_of_an_utterance_longer_than_its_short_window(
    piper_8k: PiperTextToSpeech, whisper: WhisperSpeechToText
) -> None:
    """Over 15 s of speech, more than the 15 s encoder window: decoded on the full one, or the end would be
    lost. No repetition in it (a transcript that looks like a loop is decoded again anyway)."""
    assert WHISPER.encoder_window_s == 15.0
    text = " ".join([PITCH_TEXT, *SENTENCES, "My sister is visiting this weekend, so I will be pretty busy."])
    pcm = mulaw_round_trip(b"".join(await spoken(piper_8k, text, "sarah")))
    assert len(pcm) / 2 / 8000 > 15.0
    transcript = await whisper.transcribe(pcm, 8000)
    assert word_error_rate(text, transcript.text) <= 0.15, transcript.text
    assert words(transcript.text)[-3:] == words(text)[-3:]  # the end was heard


async def test_whisper_silence_is_empty_and_bad_input_is_refused(whisper: WhisperSpeechToText) -> None:
    silence = await whisper.transcribe(b"\0\0" * 8000, 8000)
    assert silence.text == ""
    assert (await whisper.transcribe(b"", 8000)).text == ""
    with pytest.raises(SpeechToTextError):
        await whisper.transcribe(b"\0\0\0", 8000)  # half a sample


async def test_piper_yields_a_chunk_per_sentence_at_the_output_rate(piper_8k: PiperTextToSpeech) -> None:
    chunks = await spoken(piper_8k, "First sentence here. And a second one. Third!", "brad")
    assert piper_8k.sample_rate == 8000
    assert len(chunks) == 3
    assert all(len(chunk) % 2 == 0 and len(chunk) > 0.2 * 8000 * 2 for chunk in chunks)
    assert await spoken(piper_8k, "   ", "brad") == []
    for bad in ({"piper": {"pitch_semitones": 40}}, {"piper": {"length_scale": "fast"}}, {"piper": {"tempo": 1}}):
        with pytest.raises(TextToSpeechError):
            await spoken(piper_8k, "Hello.", bad)
    assert await spoken(piper_8k, "Hello.", {}), "no piper settings: the default voice speaks"


async def test_persona_voices_differ_in_pitch_and_pace(piper_8k: PiperTextToSpeech) -> None:
    """Sarah must not sound like Brad: her median F0 sits at least 5 semitones above his (10 set)."""
    audio = {v: b"".join(await spoken(piper_8k, PITCH_TEXT, v)) for v in ("brad", "sarah", "alex")}
    f0 = {voice: median_f0(pcm, 8000) for voice, pcm in audio.items()}
    seconds = {voice: len(pcm) / 2 / 8000 for voice, pcm in audio.items()}
    assert all(60 < hz < 300 for hz in f0.values()), f0
    assert f0["sarah"] > f0["brad"] * 2 ** (5 / 12), f0
    assert f0["brad"] < f0["alex"] < f0["sarah"], f0
    assert seconds["alex"] < seconds["brad"] < seconds["sarah"], seconds
