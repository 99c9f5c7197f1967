"""The browser softphone's bridge: one websocket to the page on one side, the local carrier's live line
for the user's verified number on the other.

The page speaks the same audio format as the Talk page (binary PCM16 mono 16 kHz both ways) and JSON
control messages: server -> page `ready`, `ringing {call_sid, from, persona}`, `answered`,
`ended {status}`, and `replaced` (then close 4000) when the same user opens the softphone in another tab:
the newest wins; page -> server `answer`, `decline`, `hangup`. The line carries 8 kHz mu-law frames, so
each direction has its own streaming resampler and the G.711 codec. Only the relay task writes to the
socket (one writer: no interleaved frames); the reader ends the bridge when the page goes away.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import asyncpg
from aiohttp import WSMsgType, web

from db import calls
from media.codec import pcm16_to_ulaw, ulaw_to_pcm16
from media.resample import StreamResampler
from media.stream_guard import StreamGuard
from orchestrator.carrier import Answered, Ended, Heard, LiveLine, Replaced, Ringing

log = logging.getLogger(__name__)

PAGE_RATE = 16000
LINE_RATE = 8000


class _PageGone(Exception):
    """Raised in the bridge's TaskGroup body when the page's socket closes: ends the relay too."""


class SoftphoneBridge:
    def __init__(self, ws: web.WebSocketResponse, line: LiveLine, pool: asyncpg.Pool, guard: StreamGuard) -> None:
        self._ws = ws
        self._line = line
        self._pool = pool
        self._guard = guard
        self._mouth = StreamResampler(PAGE_RATE, LINE_RATE)
        self._ear = StreamResampler(LINE_RATE, PAGE_RATE)

    async def run(self) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._relay(), name="softphone-relay")
                await self._listen()
                raise _PageGone
        except* _PageGone:
            pass

    async def _listen(self) -> None:
        await self._send({"type": "ready", "number": self._line.number})
        async for message in self._ws:
            if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                return
            if self._guard.flooding():
                await self._refuse("too many messages")
                return
            problem = self._on_binary(message.data) if message.type == WSMsgType.BINARY else self._on_text(message.data)
            if problem and self._guard.violation(problem):
                await self._refuse(f"too many malformed messages (last: {problem})")
                return

    def _on_binary(self, pcm: bytes) -> str | None:
        if len(pcm) % 2:
            return "audio: odd number of bytes is not PCM16"
        self._guard.stats.frames_in += 1
        self._line.speak(pcm16_to_ulaw(self._mouth.process(pcm)))
        return None

    def _on_text(self, data: str) -> str | None:
        try:
            message: Any = json.loads(data)
        except ValueError:
            return "not JSON"
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "answer":
            self._line.answer()
        elif kind == "decline":
            self._line.decline()
        elif kind == "hangup":
            self._line.hang_up()
        else:
            return f"unknown type {str(kind)[:40]!r}"
        return None

    async def _relay(self) -> None:
        while True:
            event = await self._line.events.get()
            if isinstance(event, Heard):
                await self._send(self._ear.process(ulaw_to_pcm16(event.ulaw)))
            elif isinstance(event, Ringing):
                persona = await self._caller_name(event.call_sid)
                await self._send(
                    {"type": "ringing", "call_sid": event.call_sid, "from": event.from_, "persona": persona}
                )
            elif isinstance(event, Answered):
                await self._send({"type": "answered", "call_sid": event.call_sid})
            elif isinstance(event, Ended):
                self._mouth.reset()
                self._ear.reset()
                await self._send({"type": "ended", "call_sid": event.call_sid, "status": event.status})
            elif isinstance(event, Replaced):
                await self._send({"type": "replaced"})
                await self._ws.close(code=4000, message=b"the softphone was opened elsewhere")
                return

    async def _caller_name(self, call_sid: str) -> str | None:
        """The persona calling. The carrier may ring before the server has stored the call's CallSid
        (it does so when the REST request returns): look again for up to a second."""
        for _ in range(5):
            if (name := await calls.persona_name_by_provider_call(self._pool, call_sid)) is not None:
                return name
            await asyncio.sleep(0.2)
        return None

    async def _send(self, payload: bytes | dict[str, Any]) -> None:
        if self._ws.closed:
            return
        try:
            if isinstance(payload, bytes):
                if payload:
                    await self._ws.send_bytes(payload)
            else:
                await self._ws.send_str(json.dumps(payload))
        except ConnectionResetError:
            log.debug("softphone: send after the page went away")

    async def _refuse(self, reason: str) -> None:
        log.warning("softphone closed: %s", reason)
        await self._ws.close(code=1008, message=reason[:120].encode())
