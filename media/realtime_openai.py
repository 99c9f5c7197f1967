"""Speech to speech over the OpenAI Realtime websocket: one `RealtimeSession` per call.

The model hears the caller and speaks back itself (its own VAD, turn taking, voice), so none of our
VAD/STT/LLM/TTS stages run. With `audio/pcmu` both ways, Twilio's 8 kHz mu-law goes in and comes out
byte for byte: no resampling, no transcoding.

    settings = RealtimeSettings(base_url="https://api.openai.com/v1", api_key=KEY, model="gpt-realtime", ...)
    async with RealtimeSession(settings, instructions=persona_prompt, tools=tool_specs) as session:
        # one task: the caller's audio
        await session.send_audio(ulaw)                   # 8 kHz mu-law bytes, any length
        # one task (the only reader): the model's events
        async for event in session.events():
            match event:
                case AudioDelta(item_id=item_id, ulaw=ulaw):
                    ...  # play it; remember item_id
                case SpeechStarted():  # barge-in: clear the phone, then cut the item to what was heard
                    await session.truncate(item_id, heard_ms)
                case FunctionCallDone(call_id=cid, name=name, arguments=args):
                    await session.send_function_output(cid, json.dumps(result))
                    await session.create_response()
                case ServerError(message=message): ...

- Entering connects (`Authorization: Bearer KEY`), sends the GA `session.update` and waits for
  `session.updated`, so a refused configuration fails at the start, as RealtimeError, and not in the
  middle of the call.
- `events()` is the websocket's one reader; senders may run in other tasks. It ends when the session
  is closed by us; a connection lost otherwise raises RealtimeError. A server `error` event is yielded
  as ServerError (most are about one request, e.g. a truncate of an unknown item), not raised.
- On barge-in the server (`interrupt_response`) stops the response itself; the client must then cut
  the assistant item to what the caller heard, or the model believes it said the whole reply. The
  server refuses an `audio_end_ms` beyond the audio it generated, so `truncate()` clamps it to the
  audio this session has received for that item (parsed by `events()`), which is never more.
- Accepts the beta's event names (`response.audio.delta`, `response.audio_transcript.delta`) too.
- The newer "live sessions" API has another event contract: it would be another adapter, not flags
  here.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidHandshake

from media.codec import ULAW_SAMPLE_RATE
from media.engine import Engine

_log = logging.getLogger(__name__)

_ULAW_BYTES_PER_MS = ULAW_SAMPLE_RATE // 1000  # one byte a sample
_MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # a long audio delta or a big session echo


class RealtimeError(Exception):
    """The session could not start or the connection was lost (not: one refused request)."""


@dataclass(frozen=True)
class RealtimeSettings:
    """`base_url` is the REST one ("https://api.openai.com/v1"); http(s) becomes ws(s)."""

    base_url: str
    api_key: str = field(repr=False)
    model: str
    voice: str
    vad_threshold: float  # 0..1: higher needs louder speech (noisy lines)
    prefix_padding_ms: int  # audio kept before the detected start of speech
    silence_duration_ms: int  # silence that ends the caller's turn
    transcription_model: str  # transcribes the caller for our records; "" = off
    connect_timeout_s: float  # handshake and the wait for session.updated


# -- events ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionUpdated:
    session: Mapping[str, Any]


@dataclass(frozen=True)
class SpeechStarted:
    """The caller started talking: if a reply is playing, this is a barge-in."""

    item_id: str
    audio_start_ms: int


@dataclass(frozen=True)
class SpeechStopped:
    item_id: str
    audio_end_ms: int


@dataclass(frozen=True)
class AudioDelta:
    """The next piece of the assistant's speech, 8 kHz mu-law as it goes to the phone."""

    response_id: str
    item_id: str
    ulaw: bytes


@dataclass(frozen=True)
class TranscriptDelta:
    """Text of what the assistant is saying, alongside its audio."""

    response_id: str
    item_id: str
    text: str


@dataclass(frozen=True)
class InputTranscript:
    """What the caller said in one turn (only with a transcription model)."""

    item_id: str
    text: str


@dataclass(frozen=True)
class FunctionCallDone:
    """A complete tool call; arguments that are not a JSON object arrive as {} with `raw` kept."""

    response_id: str
    item_id: str
    call_id: str
    name: str
    arguments: Mapping[str, Any]
    raw: str


@dataclass(frozen=True)
class ResponseDone:
    """`status`: completed, cancelled (barge-in), incomplete, failed."""

    response_id: str
    status: str
    usage: Mapping[str, Any] | None


