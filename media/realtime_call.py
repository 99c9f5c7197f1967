"""A call through a speech-to-speech model (OpenAI Realtime) instead of our VAD -> STT -> LLM -> TTS.

The same Transport, pacer, marks, CallLog and tools as `media.call.Call`; what differs is who listens and
speaks. The caller's audio goes to the session as mu-law (the transport's PCM16 re-encodes to exactly
the bytes the phone sent: G.711 decoding then encoding is lossless); the model's mu-law comes back cut
into 20 ms frames, paced at real time with a mark every `_MARK_EVERY_FRAMES`, so the mark echoes say how
much of each reply the caller heard.

    barge-in   the server's VAD hears the caller (`SpeechStarted`) while a reply is still playing: `clear`
               at once, the pacer emptied, and `conversation.item.truncate` with the audio the caller
               heard (the echoed marks), so the model's memory of the call holds only that
    records    the caller's turns from the session's input transcription; the persona's turns from the
               model's transcript, `heard_text` its words up to the share of the audio heard (the
               transcript is not aligned to the audio: words are cut in proportion, at a word boundary)
    tools      `end_call` (once the caller said goodbye) hangs up after the reply plays; other tools run
               through the same handler as in `Call`, their line goes back as the function output and
               the model says it
    limits     at the call's time limit, or after silence (a "still there?" first), the model is asked to
               say the fixed line, then the call ends
    lost       if the session fails (the connection drops, the server errs out), `run()` returns with
               `session_lost` set and the line still open: `handover()` gives what a pipeline `Call` needs
               to carry the call on (orchestrator/call_runner.py does), so the caller is not cut off

Every task lives in one TaskGroup, as in `Call`: when either side hangs up, all of it ends.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from media.call import (
    FRAME_MS,
    CallLog,
    CallPlan,
    CallSettings,
    CallUsage,
    Handover,
    ToolHandler,
    Utterance,
    said_goodbye,
)
from media.codec import ULAW_SILENCE, pcm16_to_ulaw, ulaw_to_pcm16
from media.framing import Framer
from media.pacer import Pacer
from media.playback import Playback, PlaybackClock
from media.realtime_openai import (
    AudioDelta,
    FunctionCallDone,
    InputTranscript,
    RealtimeError,
    RealtimeSession,
    ResponseDone,
    ServerError,
    SpeechStarted,
    SpeechStopped,
    TranscriptDelta,
)
from media.transport import AudioIn, DigitPressed, MarkEchoed, Transport, TransportClosed
from personas.llm import Message, ToolCall

log = logging.getLogger(__name__)

_MARK_EVERY_FRAMES = 10  # a mark every 200 ms of reply audio: the grain of "how much was heard"
_ULAW_FRAME_BYTES = 8 * FRAME_MS
_MARK_GRACE_S = 3.0


@dataclass
class _Frame:
    pcm: bytes
    first_of: _Reply | None = None


@dataclass
class _Mark:
    name: str


@dataclass
class _Reply:
    """One assistant item on its way to the caller's ear."""

    item_id: str
    playback: Playback
    started_at: datetime
    speech_end: float | None  # when the caller stopped (server VAD), for the latency breakdown
    text: list[str] = field(default_factory=list)
    framer: Framer = field(default_factory=lambda: Framer(_ULAW_FRAME_BYTES, ULAW_SILENCE))
    frames: int = 0
    mark_ms: dict[str, int] = field(default_factory=dict)  # mark -> audio ms before it
    stamps: dict[str, float] = field(default_factory=dict)
    recorded: bool = False

    @property
    def audio_ms(self) -> int:
        return self.frames * FRAME_MS

    @property
    def heard_ms(self) -> int:
        played = [self.mark_ms[s.mark] for s in self.playback.segments if s.played_at is not None]
        return max(played, default=0)


class _CallOver(Exception):
    pass


