"""The phone at the far end of a call, and its media stream to the application.

One `Phone` lives for a whole call: a mouth (the caller script, sent as real-time 20 ms frames), an
ear (a playout buffer drained 160 bytes every 20 ms) and two tape recorders. `stream()` runs one
`<Connect><Stream>` session over a real websocket with Twilio's exact message shapes:

- mark echoes wait until every byte queued before the mark has been played;
- `clear` drops queued audio and echoes every pending mark at once (flagged `flushed`);
- malformed server messages are counted, never fatal (Twilio logs them as error 31924).

Both clocks schedule against absolute monotonic deadlines (t0 + k * 20 ms), so they never drift.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import enum
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from .audio import FRAME_BYTES, FRAME_MS, RATE_HZ, SILENCE_BYTE, mulaw_decode, silence_pcm
from .errors import STREAM_HANDSHAKE, CarrierError
from .report import ClearEvent, MarkEcho, StreamReport
from .script import CallerVoice, Dtmf, HangUp, Step
from .softphone import LiveLine

log = logging.getLogger(__name__)

FRAME_S = FRAME_MS / 1000
_SILENT_PCM_FRAME = silence_pcm(FRAME_S)
_STOP_TIMEOUT_S = 1.0
_LATE_TICK_MS = 10.0


class StreamEnd(enum.Enum):
    SERVER_CLOSED = "server"  # the application closed the websocket: TwiML goes on
    PHONE_HUNG_UP = "phone"  # the script hung up: the call completes


@dataclass(frozen=True)
class StreamTarget:
    """Everything a stream session needs to know about its call."""

    url: str
    signature: str
    account_sid: str
    call_sid: str
    parameters: dict[str, str]


class _PhoneHungUp(Exception):
    pass


class _ServerClosed(Exception):
    pass


async def _sleep_until(deadline: float) -> None:
    delay = deadline - asyncio.get_running_loop().time()
    if delay > 0:
        await asyncio.sleep(delay)


class Phone:
    """The callee (or caller, for inbound calls): script in, TwiML audio out, both sides recorded."""

    def __init__(self, script: tuple[Step, ...], line: LiveLine | None = None) -> None:
        self.voice = CallerVoice(script)
        self.line = line  # a person on the line (softphone): their audio replaces the script
        self.caller_track = bytearray()  # 8 kHz PCM16
        self.heard_track = bytearray()
        self.heard_ms = 0.0
        self.hung_up = False

    async def hear(self, pcm16: bytes | None, duration_s: float) -> None:
        """Listen to `<Say>` audio (or `<Pause>` silence when None) in real time."""
        audio = pcm16 if pcm16 is not None else silence_pcm(duration_s)
        total_s = len(audio) / (2 * RATE_HZ)
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            await asyncio.sleep(total_s)
        finally:  # a hang-up mid-sentence keeps only what was actually heard
            heard_s = min(total_s, loop.time() - start)
            heard = audio[: 2 * round(heard_s * RATE_HZ)]
            self.heard_track += heard
            self.caller_track += bytes(len(heard))
            if pcm16 is not None:
                self.heard_ms += 1000 * heard_s

    async def stream(
        self,
        session: aiohttp.ClientSession,
        target: StreamTarget,
        report: StreamReport,
        handshake_timeout_s: float,
        on_connected: Callable[[], None] = lambda: None,
    ) -> StreamEnd:
        """Run one media stream until the server closes it or the phone hangs up.

        A failed handshake raises CarrierError(31920), as Twilio logs it. Cancellation (REST
        hang-up, time limit) still sends `stop` and closes the socket.
        """
        try:
            async with asyncio.timeout(handshake_timeout_s):
                ws = await session.ws_connect(
                    target.url,
                    headers={"x-twilio-signature": target.signature},
                    compress=0,
                    autoping=True,
                    timeout=aiohttp.ClientWSTimeout(ws_close=_STOP_TIMEOUT_S),
                )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise CarrierError(STREAM_HANDSHAKE, f"Stream - WebSocket - Handshake Error: {exc!r}") from exc
        on_connected()
        live = _StreamSession(self, ws, target, report)
        try:
            return await live.run()
        finally:
            await live.close()


class _StreamSession:
    """One websocket: the reader, the caller's mouth and the playout clock share this state."""

    def __init__(
        self, phone: Phone, ws: aiohttp.ClientWebSocketResponse, target: StreamTarget, report: StreamReport
    ) -> None:
        self._phone = phone
        self._ws = ws
        self._target = target
        self._report = report
        self._sid = report.stream_sid
        self._sequence = 0
        self._send_lock = asyncio.Lock()
        self._stopped = False
        self._buffer = bytearray()  # queued server audio, mu-law
        self._played_bytes = 0
        self._pending_marks: list[tuple[str, int]] = []  # (name, byte position in the played stream)
        self._t0 = 0.0

    def _now_ms(self) -> float:
        return 1000 * (asyncio.get_running_loop().time() - self._t0)

    async def _send(self, message: dict[str, Any]) -> None:
        """Send a phone->server event; the lock keeps wire order equal to sequenceNumber order."""
        async with self._send_lock:
            if message["event"] != "connected":
                self._sequence += 1
                message = {"event": message["event"], "sequenceNumber": str(self._sequence), **message}
            try:
                await self._ws.send_str(json.dumps(message))
            except (aiohttp.ClientError, ConnectionError) as exc:
                log.debug("stream %s: send after close: %r", self._sid, exc)  # the reader sees the close

    async def run(self) -> StreamEnd:
        self._t0 = asyncio.get_running_loop().time()
        await self._send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        await self._send(
            {
                "event": "start",
                "streamSid": self._sid,
                "start": {
                    "accountSid": self._target.account_sid,
                    "streamSid": self._sid,
                    "callSid": self._target.call_sid,
                    "tracks": ["inbound"],
                    "customParameters": dict(self._target.parameters),
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": RATE_HZ, "channels": 1},
                },
            }
        )
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._talk())
                tg.create_task(self._play())
                await self._listen()
                raise _ServerClosed
        except* (_ServerClosed, _PhoneHungUp):
            pass  # either may win the race when the phone hangs up: the flag below decides
        ended = StreamEnd.PHONE_HUNG_UP if self._phone.hung_up else StreamEnd.SERVER_CLOSED
        self._report.ended_by = ended.value
        return ended

    async def close(self) -> None:
        """Say `stop` if the phone side ends the stream, then close; bounded so shutdown cannot hang."""
        if not self._report.ended_by:
            self._report.ended_by = "call"
        try:
            async with asyncio.timeout(_STOP_TIMEOUT_S):
                if not self._ws.closed and not self._stopped:
                    await self._send_stop()
                await self._ws.close()
        except (aiohttp.ClientError, ConnectionError, TimeoutError) as exc:
            log.debug("stream %s close: %r", self._sid, exc)

    async def _send_stop(self) -> None:
        self._stopped = True
        await self._send(
            {
                "event": "stop",
                "streamSid": self._sid,
                "stop": {"accountSid": self._target.account_sid, "callSid": self._target.call_sid},
            }
        )

    # --- mouth -----------------------------------------------------------------------------------

    async def _talk(self) -> None:
        """Send the caller's frames at 50/s on absolute deadlines; a hang-up ends the stream."""
        chunk = 0
        line = self._phone.line
        async with contextlib.aclosing(line.voice() if line else self._phone.voice.items()) as items:
            async for item in items:
                if isinstance(item, bytes):
                    chunk += 1
                await self._speak(item, chunk)

    async def _speak(self, item: bytes | Dtmf | HangUp, chunk: int) -> None:
        """One frame (sent when its 20 ms have been spoken), one key press, or the hang-up."""
        match item:
            case bytes():
                await _sleep_until(self._t0 + chunk * FRAME_S)  # a frame leaves once it was spoken
                self._phone.caller_track += mulaw_decode(item)
                self._report.frames_sent += 1
                await self._send(
                    {
                        "event": "media",
                        "streamSid": self._sid,
                        "media": {
                            "track": "inbound",
                            "chunk": str(chunk),
                            "timestamp": str((chunk - 1) * FRAME_MS),
                            "payload": base64.b64encode(item).decode(),
                        },
                    }
                )
            case Dtmf(digit):
                self._report.dtmf_sent.append(digit)
                await self._send(
                    {
                        "event": "dtmf",
                        "streamSid": self._sid,
                        "dtmf": {"track": "inbound_track", "digit": digit},
                    }
                )
            case HangUp():
                self._phone.hung_up = True
                await self._send_stop()
                await self._ws.close()
                raise _PhoneHungUp

    # --- ear -------------------------------------------------------------------------------------

    async def _play(self) -> None:
        """Drain the playout buffer 160 bytes per 20 ms tick; marks echo once their audio has played."""
        tick = 0
        while True:
            tick += 1
            deadline = self._t0 + tick * FRAME_S
            await _sleep_until(deadline)
            self._note_lateness(1000 * (asyncio.get_running_loop().time() - deadline))
            await self._echo_played_marks()
            if self._pending_marks and len(self._buffer) < FRAME_BYTES:
                self._report.dry_ticks += 1  # the sentence before the mark has not all arrived in time
            frame = bytes(self._buffer[:FRAME_BYTES])
            del self._buffer[:FRAME_BYTES]
            self._played_bytes += len(frame)
            self._report.played_ms = self._played_bytes * 1000 / RATE_HZ
            self._phone.heard_ms += len(frame) * 1000 / RATE_HZ
            padded = frame + bytes([SILENCE_BYTE]) * (FRAME_BYTES - len(frame))
            if frame and self._phone.line is not None:
                self._phone.line.heard(padded)
            self._phone.heard_track += mulaw_decode(padded) if frame else _SILENT_PCM_FRAME

    def _note_lateness(self, late_ms: float) -> None:
        """The ear's own tick lateness: it bounds how far its recording may be from real time."""
        if late_ms > _LATE_TICK_MS:
            self._report.late_ticks += 1
        self._report.max_tick_late_ms = max(self._report.max_tick_late_ms, late_ms)

    async def _echo_played_marks(self) -> None:
        while self._pending_marks and self._pending_marks[0][1] <= self._played_bytes:
            name, _ = self._pending_marks.pop(0)
            await self._echo_mark(name, flushed=False)

    async def _echo_mark(self, name: str, *, flushed: bool) -> None:
        self._report.marks.append(MarkEcho(name, self._now_ms(), self._played_bytes * 1000 / RATE_HZ, flushed))
        await self._send({"event": "mark", "streamSid": self._sid, "mark": {"name": name}})

    async def _listen(self) -> None:
        """The only reader of the socket; returns when the server closes it."""
        async for message in self._ws:
            if message.type is aiohttp.WSMsgType.TEXT:
                await self._on_text(message.data)
            else:
                self._invalid(f"non-text frame {message.type.name}")

    def _invalid(self, reason: str) -> None:
        self._report.invalid_messages += 1
        self._report.invalid_reasons.append(reason)
        log.debug("stream %s: invalid server message: %s", self._sid, reason)

    async def _on_text(self, data: str) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            self._invalid("bad JSON")
            return
        if not isinstance(message, dict):
            self._invalid("not a JSON object")
            return
        event = message.get("event")
        if event not in ("media", "mark", "clear"):
            self._invalid(f"unknown event {event!r}")
            return
        if message.get("streamSid") != self._sid:
            self._invalid(f"{event}: wrong or missing streamSid")
            return
        match event:
            case "media":
                await self._on_media(message.get("media"))
            case "mark":
                await self._on_mark(message.get("mark"))
            case "clear":
                await self._on_clear()

    async def _on_media(self, media: Any) -> None:
        payload = media.get("payload") if isinstance(media, dict) else None
        if not isinstance(payload, str):
            self._invalid("media without a payload string")
            return
        try:
            audio = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            self._invalid("media payload is not base64")
            return
        self._report.media_received += 1
        self._buffer += audio

    async def _on_mark(self, mark: Any) -> None:
        name = mark.get("name") if isinstance(mark, dict) else None
        if not isinstance(name, str):
            self._invalid("mark without a name")
            return
        position = self._played_bytes + len(self._buffer)
        if position <= self._played_bytes and not self._pending_marks:
            await self._echo_mark(name, flushed=False)  # nothing queued before it: echo at once
        else:
            self._pending_marks.append((name, position))

    async def _on_clear(self) -> None:
        flushed = [name for name, _ in self._pending_marks]
        self._report.clears.append(ClearEvent(self._now_ms(), len(self._buffer) * 1000 / RATE_HZ, flushed))
        self._buffer.clear()
        self._pending_marks.clear()
        for name in flushed:
            await self._echo_mark(name, flushed=True)


def new_stream_sid() -> str:
    return "MZ" + secrets.token_hex(16)
