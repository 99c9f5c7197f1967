"""The persona designer: see the exact prompt a call would get, and hear the persona's voice.

The prompt comes from `call_prompt` over `draft_context`, the same compilation and the same columns a
live call uses (`call_context`), so what the designer shows cannot drift from what the model is told.
"""

from __future__ import annotations

import asyncio
import io
import wave
from typing import Any

from aiohttp import web

from db import calls, personas, rate_limits
from media.tts import TextToSpeechError
from orchestrator.api import ApiRequest, ApiRoutes
from orchestrator.call_plan import call_prompt
from orchestrator.errors import ApiError, not_found, too_many_requests
from orchestrator.keys import ENGINES, POOL, SETTINGS
from orchestrator.schemas import PERSONA_ID
from personas.prompt import estimate_tokens

routes = ApiRoutes()
_ID = {"persona_id": PERSONA_ID}
SAMPLE_TIMEOUT_S = 30.0
PROMPT: dict[str, Any] = {
    "type": "object",
    "required": [
        "layers",
        "system",
        "example",
        "greeting",
        "opening_instruction",
        "opening_fallback",
        "approx_tokens",
    ],
    "properties": {
        "layers": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "text"],
                "properties": {"name": {"type": "string"}, "text": {"type": "string"}},
            },
        },
        "system": {"type": "string"},
        "example": {
            "type": "array",
            "description": "messages the model reads after the system prompt, before the call's own",
            "items": {
                "type": "object",
                "required": ["role", "content"],
                "properties": {"role": {"type": "string"}, "content": {"type": "string"}},
            },
        },
        "greeting": {"type": "string", "description": "the fixed first words, filled in; empty: the model greets"},
        "opening_instruction": {"type": "string"},
        "opening_fallback": {"type": "string"},
        "approx_tokens": {"type": "integer"},
    },
}
SAMPLE_REQUEST = {
    "type": "object",
    "additionalProperties": False,
    "required": ["text"],
    "properties": {"text": {"type": "string", "minLength": 1, "maxLength": 2000, "pattern": r"\S"}},
}


@routes.route(
    "GET",
    "/api/personas/{persona_id}/prompt",
    summary="The exact prompt my next call with this persona would get, layer by layer",
    tag="designer",
    path_params=_ID,
    query={
        "context": {"type": "string", "maxLength": 2000, "default": ""},
        "direction": {"type": "string", "enum": ["outbound", "inbound"], "default": "outbound"},
    },
    responses={200: ("Compiled prompt", PROMPT)},
)
async def get_prompt(req: ApiRequest) -> web.Response:
    context = await calls.draft_context(
        req.app[POOL], req.user["id"], req.path("persona_id"), req.query["context"].strip(), req.query["direction"]
    )
    if context is None:
        raise not_found("persona")
    prompt = call_prompt(context, req.app[SETTINGS].memory.prompt_budget_tokens)
    return web.json_response(
        {
            "layers": [{"name": layer.name, "text": layer.text} for layer in prompt.layers],
            "system": prompt.system,
            "example": list(prompt.example),
            "greeting": prompt.greeting,
            "opening_instruction": prompt.opening_instruction,
            "opening_fallback": prompt.opening_fallback,
            "approx_tokens": estimate_tokens(prompt.system),
        }
    )


@routes.route(
    "POST",
    "/api/personas/{persona_id}/voice-sample",
    summary="Hear this persona say a text (audio/wav, mono 16-bit), from the configured speech engine",
    tag="designer",
    path_params=_ID,
    body=SAMPLE_REQUEST,
    responses={200: ("audio/wav", None)},
)
async def voice_sample(req: ApiRequest) -> web.Response:
    settings = req.app[SETTINGS].memory
    text = " ".join(req.body["text"].split())
    if len(text) > settings.voice_sample_max_chars:
        raise ApiError(
            400, "invalid_field", f"text must be at most {settings.voice_sample_max_chars} characters", field="text"
        )
    persona = await personas.get_persona(req.app[POOL], req.user["id"], req.path("persona_id"))
    if persona is None:
        raise not_found("persona")
    window = await rate_limits.hit(req.app[POOL], f"voice-sample:user:{req.user['id']}", 3600)
    if window.hits > settings.voice_samples_per_hour:
        raise too_many_requests(window.retry_after_s, "too many voice samples; try again later")
    tts = req.app[ENGINES].tts
    chunks: list[bytes] = []
    try:
        async with asyncio.timeout(SAMPLE_TIMEOUT_S):
            async for chunk in tts.synthesize(text, persona["voice"]):
                chunks.append(chunk)
    except TextToSpeechError as error:
        raise ApiError(400, "invalid_voice", f"this persona's voice cannot be rendered: {error}") from None
    except TimeoutError:
        raise ApiError(503, "speech_unavailable", "the speech engine is busy; try again shortly") from None
    return web.Response(body=wav(b"".join(chunks), tts.sample_rate), content_type="audio/wav")


def wav(pcm16: bytes, sample_rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(sample_rate)
        file.writeframes(pcm16)
    return buffer.getvalue()