class RealtimeCall:
    def __init__(
        self,
        transport: Transport,
        session: RealtimeSession,
        settings: CallSettings,
        plan: CallPlan,
        call_log: CallLog,
        tool_handler: ToolHandler | None = None,
    ) -> None:
        self.transport = transport
        self.session = session
        self.settings = settings
        self.plan = plan
        self.call_log = call_log
        self.tool_handler = tool_handler
        self.clock = PlaybackClock()
        self.pacer: Pacer[_Frame | _Mark] = Pacer(settings.pacer, self._send)
        self.barge_ins = 0
        self.ended_by = "caller"
        self.usage = CallUsage()
        self._reply: _Reply | None = None  # the item whose audio is arriving
        self._tail: _Reply | None = None  # the item whose audio has all arrived, still playing
        self._cut_items: set[str] = set()  # audio of these still in flight after a barge-in is dropped
        self._replies = 0
        self._seq = 0
        self._started = time.monotonic()
        self._last_caller = self._started  # caller speech heard by the server's VAD, or their words
        self._last_persona = self._started  # the end of the persona's last reply (or its request)
        self._speech_end: float | None = None
        self._last_caller_text = ""
        self._hang_up_after_reply = False
        self._tg: asyncio.TaskGroup | None = None
        self.history: list[Message] = []  # the conversation as recorded: what a handover carries on
        self.session_lost = False

    async def run(self) -> None:
        """Hold the conversation until either side hangs up (or the model's connection is lost)."""
        try:
            async with self.session, asyncio.TaskGroup() as tg:
                self._tg = tg
                tg.create_task(self.pacer.run(), name="pacer")
                tg.create_task(self._model(), name="model")
                tg.create_task(self._watch(), name="watch")
                # A response's own instructions replace the session's for that response: the model writes its
                # greeting under the persona's prompt (which says how to open), or says the fixed one.
                await self.session.create_response(_say_exactly(self.plan.greeting) if self.plan.greeting else None)
                await self._listen()
                raise _CallOver
        except* (_CallOver, TransportClosed):
            pass
        except* RealtimeError as group:
            log.warning("realtime session failed: %s", group.exceptions[0])
            self.session_lost = not self._hang_up_after_reply  # a goodbye under way: just end the call
            if not self.session_lost:
                await self.transport.close()
        finally:
            self._tg = None
            for reply in (self._reply, self._tail):  # cut off: recorded with what had been heard
                if reply is not None:
                    self._finish_reply(reply, cut=True)

    def handover(self, first_line: str) -> Handover:
        """What a pipeline `Call` needs to carry this call on once the session is lost."""
        return Handover(
            history=list(self.history),
            next_seq=self._seq,
            replies_so_far=self._replies,
            first_line=first_line,
            elapsed_s=time.monotonic() - self._started,
            usage=replace(self.usage),
        )

    async def hang_up(self, line: str) -> None:
        """End the call politely from outside (server shutdown): the model says `line`, then we close;
        with no working session (not open yet, or lost) the line is simply closed."""
        try:
            await self._say_then_hang_up(line)
        except RealtimeError:
            await self.transport.close()

    # caller -> model ------------------------------------------------------------------------
    async def _listen(self) -> None:
        async for event in self.transport.events():
            if isinstance(event, AudioIn):
                await self.session.send_audio(pcm16_to_ulaw(event.pcm))
            elif isinstance(event, MarkEchoed):
                self.clock.echoed(event.name)
            elif isinstance(event, DigitPressed):
                self.call_log.digit(event.digit)

    # model -> caller ------------------------------------------------------------------------
    async def _model(self) -> None:
        async for event in self.session.events():
            if isinstance(event, AudioDelta | TranscriptDelta) and event.item_id in self._cut_items:
                continue  # the rest of a reply the caller cut: never played, never recorded
            if isinstance(event, AudioDelta):
                self._audio(event)
            elif isinstance(event, TranscriptDelta):
                reply = self._reply_for(event.item_id)
                reply.text.append(event.text)
            elif isinstance(event, SpeechStarted):
                self._last_caller = time.monotonic()
                await self._caller_started()
            elif isinstance(event, SpeechStopped):
                self._speech_end = time.monotonic()
            elif isinstance(event, InputTranscript):
                self._last_caller = time.monotonic()
                text = event.text.strip()
                if text:
                    self._last_caller_text = text
                    self._record("caller", text, None, False, datetime.now(UTC), {})
            elif isinstance(event, ResponseDone):
                self._response_done(event)
            elif isinstance(event, FunctionCallDone):
                await self._tool(event)
            elif isinstance(event, ServerError):
                log.warning("realtime server error: %s: %s", event.code, event.message)

    def _reply_for(self, item_id: str) -> _Reply:
        reply = self._reply
        if reply is None or reply.item_id != item_id:
            if reply is not None:
                self._close_audio(reply)
            self._replies += 1
            reply = _Reply(item_id, self.clock.start(self._replies), datetime.now(UTC), self._speech_end)
            self._speech_end = None
            self._reply = reply
        return reply

    def _audio(self, event: AudioDelta) -> None:
        reply = self._reply_for(event.item_id)
        reply.stamps.setdefault("first_audio", time.monotonic())
        for frame in reply.framer.push(event.ulaw):
            self._queue_frame(reply, frame)

    def _queue_frame(self, reply: _Reply, ulaw: bytes) -> None:
        self.pacer.put(_Frame(ulaw_to_pcm16(ulaw), reply if reply.frames == 0 else None), FRAME_MS)
        reply.frames += 1
        if reply.frames % _MARK_EVERY_FRAMES == 0:
            self._queue_mark(reply)

    def _queue_mark(self, reply: _Reply) -> None:
        name = self.clock.mark_name(reply.playback)
        reply.playback.add(name, "")
        reply.mark_ms[name] = reply.audio_ms
        self.pacer.put(_Mark(name), 0)

    def _close_audio(self, reply: _Reply) -> None:
        """The item's audio is complete: its last partial frame (padded) and a final mark."""
        last = reply.framer.flush()
        if last is not None:
            self._queue_frame(reply, last)
        if reply.frames % _MARK_EVERY_FRAMES:
            self._queue_mark(reply)

    def _response_done(self, event: ResponseDone) -> None:
        usage = event.usage or {}
        tokens_in, tokens_out = usage.get("input_tokens"), usage.get("output_tokens")
        if isinstance(tokens_in, int) and isinstance(tokens_out, int):
            self._count(llm_tokens_in=tokens_in, llm_tokens_out=tokens_out)
        reply, self._reply = self._reply, None
        if reply is None:
            if self._hang_up_after_reply and event.status != "cancelled" and self._tg is not None:
                self.ended_by = "persona"  # a goodbye with no audio (or only a tool call): nothing to wait for
                self._tg.create_task(self.transport.close())
            return
        self._close_audio(reply)
        self._tail = reply
        if self._tg is not None:
            self._tg.create_task(self._play_out(reply), name=f"play-{reply.playback.reply_id}")

    async def _play_out(self, reply: _Reply) -> None:
        """Record the reply once it has played (or was cut), then hang up if that was asked."""
        try:
            async with asyncio.timeout(self.pacer.queued_ms / 1000 + _MARK_GRACE_S):
                await reply.playback.drained()
        except TimeoutError:
            log.warning("marks not echoed in time: treating the rest of the reply as unheard")
            reply.playback.stop()
        self._finish_reply(reply, cut=reply.playback.cut)
        if self._hang_up_after_reply and not reply.playback.cut:
            self.ended_by = "persona"
            await self.transport.close()

    async def _caller_started(self) -> None:
        """Barge-in if the persona's audio is still queued or playing; otherwise just a new turn."""
        reply = self._reply or self._tail
        if reply is None or reply.recorded or not (reply.playback.playing or self.pacer.queued_ms > 0):
            return
        heard_ms = reply.heard_ms
        reply.playback.stop()
        self.pacer.clear()
        self._cut_items.add(reply.item_id)
        if self._reply is reply:
            self._reply = None
        self.barge_ins += 1
        await self.transport.clear()
        await self.session.truncate(reply.item_id, heard_ms)
        self._finish_reply(reply, cut=True)

    def _finish_reply(self, reply: _Reply, *, cut: bool) -> None:
        if reply.recorded:
            return
        reply.recorded = True
        self._last_persona = time.monotonic()
        self.clock.finish(reply.playback)
        if self._tail is reply:
            self._tail = None
        text = "".join(reply.text).strip()
        if not text:
            return
        heard = _heard_words(text, reply.heard_ms, reply.audio_ms) if cut else text
        latency: dict[str, float] = {}
        if reply.speech_end is not None:
            for stage, at in reply.stamps.items():
                latency[stage] = round((at - reply.speech_end) * 1000, 1)
            if reply.playback.first_played_at is not None:
                latency["first_mark_echoed"] = round((reply.playback.first_played_at - reply.speech_end) * 1000, 1)
        self._record("persona", text, heard, cut, reply.started_at, latency)

    async def _send(self, item: _Frame | _Mark) -> None:
        if isinstance(item, _Mark):
            await self.transport.send_mark(item.name)
            return
        if item.first_of is not None:
            item.first_of.stamps.setdefault("first_frame_sent", time.monotonic())
        await self.transport.send_audio(item.pcm)

    # tools and limits -----------------------------------------------------------------------
    async def _tool(self, event: FunctionCallDone) -> None:
        if event.name == "end_call":
            # As in Call: the model may end the call only once the caller has said goodbye.
            ok = said_goodbye(self._last_caller_text)
            self._hang_up_after_reply = self._hang_up_after_reply or ok
            await self.session.send_function_output(event.call_id, json.dumps({"ended": ok}))
            return
        line = None
        if self.tool_handler is not None:
            line = await self.tool_handler(ToolCall(event.call_id, event.name, event.arguments))
        await self.session.send_function_output(event.call_id, json.dumps({"say": line or ""}))
        await self.session.create_response()

    async def _watch(self) -> None:
        """Time limit (the goodbye line) and silence (a prompt, then a goodbye), as in `Call`; the model
        says the fixed lines, asked to say exactly them."""
        lines, settings = self.settings.lines, self.settings
        prompted_at: float | None = None
        while True:
            await asyncio.sleep(0.25)
            now = time.monotonic()
            if now - self._started >= self.plan.time_limit_s:
                await self._say_then_hang_up(lines.time_goodbye)
                return
            if self._reply is not None or self._tail is not None or self._hang_up_after_reply:
                continue  # the persona is speaking (or saying goodbye)
            if prompted_at is not None and self._last_caller > prompted_at:
                prompted_at = None  # the caller answered
            silent_for = now - max(self._last_caller, self._last_persona)
            if prompted_at is None and silent_for >= settings.idle_prompt_s:
                prompted_at = self._last_persona = now
                await self.session.create_response(instructions=_say_exactly(lines.still_there))
            elif prompted_at is not None and silent_for >= settings.idle_hangup_s:
                await self._say_then_hang_up(lines.idle_goodbye)
                return

    async def _say_then_hang_up(self, line: str) -> None:
        if self._hang_up_after_reply:
            return
        self._hang_up_after_reply = True
        if self._reply is not None:
            await self._caller_started()  # cut what is playing, as a barge-in would
            await self.session.cancel_response()
        elif self._tail is not None:
            await self._caller_started()
        await self.session.create_response(instructions=_say_exactly(line))

    # records --------------------------------------------------------------------------------
    def _count(self, **amounts: float) -> None:
        for name, amount in amounts.items():
            setattr(self.usage, name, getattr(self.usage, name) + amount)
        self.call_log.usage(replace(self.usage))

    def _record(
        self, role: str, text: str, heard: str | None, interrupted: bool, started_at: datetime, latency: dict
    ) -> None:
        self.call_log.utterance(
            Utterance(self._seq, role, text, heard, interrupted, started_at, datetime.now(UTC), latency)
        )
        self._seq += 1
        if role == "caller":
            self.history.append({"role": "user", "content": text})
        elif heard:
            self.history.append({"role": "assistant", "content": heard})


def _say_exactly(line: str) -> str:
    return f'Say exactly this and nothing else: "{line}"'


def _heard_words(text: str, heard_ms: int, audio_ms: int) -> str:
    """The words of `text` up to the share of its audio that was heard, cut at a word boundary."""
    if audio_ms <= 0 or heard_ms <= 0:
        return ""
    words = text.split()
    return " ".join(words[: int(len(words) * min(1.0, heard_ms / audio_ms))])
