"""A fake OpenAI on 127.0.0.1 speaking the documented wire protocol, for the real SDK and websocket client.

- `POST /v1/audio/transcriptions`: multipart (model, file, language); the file must decode as a PCM16
  WAV; replies {"text": ...}.
- `POST /v1/audio/speech`: JSON; checks model, voice, input (<= 4096), response_format "pcm" and that
  `instructions` only goes to gpt-4o-mini-tts (the real API rejects it elsewhere); streams a 24 kHz
  PCM16 tone in several chunks with delays, split at odd byte offsets. `fault` injects a 500, a stall,
  a body cut short, or an odd byte count.
- `GET /v1/realtime`: websocket; checks the bearer key and the GA session.update, echoes each
  `input_audio_buffer.append` back as an audio delta on one assistant item, records truncates
  (refusing, like the server, an `audio_end_ms` beyond the audio sent), and lets a test push any
  server event or drop the connection.

Every endpoint checks `Authorization: Bearer <api_key>`; failures of a check answer the way OpenAI does
(4xx with {"error": {...}}) and are kept in `problems`, so a test can assert nothing went wrong.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from aiohttp import WSMsgType, web

from media.codec import decode_wav

API_KEY = "sk-test-fake"
PCM_RATE = 24000

Fault = Literal["500", "500-once", "stall", "truncate", "odd"] | None


@dataclass
class FakeOpenAi:
    base_url: str = ""  # "http://127.0.0.1:PORT/v1", set once serving
    transcript_text: str = "call me back tomorrow morning"
    tone_hz: float = 440.0
    tone_s: float = 0.5  # per speech request
    chunks: int = 6
    chunk_delay_s: float = 0.03
    fault: Fault = None
    answer_session_update: bool = True  # False: never confirm the configuration
    beta_audio_events: bool = False  # echo audio as the beta's response.audio.delta
    assistant_item: str = "item_assistant_1"
    echo_audio: bool = True  # answer each input_audio_buffer.append with the same audio (False: only record it)
    problems: list[str] = field(default_factory=list)
    transcriptions: list[dict[str, Any]] = field(default_factory=list)
    speech_requests: list[dict[str, Any]] = field(default_factory=list)
    speech_body_done: list[float] = field(default_factory=list)  # perf_counter when each body ended
    realtime_headers: list[dict[str, str]] = field(default_factory=list)
    realtime_received: list[dict[str, Any]] = field(default_factory=list)
    realtime_ws: web.WebSocketResponse | None = None
    chat_reply: str = "Hi Jordan, it's Sarah. How are you?"
    chat_requests: list[dict[str, Any]] = field(default_factory=list)
    released: asyncio.Event = field(default_factory=asyncio.Event)  # ends stalls at teardown

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        app.router.add_post("/v1/audio/transcriptions", self._transcriptions)
        app.router.add_post("/v1/audio/speech", self._speech)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/realtime", self._realtime)
        return app

    def tone(self) -> bytes:
        t = np.arange(round(PCM_RATE * self.tone_s)) / PCM_RATE
        return (0.5 * 32767 * np.sin(2 * np.pi * self.tone_hz * t)).astype("<i2").tobytes()

    async def push(self, event: dict[str, Any]) -> None:
        """Send a server event on the live realtime connection."""
        assert self.realtime_ws is not None, "no realtime connection"
        await self.realtime_ws.send_json(event)

    async def drop_realtime(self) -> None:
        """The server goes away mid-call (1011 internal error)."""
        assert self.realtime_ws is not None, "no realtime connection"
        await self.realtime_ws.close(code=1011, message=b"server error")

    def _refuse(self, status: int, message: str, code: str = "invalid_request") -> web.Response:
        self.problems.append(message)
        body = {"error": {"message": message, "type": "invalid_request_error", "code": code, "param": None}}
        return web.json_response(body, status=status)

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return self._refuse(401, "Incorrect API key provided", "invalid_api_key")
        return await handler(request)

    # -- transcriptions ---------------------------------------------------------------------------

    async def _transcriptions(self, request: web.Request) -> web.Response:
        if not request.content_type.startswith("multipart/form-data"):
            return self._refuse(400, f"expected multipart, got {request.content_type}")
        form = await request.post()
        upload = form.get("file")
        if not isinstance(upload, web.FileField):
            return self._refuse(400, "no file")
        data = upload.file.read()
        try:
            audio = decode_wav(data)
        except Exception as error:
            return self._refuse(400, f"file is not a PCM16 WAV: {error}")
        self.transcriptions.append(
            {
                "model": form.get("model"),
                "language": form.get("language"),
                "response_format": form.get("response_format"),
                "filename": upload.filename,
                "content_type": upload.content_type,
                "audio": audio,
            }
        )
        if form.get("model") not in ("gpt-4o-mini-transcribe", "gpt-4o-transcribe", "whisper-1"):
            return self._refuse(400, f"unknown model {form.get('model')!r}")
        if self.fault == "500":
            return self._refuse(500, "The server had an error processing your request.", "server_error")
        if self.fault == "stall":
            await self._stall()
        return web.json_response({"text": self.transcript_text, "usage": {"type": "duration", "seconds": 1}})

    # -- chat -------------------------------------------------------------------------------------

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        """Streamed chat completions as server-sent events, a word per chunk, then usage and [DONE]."""
        body = await request.json()
        self.chat_requests.append(body)
        if not isinstance(body.get("temperature"), int | float) or body.get("stream") is not True:
            return self._refuse(400, "temperature must be a number and stream true")
        if self.fault == "500":
            response = self._refuse(500, "The server had an error processing your request.", "server_error")
            response.headers["retry-after-ms"] = "10"
            return response
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": body["model"]}
        words = self.chat_reply.split(" ")
        for index, word in enumerate(words):
            delta = {"role": "assistant", "content": word + (" " if index < len(words) - 1 else "")}
            chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        done = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        usage = {
            **base,
            "choices": [],
            "usage": {"prompt_tokens": 50, "completion_tokens": len(words), "total_tokens": 50 + len(words)},
        }
        await response.write(f"data: {json.dumps(done)}\n\ndata: {json.dumps(usage)}\n\ndata: [DONE]\n\n".encode())
        await response.write_eof()
        return response

    # -- speech -----------------------------------------------------------------------------------

    async def _speech(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.speech_requests.append(body)
        model, text = body.get("model"), body.get("input")
        if model not in ("gpt-4o-mini-tts", "tts-1", "tts-1-hd"):
            return self._refuse(400, f"unknown model {model!r}")
        if not isinstance(body.get("voice"), str) or not body["voice"]:
            return self._refuse(400, "voice is required")
        if not isinstance(text, str) or not text or len(text) > 4096:
            return self._refuse(400, "input must be 1..4096 characters")
        if body.get("response_format") != "pcm":
            return self._refuse(400, f"this fake only streams pcm, got {body.get('response_format')!r}")
        if "instructions" in body and not model.startswith("gpt-4o-mini-tts"):
            return self._refuse(400, f"instructions are not supported with {model}")
        if self.fault in ("500", "500-once"):
            if self.fault == "500-once":
                self.fault = None
            response = self._refuse(500, "The server had an error processing your request.", "server_error")
            response.headers["retry-after-ms"] = "10"  # the SDK honours it: no half-second backoff in tests
            return response

        pcm = self.tone()
        if self.fault == "odd":
            pcm += b"\x00"
        # cut at odd offsets: the client must carry a half sample over to the next chunk
        cuts = [round(len(pcm) * i / self.chunks) | 1 for i in range(1, self.chunks)]
        pieces = [pcm[a:b] for a, b in zip([0, *cuts], [*cuts, len(pcm)], strict=True)]
        response = web.StreamResponse(headers={"Content-Type": "audio/pcm"})
        response.content_length = len(pcm)
        await response.prepare(request)
        for index, piece in enumerate(pieces):
            if index:
                await asyncio.sleep(self.chunk_delay_s)
            if index == 2 and self.fault == "stall":
                await self._stall()
            if index == 2 and self.fault == "truncate":
                assert request.transport is not None
                request.transport.close()  # Content-Length promised more: the client must notice
                return response
            await response.write(piece)
        self.speech_body_done.append(time.perf_counter())
        await response.write_eof()
        return response

    async def _stall(self) -> None:
        async with asyncio.timeout(10):
            await self.released.wait()

    # -- realtime ---------------------------------------------------------------------------------

    async def _realtime(self, request: web.Request) -> web.StreamResponse:
        self.realtime_headers.append(dict(request.headers))
        if request.query.get("model") != "gpt-realtime":
            return self._refuse(400, f"unknown model {request.query.get('model')!r}")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.realtime_ws = ws
        await ws.send_json({"type": "session.created", "event_id": "evt_0", "session": {"type": "realtime"}})
        sent_ms: dict[str, int] = {}
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            event = json.loads(message.data)
            self.realtime_received.append(event)
            kind = event.get("type")
            if kind == "session.update":
                problem = _session_problem(event.get("session"))
                if not self.answer_session_update:
                    continue
                if problem:
                    self.problems.append(problem)
                    await ws.send_json(_error(problem, event))
                else:
                    await ws.send_json({"type": "session.updated", "event_id": "evt_1", "session": event["session"]})
            elif kind == "input_audio_buffer.append" and not self.echo_audio:
                continue
            elif kind == "input_audio_buffer.append":
                ulaw = base64.b64decode(event["audio"], validate=True)
                item = self.assistant_item
                sent_ms[item] = sent_ms.get(item, 0) + len(ulaw) // 8
                delta_type = "response.audio.delta" if self.beta_audio_events else "response.output_audio.delta"
                await ws.send_json(
                    {
                        "type": delta_type,
                        "response_id": "resp_1",
                        "item_id": item,
                        "output_index": 0,
                        "content_index": 0,
                        "delta": event["audio"],  # the same base64, untouched
                    }
                )
            elif kind == "conversation.item.truncate":
                item, end_ms = event.get("item_id"), event.get("audio_end_ms")
                if event.get("content_index") != 0 or not isinstance(end_ms, int):
                    await ws.send_json(_error("truncate needs content_index 0 and an integer audio_end_ms", event))
                elif item not in sent_ms:
                    await ws.send_json(_error(f"item {item!r} not found", event, "item_not_found"))
                elif end_ms > sent_ms[item]:
                    self.problems.append(f"truncate at {end_ms} ms beyond {sent_ms[item]} ms of audio")
                    await ws.send_json(_error("audio_end_ms is beyond the audio", event))
                else:
                    await ws.send_json({"type": "conversation.item.truncated", "item_id": item, "audio_end_ms": end_ms})
            elif kind == "conversation.item.create":
                await ws.send_json({"type": "conversation.item.created", "item": event.get("item")})
            elif kind == "response.create":
                await ws.send_json({"type": "response.done", "response": {"id": "resp_2", "status": "completed"}})
            elif kind == "response.cancel":
                await ws.send_json({"type": "response.done", "response": {"id": "resp_1", "status": "cancelled"}})
            else:
                await ws.send_json(_error(f"unsupported event {kind!r}", event))
        return ws


def _error(message: str, event: dict[str, Any], code: str = "invalid_value") -> dict[str, Any]:
    return {
        "type": "error",
        "event_id": "evt_err",
        "error": {"type": "invalid_request_error", "code": code, "message": message, "event_id": event.get("event_id")},
    }


def _session_problem(session: Any) -> str | None:
    """What the GA server would refuse in a session.update (the subset our client sends)."""
    if not isinstance(session, dict) or session.get("type") != "realtime":
        return "session.type must be 'realtime'"
    if "input_audio_format" in session or "output_audio_format" in session:
        return "beta fields input_audio_format/output_audio_format are not GA"
    audio = session.get("audio") or {}
    audio_in, audio_out = audio.get("input") or {}, audio.get("output") or {}
    if audio_in.get("format") != {"type": "audio/pcmu"} or audio_out.get("format") != {"type": "audio/pcmu"}:
        return "audio formats must be audio/pcmu"
    vad = audio_in.get("turn_detection") or {}
    if vad.get("type") != "server_vad" or not isinstance(vad.get("silence_duration_ms"), int):
        return "turn_detection must be server_vad with an integer silence_duration_ms"
    if not isinstance(audio_out.get("voice"), str):
        return "audio.output.voice must be a string"
    if not isinstance(session.get("instructions"), str) or not isinstance(session.get("tools", []), list):
        return "instructions must be a string and tools a list"
    return None
