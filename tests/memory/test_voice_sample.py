"""The designer's voice sample with the real Piper: a valid WAV, in each persona's own voice."""

from __future__ import annotations

import io
import wave

import pytest

from media.call import Engines
from tests.api.users import sign_up
from tests.engines.pitch import median_f0
from tests.scripted_engines import scripted_engines


@pytest.mark.engines
async def test_voice_sample_speaks_in_the_personas_voice(make_phone_server, piper_8k) -> None:
    scripted, *_ = scripted_engines()
    server = await make_phone_server(engines=Engines(scripted.stt, piper_8k, scripted.llm))
    user = await sign_up(server.client, name="Jordan")
    pitch = {}
    for persona in ("brad", "sarah"):
        response = await user.request(
            "POST", f"/api/personas/{persona}/voice-sample", json={"text": "Hi Jordan, how was your week?"}
        )
        assert response.status == 200, await response.text()
        assert response.content_type == "audio/wav"
        with wave.open(io.BytesIO(await response.read())) as file:
            assert (file.getnchannels(), file.getsampwidth(), file.getframerate()) == (1, 2, 8000)
            seconds = file.getnframes() / 8000
            pcm = file.readframes(file.getnframes())
        assert 0.8 < seconds < 5.0
        pitch[persona] = median_f0(pcm, 8000)
    # Brad is shifted down 3 semitones and Sarah up 7 (migrations/0002): ten semitones apart, about 1.8x.
    assert pitch["sarah"] > 1.4 * pitch["brad"], pitch
