"""The Transport over a Twilio media-stream websocket (aiohttp server side).

Malformed frames are counted and dropped; a stream that keeps sending them, or sends binary frames, is
closed with a policy code and the reason, while every other call goes on untouched.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import WSCloseCode, WSMsgType, web

from media.codec import pcm16_to_ulaw, ulaw_to_pcm16
from media.stream_guard import StreamGuard
from media.transport import AudioIn, DigitPressed, MarkEchoed, TransportClosed, TransportEvent
from media.twilio_stream import (
    Connected,
    DtmfPressed,
    MarkPlayed,
    MediaReceived,
    ProtocolViolation,
    StreamDecoder,
    StreamStarted,
    StreamStopped,
    clear_message,
    mark_message,
    media_message,
)

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024
"""The largest text frame accepted; a 20 ms media frame is about 300 bytes of JSON."""


class HandshakeFailed(Exception):
    """The stream did not start properly; the websocket has been closed."""


class TwilioTransport:
    sample_rate = 8000

    def __init__(self, ws: web.WebSocketResponse, *, max_violations: int, max_messages_per_s: int = 250) -> None:
        self._ws = ws
        self._decoder = StreamDecoder()
        self._guard = StreamGuard(max_violations=max_violations, max_messages_per_s=max_messages_per_s)
        self.stats = self._guard.stats
        self.stream_sid = ""
        self.stopped = False

    async def handshake(self, timeout_s: float) -> StreamStarted:
        """Read `connected` and `start`; anything else first closes the stream."""
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    event = self._decoder.decode(await self._next_text())
                    if isinstance(event, StreamStarted):
                        self.stream_sid = event.stream_sid
                        return event
                    if not isinstance(event, Connected):
                        raise ProtocolViolation("expected connected and start first")
        except TimeoutError:
            await self.refuse("no start message in time")
        except ProtocolViolation as exc:
            await self.refuse(str(exc))
        except TransportClosed:
            log.info("media stream closed before it started")
        raise HandshakeFailed

    async def refuse(self, reason: str) -> None:
        log.warning("media stream refused: %s", reason)
        await self._ws.close(code=WSCloseCode.POLICY_VIOLATION, message=reason[:120].encode())

    async def _next_text(self) -> str:
        message = await self._ws.receive()
        if message.type in (WSMsgType.TEXT, WSMsgType.BINARY) and self._guard.flooding():
            await self._ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"too many messages")
            log.warning("media stream closed: more than %d messages/s", self._guard.max_messages_per_s)
            raise TransportClosed
        if message.type == WSMsgType.TEXT:
            return message.data
        if message.type == WSMsgType.BINARY:
            raise ProtocolViolation("binary frames are not part of the protocol")
        raise TransportClosed

    async def events(self) -> AsyncIterator[TransportEvent]:
        while True:
            try:
                text = await self._next_text()
                event = self._decoder.decode(text)
            except TransportClosed:
                return
            except ProtocolViolation as exc:
                if not await self._count(str(exc)):
                    return
                continue
            if isinstance(event, MediaReceived):
                self.stats.frames_in += 1
                if event.ulaw:
                    yield AudioIn(ulaw_to_pcm16(event.ulaw))
            elif isinstance(event, MarkPlayed):
                yield MarkEchoed(event.name)
            elif isinstance(event, DtmfPressed):
                yield DigitPressed(event.digit)
            elif isinstance(event, StreamStopped):
                self.stopped = True
                return

    async def _count(self, reason: str) -> bool:
        """Count a bad frame; close the stream when it is hopeless. True: keep reading."""
        if self._guard.violation(reason, fatal=reason.startswith("binary")):
            await self.refuse(f"too many malformed messages (last: {reason})")
            return False
        return True

    async def send_audio(self, pcm: bytes) -> None:
        await self._send(media_message(self.stream_sid, pcm16_to_ulaw(pcm)))

    async def send_mark(self, name: str) -> None:
        await self._send(mark_message(self.stream_sid, name))

    async def clear(self) -> None:
        await self._send(clear_message(self.stream_sid))

    async def close(self) -> None:
        await self._ws.close()

    async def _send(self, text: str) -> None:
        if self._ws.closed:
            raise TransportClosed
        try:
            await self._ws.send_str(text)
        except ConnectionResetError:
            raise TransportClosed from None