@dataclass(frozen=True)
class ServerError:
    type: str
    code: str | None
    message: str
    event_id: str | None  # the client event it refers to, when the server says


RealtimeEvent = (
    SessionUpdated
    | SpeechStarted
    | SpeechStopped
    | AudioDelta
    | TranscriptDelta
    | InputTranscript
    | FunctionCallDone
    | ResponseDone
    | ServerError
)


# -- session --------------------------------------------------------------------------------------


class RealtimeSession(Engine):
    """One call's conversation with a realtime model; see the module docstring for the contract."""

    def __init__(
        self,
        settings: RealtimeSettings,
        *,
        instructions: str,
        tools: Sequence[Mapping[str, Any]] = (),
        voice: str | None = None,
    ) -> None:
        self._settings = settings
        self._instructions = instructions
        self._tools = list(tools)
        self._voice = voice or settings.voice
        self._ws: ClientConnection | None = None
        self._closing = False
        self._audio_bytes: dict[str, int] = {}  # item_id -> mu-law bytes received
        self.session: Mapping[str, Any] = {}
        """The configuration the server confirmed in `session.updated`."""

    @property
    def url(self) -> str:
        parts = urlsplit(self._settings.base_url.rstrip("/"))
        scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
        return urlunsplit(
            (scheme, parts.netloc, f"{parts.path}/realtime", urlencode({"model": self._settings.model}), "")
        )

    def session_config(self) -> dict[str, Any]:
        """The GA `session.update` body."""
        settings = self._settings
        audio_input: dict[str, Any] = {
            "format": {"type": "audio/pcmu"},
            "turn_detection": {
                "type": "server_vad",
                "threshold": settings.vad_threshold,
                "prefix_padding_ms": settings.prefix_padding_ms,
                "silence_duration_ms": settings.silence_duration_ms,
                "create_response": True,
                "interrupt_response": True,
            },
        }
        if settings.transcription_model:
            audio_input["transcription"] = {"model": settings.transcription_model}
        return {
            "type": "realtime",
            "output_modalities": ["audio"],
            "audio": {
                "input": audio_input,
                "output": {"format": {"type": "audio/pcmu"}, "voice": self._voice},
            },
            "instructions": self._instructions,
            "tools": self._tools,
        }

    async def start(self) -> None:
        if self._ws is not None or self._closing:
            raise RealtimeError("a realtime session starts once")
        try:
            async with asyncio.timeout(self._settings.connect_timeout_s):
                self._ws = await connect(
                    self.url,
                    additional_headers={"Authorization": f"Bearer {self._settings.api_key}"},
                    max_size=_MAX_MESSAGE_BYTES,
                    open_timeout=None,  # the timeout above covers the handshake and the update
                )
                await self._send({"type": "session.update", "session": self.session_config()})
                await self._await_session_updated()
        except TimeoutError as error:  # before OSError: it is one
            await self.aclose()
            raise RealtimeError(f"not ready within {self._settings.connect_timeout_s} s") from error
        except (OSError, InvalidHandshake, ConnectionClosed) as error:
            await self.aclose()
            raise RealtimeError(f"cannot open {self.url}: {type(error).__name__}: {error}") from error
        except BaseException:
            await self.aclose()
            raise

    async def _await_session_updated(self) -> None:
        ws = self._require()
        async for message in ws:
            event = self._parse(message)
            if isinstance(event, ServerError):
                raise RealtimeError(f"session.update refused: {event.code}: {event.message}")
            if isinstance(event, SessionUpdated):
                self.session = event.session
                return
        raise RealtimeError("connection closed before session.updated")

    async def aclose(self) -> None:
        ws, self._ws = self._ws, None
        self._closing = True
        if ws is not None:
            await ws.close()

    # -- client events ----------------------------------------------------------------------------

    async def send_audio(self, ulaw: bytes) -> None:
        """Append the caller's 8 kHz mu-law (e.g. a Twilio media payload, decoded) to the input buffer."""
        if ulaw:
            await self._send({"type": "input_audio_buffer.append", "audio": base64.b64encode(ulaw).decode()})

    async def truncate(self, item_id: str, audio_end_ms: int) -> int:
        """Cut the assistant's item to what the caller heard; returns the `audio_end_ms` sent, clamped to
        the audio received for that item (0 for an item we never got audio for)."""
        received_ms = self._audio_bytes.get(item_id, 0) // _ULAW_BYTES_PER_MS
        end_ms = max(0, min(int(audio_end_ms), received_ms))
        await self._send(
            {"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": end_ms}
        )
        return end_ms

    async def cancel_response(self) -> None:
        """Stop the response in progress (e.g. a hang-up intent); the server answers with response.done
        status "cancelled", or an error event if nothing was in progress."""
        await self._send({"type": "response.cancel"})

    async def send_function_output(self, call_id: str, output: str) -> None:
        """The result of a FunctionCallDone; follow it with `create_response()` for the model to speak."""
        await self._send(
            {
                "type": "conversation.item.create",
                "item": {"type": "function_call_output", "call_id": call_id, "output": output},
            }
        )

    async def create_response(self, instructions: str | None = None) -> None:
        """Ask the model to speak now (after a tool result, or to open the call)."""
        response = {"instructions": instructions} if instructions else {}
        await self._send({"type": "response.create", "response": response})

    # -- server events ----------------------------------------------------------------------------

    async def events(self) -> AsyncIterator[RealtimeEvent]:
        if self._closing:
            return
        ws = self._require()
        try:
            async for message in ws:
                event = self._parse(message)
                if event is not None:
                    yield event
        except ConnectionClosedOK:
            pass
        except ConnectionClosed as error:
            if not self._closing:
                raise RealtimeError(f"realtime connection lost: {error}") from error
            return
        if not self._closing:
            raise RealtimeError("realtime connection closed by the server")

    def _parse(self, message: str | bytes) -> RealtimeEvent | None:
        try:
            data = json.loads(message)
        except ValueError:
            _log.warning("realtime: unparsable message %.120r", message)
            return None
        if not isinstance(data, dict):
            return None
        try:
            return self._event(data)
        except (TypeError, ValueError, AttributeError) as error:
            _log.warning("realtime: malformed %s event: %s", data.get("type"), error)
            return None

    def _event(self, data: dict[str, Any]) -> RealtimeEvent | None:
        kind = data.get("type")
        if kind in ("response.output_audio.delta", "response.audio.delta"):
            try:
                ulaw = base64.b64decode(data.get("delta", ""), validate=True)
            except (binascii.Error, TypeError):
                _log.warning("realtime: audio delta is not base64")
                return None
            item_id = str(data.get("item_id", ""))
            self._audio_bytes[item_id] = self._audio_bytes.get(item_id, 0) + len(ulaw)
            return AudioDelta(str(data.get("response_id", "")), item_id, ulaw)
        if kind in ("response.output_audio_transcript.delta", "response.audio_transcript.delta"):
            return TranscriptDelta(
                str(data.get("response_id", "")), str(data.get("item_id", "")), data.get("delta", "")
            )
        if kind == "input_audio_buffer.speech_started":
            return SpeechStarted(str(data.get("item_id", "")), int(data.get("audio_start_ms", 0)))
        if kind == "input_audio_buffer.speech_stopped":
            return SpeechStopped(str(data.get("item_id", "")), int(data.get("audio_end_ms", 0)))
        if kind == "conversation.item.input_audio_transcription.completed":
            return InputTranscript(str(data.get("item_id", "")), str(data.get("transcript", "")))
        if kind == "response.function_call_arguments.done":
            return _function_call(data)
        if kind == "response.done":
            response = data.get("response") or {}
            return ResponseDone(str(response.get("id", "")), str(response.get("status", "")), response.get("usage"))
        if kind == "session.updated":
            return SessionUpdated(data.get("session") or {})
        if kind == "error":
            error = data.get("error") or {}
            return ServerError(
                str(error.get("type", "")), error.get("code"), str(error.get("message", "")), error.get("event_id")
            )
        return None  # session.created, committed, item.created, rate_limits.updated, ...

    # -- plumbing ---------------------------------------------------------------------------------

    def _require(self) -> ClientConnection:
        if self._ws is None:
            raise RealtimeError("realtime session is not started")
        return self._ws

    async def _send(self, event: Mapping[str, Any]) -> None:
        ws = self._require()
        try:
            await ws.send(json.dumps(event))
        except ConnectionClosed as error:
            raise RealtimeError(f"realtime connection lost: {error}") from error


def _function_call(data: Mapping[str, Any]) -> FunctionCallDone:
    raw = str(data.get("arguments", ""))
    try:
        arguments = json.loads(raw) if raw.strip() else {}
    except ValueError:
        arguments = {}
    if not isinstance(arguments, dict):
        arguments = {}
    return FunctionCallDone(
        str(data.get("response_id", "")),
        str(data.get("item_id", "")),
        str(data.get("call_id", "")),
        str(data.get("name", "")),
        arguments,
        raw,
    )
