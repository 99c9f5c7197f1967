"""Streaming resampling: frame by frame equals one pass, no clicks at frame edges, no aliasing, low delay."""

from __future__ import annotations

import numpy as np
import pytest
import soxr

from media import codec
from media.resample import StreamResampler, resample

PAIRS = [(8000, 16000), (22050, 8000), (24000, 8000), (16000, 8000), (48000, 8000), (8000, 48000)]


def tone(rate: int, hz: float, seconds: float, amplitude: float = 10000.0) -> np.ndarray:
    return (np.sin(2 * np.pi * hz * np.arange(round(rate * seconds)) / rate) * amplitude).astype("<i2")


def stream(resampler: StreamResampler, pcm: bytes, chunk_bytes: int) -> tuple[bytes, list[int]]:
    """Feed `pcm` in chunks, then flush; return the output and the output offsets of chunk edges."""
    out = bytearray()
    edges = []
    for i in range(0, len(pcm), chunk_bytes):
        out += resampler.process(pcm[i : i + chunk_bytes])
        edges.append(len(out) // 2)
    out += resampler.flush()
    return bytes(out), edges


def sine_residual(samples: np.ndarray, rate: int, hz: float) -> tuple[float, np.ndarray]:
    """Least-squares fit of a sine at `hz` (any amplitude, phase): its amplitude and the residual."""
    t = np.arange(samples.size) / rate
    basis = np.stack([np.sin(2 * np.pi * hz * t), np.cos(2 * np.pi * hz * t)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, samples.astype(np.float64), rcond=None)
    return float(np.hypot(*coef)), samples - basis @ coef


@pytest.mark.parametrize(("in_rate", "out_rate"), PAIRS)
def test_frame_by_frame_matches_one_pass(in_rate: int, out_rate: int) -> None:
    pcm = tone(in_rate, 440, 1.0).tobytes()
    framed, _ = stream(StreamResampler(in_rate, out_rate), pcm, in_rate // 50 * 2)
    whole, _ = stream(StreamResampler(in_rate, out_rate), pcm, len(pcm))
    a, b = np.frombuffer(framed, "<i2"), np.frombuffer(whole, "<i2")
    assert a.size == b.size == out_rate
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize(("in_rate", "out_rate"), PAIRS)
def test_no_discontinuity_at_frame_edges(in_rate: int, out_rate: int) -> None:
    """The output is a clean sine everywhere, edges included; resampling each frame on its own (the
    bug this module exists to prevent) leaves steps of hundreds of LSB at every edge."""
    pcm = tone(in_rate, 440, 1.0).tobytes()
    out, edges = stream(StreamResampler(in_rate, out_rate), pcm, in_rate // 50 * 2)
    samples = np.frombuffer(out, "<i2")
    steady = slice(out_rate // 10, -out_rate // 10)  # away from the start and end transients
    amplitude, residual = sine_residual(samples[steady], out_rate, 440)
    assert amplitude == pytest.approx(10000, rel=0.002)
    snr_db = 20 * np.log10(amplitude / np.sqrt(2) / residual.std())
    assert snr_db > 70
    start = out_rate // 10
    inner_edges = [e - start for e in edges if start + 2 <= e < samples.size - out_rate // 10 - 2]
    assert len(inner_edges) > 30
    at_edges = np.abs(np.concatenate([residual[e - 2 : e + 2] for e in inner_edges]))
    assert at_edges.max() < 10

    naive = b"".join(resample(pcm[i : i + in_rate // 25], in_rate, out_rate) for i in range(0, len(pcm), in_rate // 25))
    naive_samples = np.frombuffer(naive, "<i2")[steady]
    _, naive_residual = sine_residual(naive_samples, out_rate, 440)
    assert np.abs(naive_residual).max() > 300


def test_tone_above_new_nyquist_is_removed_where_ratecv_aliases_it() -> None:
    """5 kHz in 22050 Hz TTS output cannot exist at 8 kHz: it must vanish, not fold to 3 kHz hiss."""
    pcm = tone(22050, 5000, 1.0).tobytes()
    out, _ = stream(StreamResampler(22050, 8000), pcm, 882)
    samples = np.frombuffer(out, "<i2")[800:-800].astype(np.float64)
    soxr_db = 20 * np.log10(np.sqrt(np.mean(samples**2)) / (10000 / np.sqrt(2)))
    assert soxr_db < -60

    folded, _ = codec.audioop.ratecv(pcm, 2, 1, 22050, 8000, None)
    alias = np.frombuffer(folded, "<i2")[800:-800]
    alias_amplitude, _ = sine_residual(alias, 8000, 3000)
    assert 20 * np.log10(alias_amplitude / 10000) > -6  # ratecv lets most of it through as 3 kHz


@pytest.mark.parametrize(("in_rate", "out_rate"), [(8000, 16000), (22050, 8000), (24000, 8000)])
def test_every_frame_comes_out_at_once(in_rate: int, out_rate: int) -> None:
    """After the first two frames each 20 ms in gives 20 ms out, at most ~30 ms behind: soxr's fixed-ratio
    engine would hold ~100 ms and release it in bursts (see the module docstring)."""
    resampler = StreamResampler(in_rate, out_rate)
    frame = tone(in_rate, 300, 0.02).tobytes()
    fed = produced = 0
    for n in range(50):
        out = resampler.process(frame)
        fed += in_rate // 50
        produced += len(out) // 2
        if n >= 2:
            assert len(out) // 2 == out_rate // 50
        behind_ms = (fed / in_rate - produced / out_rate) * 1000
        assert behind_ms <= 31


def test_reset_leaks_nothing_of_the_previous_signal() -> None:
    """Barge-in: without reset the interrupted reply's last ~30 ms come out ahead of the next one."""
    interrupted = tone(24000, 1000, 0.2).tobytes()
    kept = StreamResampler(24000, 8000)
    kept.process(interrupted)
    leaked, _ = stream(kept, bytes(2 * 2400), 960)
    assert np.abs(np.frombuffer(leaked, "<i2")).max() > 1000

    resampler = StreamResampler(24000, 8000)
    resampler.process(interrupted)
    resampler.reset()
    after, _ = stream(resampler, bytes(2 * 2400), 960)
    assert len(after) == 2 * 800
    assert not np.any(np.frombuffer(after, "<i2"))


def test_flush_returns_the_tail_and_restarts() -> None:
    resampler = StreamResampler(8000, 16000)
    pcm = tone(8000, 500, 0.5).tobytes()
    first, _ = stream(resampler, pcm, 320)
    second, _ = stream(resampler, pcm, 320)
    assert len(first) == len(second) == 2 * 8000
    assert first == second  # flush left no state behind


def test_odd_byte_waits_for_its_partner() -> None:
    pcm = tone(8000, 440, 0.1).tobytes()
    even, _ = stream(StreamResampler(8000, 16000), pcm, 160)
    odd, _ = stream(StreamResampler(8000, 16000), pcm, 161)
    assert even == odd


def test_one_shot_resample_is_aligned() -> None:
    pcm = tone(22050, 440, 0.5).tobytes()
    out = np.frombuffer(resample(pcm, 22050, 8000), "<i2")
    assert out.size == 4000
    reference = tone(8000, 440, 0.5).astype(np.int32)
    assert np.abs(out[200:-200] - reference[200:-200]).max() < 10


def test_why_not_the_fixed_ratio_engine() -> None:
    """soxr's default engine holds ~100 ms and releases it in bursts. If this starts failing, a soxr
    release changed that, and the variable-rate choice in media.resample can be revisited."""
    fixed = soxr.ResampleStream(8000, 16000, 1, dtype="float32", quality="HQ")
    frame = tone(8000, 300, 0.02).astype(np.float32) / 32768
    sizes = [fixed.resample_chunk(frame).size for _ in range(10)]
    assert sizes[:5] == [0, 0, 0, 0, 0]
    assert max(sizes) > 1000
