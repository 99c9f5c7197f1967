"""The Transport over the browser's websocket: Twilio's media-stream semantics without Twilio's wire format.

Browser -> server: binary messages are PCM16 little-endian mono at 16 kHz (the page's AudioWorklet
resamples the microphone); text messages are JSON objects:
    {"type": "mark", "name": ...}   echoed only once the audio sent before that mark has played out
    {"type": "text", "text": ...}   a typed line: a caller turn that skips speech-to-text
    {"type": "dtmf", "digit": ...}  {"type": "hangup"}
Server -> browser: binary PCM16 16 kHz, and JSON `mark`, `clear` (drop queued playback, echo every
pending mark), `hello` and `transcript` (each utterance as it is recorded); the server closing the socket
ends the call (a persona's goodbye is sent before the close).

Malformed messages are counted and dropped by the same `StreamGuard` as Twilio's streams.

Every send goes through one lock: the pacer, a barge-in's `clear` and the transcript forwarder write
from different tasks, and the wire order must be the order the call decided.

The socket is opened with `compress=False` (browsers offer permessage-deflate). The "non-zero reserved
bits" errors once seen with deflate match aiohttp#7859: aiohttp 3.9 shared one ZLibCompressor between
coroutines, so two concurrent sends interleaved their compressed output. The installed aiohttp (3.14)
serialises compression under its own lock: 18 test talk sessions with deflate negotiated on both ends
(6 with our lock, 12 without it) ran clean. Compression stays off because it buys nothing here: 20 ms PCM16 speech
frames deflate to 0.94 of their size at ~53 us CPU each (measured on tests/media/fixtures/call_me_back.wav).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from media.stream_guard import StreamGuard
from media.transport import AudioIn, DigitPressed, MarkEchoed, TextIn, TransportClosed, TransportEvent

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
MAX_MESSAGE_BYTES = 64 * 1024
"""Two seconds of 16 kHz PCM16; the page sends 20 ms (640 bytes) at a time."""
MAX_TEXT_CHARS = 2000
MAX_MARK_CHARS = 100
_DTMF_DIGITS = frozenset("0123456789*#")


class BadMessage(Exception):
    """A browser message outside the protocol; the text says how."""


@dataclass(frozen=True, slots=True)
class HangUp:
    pass


def decode_text(data: str) -> MarkEchoed | TextIn | DigitPressed | HangUp:
    """One JSON control message from the page, checked field by field."""
    try:
        message: Any = json.loads(data)
    except ValueError:
        raise BadMessage("not JSON") from None
    if not isinstance(message, dict):
        raise BadMessage("not a JSON object")
    kind = message.get("type")
    if kind == "mark":
        name = message.get("name")
        if not isinstance(name, str) or not 0 < len(name) <= MAX_MARK_CHARS:
            raise BadMessage("mark: name must be a short string")
        return MarkEchoed(name)
    if kind == "text":
        text = message.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT_CHARS:
            raise BadMessage(f"text: text must be a non-blank string of at most {MAX_TEXT_CHARS} characters")
        return TextIn(" ".join(text.split()))
    if kind == "dtmf":
        digit = message.get("digit")
        if not isinstance(digit, str) or digit not in _DTMF_DIGITS:
            raise BadMessage("dtmf: digit must be one of 0-9 * #")
        return DigitPressed(digit)
    if kind == "hangup":
        return HangUp()
    raise BadMessage(f"unknown type {str(kind)[:40]!r}")


class BrowserTransport:
    sample_rate = SAMPLE_RATE

    def __init__(self, ws: web.WebSocketResponse, *, max_violations: int, max_messages_per_s: int) -> None:
        self._ws = ws
        self._guard = StreamGuard(max_violations=max_violations, max_messages_per_s=max_messages_per_s)
        self.stats = self._guard.stats
        self.hung_up = False
        self._send_lock = asyncio.Lock()
        self._notes: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def events(self) -> AsyncIterator[TransportEvent]:
        while True:
            message = await self._ws.receive()
            if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                return  # closed, closing or errored: the caller is gone
            if self._guard.flooding():
                await self.refuse("too many messages")
                return
            try:
                event = self._decode(message.type, message.data)
            except BadMessage as exc:
                if self._guard.violation(str(exc)):
                    await self.refuse(f"too many malformed messages (last: {exc})")
                    return
                continue
            if isinstance(event, HangUp):
                self.hung_up = True
                return
            yield event

    def _decode(self, kind: WSMsgType, data: Any) -> TransportEvent | HangUp:
        if kind == WSMsgType.TEXT:
            return decode_text(data)
        if len(data) % 2:
            raise BadMessage("audio: odd number of bytes is not PCM16")
        self.stats.frames_in += 1
        return AudioIn(bytes(data))

    async def refuse(self, reason: str) -> None:
        log.warning("browser stream closed: %s", reason)
        await self._ws.close(code=WSCloseCode.POLICY_VIOLATION, message=reason[:120].encode())

    # out ------------------------------------------------------------------------------------------
    async def send_audio(self, pcm: bytes) -> None:
        await self._send(pcm)

    async def send_mark(self, name: str) -> None:
        await self._send({"type": "mark", "name": name})

    async def clear(self) -> None:
        await self._send({"type": "clear"})

    async def close(self) -> None:
        """Hang up: first send the notes still queued (the farewell's transcript line), then close."""
        async with self._send_lock:
            while not self._notes.empty() and not self._ws.closed:
                try:
                    await self._ws.send_str(json.dumps(self._notes.get_nowait()))
                except ConnectionResetError:
                    break
            await self._ws.close()

    def notify(self, message: dict[str, Any]) -> None:
        """Queue a message for the page (a transcript line) from code that must not await."""
        self._notes.put_nowait(message)

    async def forward_notes(self) -> None:
        """Send queued notes until cancelled (run beside the call; a closed socket drops the rest)."""
        while True:
            message = await self._notes.get()
            try:
                await self._send(message)
            except TransportClosed:
                return

    async def send_note(self, message: dict[str, Any]) -> None:
        await self._send(message)

    async def _send(self, payload: bytes | dict[str, Any]) -> None:
        async with self._send_lock:
            if self._ws.closed:
                raise TransportClosed
            try:
                if isinstance(payload, bytes):
                    await self._ws.send_bytes(payload)
                else:
                    await self._ws.send_str(json.dumps(payload))
            except ConnectionResetError:
                raise TransportClosed from None
