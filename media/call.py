"""One live conversation: listen, hear, think, speak — with barge-in — over any Transport.

Everything a call starts lives in one TaskGroup, so when the caller hangs up (the transport's events
end) every task of the call is cancelled and awaited before `run()` returns: nothing keeps running and
nothing is sent after close. Barge-in is cancellation: the reply task is cancelled, the pacer and the
far end's buffer are cleared, and the reply's `finally` records only what the mark echoes prove the
caller heard.

    listen   (run's body) transport events -> VAD -> turn detector; marks -> playback clock
    hear     turns -> speech-to-text -> caller utterances -> a new reply
    reply    think (LLM -> sentences) and speak (TTS -> 20 ms frames -> pacer, a mark per sentence)
    pacer    frames out at real time, a small lead ahead
    watch    call time limit, silence handling

Usage (speech-to-text seconds, model tokens, synthesized characters) is counted as the engines are used
and reported to the CallLog as running totals, which never blocks: the orchestrator prices and stores it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from media.early_reply import EarlyReply
from media.framing import Framer, frame_bytes
from media.pacer import Pacer, PacerSettings
from media.playback import Playback, PlaybackClock
from media.resample import StreamResampler
from media.sentences import SentenceSplitter
from media.silence import LeadingSilenceTrimmer
from media.stt import SpeechToText, SpeechToTextError, Transcript
from media.transport import AudioIn, DigitPressed, MarkEchoed, TextIn, Transport, TransportClosed
from media.tts import TextToSpeech, TextToSpeechError, Voice
from media.turns import SpeculativePause, SpeechResumed, SpeechStarted, TurnDetector, TurnEnded, TurnSettings
from media.vad import VadSettings, voice_activity
from personas.character import CharacterCheck
from personas.llm import Done, LanguageModel, LanguageModelError, LlmEvent, Message, TextDelta, ToolCall, ToolSpec
from personas.prompt import estimate_tokens, live_message, live_notes_from

log = logging.getLogger(__name__)

FRAME_MS = 20
_MARK_GRACE_S = 3.0  # beyond the audio still queued, how long to wait for the last mark's echo
# The first words of a reply up to a comma are said while the model writes on: "Sure," or "Oh no," at once
# (a reply's first sentence is what the caller waits for: ~30 ms a token, then the voice's time for all of it).
_FIRST_CLAUSE_CHARS = 2
# With no comma, the first words up to a phrase ("That sounds like a great opportunity | for ...") once there
# are this many: a long first sentence otherwise waits for its last token, ~40 ms each, before Piper starts.
_FIRST_PHRASE_WORDS = 4
# A reply asked for again after it fell out of character: at the persona's own temperature when that is
# higher, else at this one (at a low temperature the second answer would repeat the first).
_RETRY_TEMPERATURE = 0.8
_GOODBYE = re.compile(
    r"\b(good ?bye|bye|talk (to you )?(later|soon)|hang(ing)? up|gotta go|have to go|see you|that'?s all)\b", re.I
)


def said_goodbye(text: str) -> bool:
    """The caller took their leave: only then may the model end the call (a model alone must not hang up)."""
    return bool(_GOODBYE.search(text))


@dataclass(frozen=True)
class CallLines:
    """Fixed lines the persona says when the model cannot or should not improvise."""

    fallback: str
    still_there: str
    idle_goodbye: str
    time_warning: str
    time_goodbye: str
    shutdown_goodbye: str


@dataclass(frozen=True)
class CallSettings:
    turns: TurnSettings
    vad: VadSettings
    pacer: PacerSettings
    lines: CallLines
    first_token_timeout_s: float
    stt_timeout_s: float
    tts_timeout_s: float
    idle_prompt_s: float
    idle_hangup_s: float
    time_warning_s: float
    min_transcript_chars: int


@dataclass(frozen=True)
class CallPlan:
    """What the orchestrator decided about this call: who speaks, how, for how long."""

    system_prompt: str
    opening_instruction: str
    opening_fallback: str  # said if the model cannot open the call (error, timeout, nothing speakable)
    voice: Voice
    temperature: float
    max_tokens: int
    time_limit_s: float
    end_silence_ms: float | None = None
    tools: Sequence[ToolSpec] = ()
    # Messages the model reads between the system prompt and the call's own (a style example).
    example: Sequence[Message] = ()
    # The persona's name, for the character check ("Hello Sarah!" from Sarah); empty if the caller shares it.
    persona_name: str = ""
    # The persona's fixed first words, said at once when the call connects; empty: the model greets.
    greeting: str = ""


@dataclass(frozen=True)
class Utterance:
    seq: int
    role: str
    text: str
    heard_text: str | None
    interrupted: bool
    started_at: datetime
    ended_at: datetime | None
    latency_ms: dict[str, float]


@dataclass
class CallUsage:
    """What the call has used of the metered engines so far (running totals)."""

    stt_seconds: float = 0.0  # caller audio sent to speech-to-text, one count per finished turn
    llm_tokens_in: int = 0  # as the model reports them (Done.usage); 0 when it reports nothing
    llm_tokens_out: int = 0
    tts_chars: int = 0  # text sent to text-to-speech, including sentences cut by a barge-in


class CallLog(Protocol):
    """Where records go; never blocks (the orchestrator buffers and writes them)."""

    def utterance(self, utterance: Utterance) -> None: ...

    def digit(self, digit: str) -> None: ...

    def usage(self, usage: CallUsage) -> None:
        """The running totals (a copy), each time they change: the latest report is the call's usage."""
        ...


ToolHandler = Callable[[ToolCall], Awaitable[str | None]]
"""Runs a tool the model called (other than end_call); returns a line to say, if any."""


@dataclass(frozen=True)
class Engines:
    stt: SpeechToText
    tts: TextToSpeech
    llm: LanguageModel


@dataclass(frozen=True)
class Handover:
    """A call another engine held until now (a speech-to-speech session that was lost), carried on by a
    pipeline `Call`: what was said so far, the record and reply counters to go on from (so records stay in
    order and late mark echoes of the old replies match none of the new), and the line to say first."""

    history: Sequence[Message]
    next_seq: int
    replies_so_far: int
    first_line: str
    elapsed_s: float  # of the call so far: the time limit counts from its start
    usage: CallUsage  # so far: the call's totals go on from it


@dataclass
class _Frame:
    pcm: bytes
    timing: _Timing | None = None


@dataclass
class _Mark:
    name: str


@dataclass
class _Timing:
    """Monotonic times for one reply, reported as ms after the caller stopped speaking."""

    speech_end: float | None
    stamps: dict[str, float] = field(default_factory=dict)

    def stamp(self, stage: str) -> None:
        self.stamps.setdefault(stage, time.monotonic())

    def breakdown(self) -> dict[str, float]:
        if self.speech_end is None:
            return {}
        return {stage: round((at - self.speech_end) * 1000, 1) for stage, at in self.stamps.items()}


@dataclass
class _Reply:
    task: asyncio.Task[None]
    playback: Playback
    interruptible: bool


class _CallOver(Exception):
    """Raised in the TaskGroup body to end every task of the call."""


class Call:
    def __init__(
        self,
        transport: Transport,
        engines: Engines,
        settings: CallSettings,
        plan: CallPlan,
        call_log: CallLog,
        tool_handler: ToolHandler | None = None,
        handover: Handover | None = None,
    ) -> None:
        self.transport = transport
        self.engines = engines
        self.handover = handover
        self.settings = settings
        self.plan = plan
        self.call_log = call_log
        self.tool_handler = tool_handler
        turns = settings.turns
        if plan.end_silence_ms is not None:
            turns = replace(
                turns,
                end_silence_ms=plan.end_silence_ms,
                speculative_silence_ms=min(turns.speculative_silence_ms, plan.end_silence_ms),
            )
        self.turns = TurnDetector(turns)
        self.vad = voice_activity(settings.vad, transport.sample_rate)
        self.clock = PlaybackClock()
        self.pacer: Pacer[_Frame | _Mark] = Pacer(settings.pacer, self._send)
        self.history: list[Message] = []
        self.barge_ins = 0
        self.ended_by: str = "caller"
        self.usage = CallUsage()
        self._frame_bytes = frame_bytes(transport.sample_rate, FRAME_MS, 2)
        self._heard: asyncio.Queue[_Turn] = asyncio.Queue()
        self._reply: _Reply | None = None
        self._reply_count = 0
        self._seq = 0
        self._tg: asyncio.TaskGroup | None = None
        self._started = time.monotonic()
        self._last_caller = time.monotonic()  # caller speech or keys
        self._last_persona = time.monotonic()  # the end of the persona's last reply
        self._hanging_up = False
        self._last_caller_text = ""
        self._audio_since_clear = False
        self._speculation: _Speculation | None = None
        self._cut_reply_heard: bool | None = None  # did the caller hear any of a reply they cut (until the next)
        if handover is not None:
            self.history = list(handover.history)
            self.usage = replace(handover.usage)
            self._seq, self._reply_count = handover.next_seq, handover.replies_so_far
            self._started -= handover.elapsed_s

    async def run(self) -> None:
        """Hold the conversation until either side hangs up; returns with every task finished."""
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                tg.create_task(self.pacer.run(), name="pacer")
                tg.create_task(self._hear(), name="hear")
                tg.create_task(self._watch(), name="watch")
                if self.handover is None:
                    # A fixed greeting is said like any fixed line; without one, the model writes it.
                    self._start_reply(opening=True, script=self.plan.greeting or None)
                else:
                    self._start_reply(script=self.handover.first_line)
                await self._listen()
                raise _CallOver
        except* _CallOver:
            pass
        except* TransportClosed:
            pass
        finally:
            self._tg = None

    async def hang_up(self, line: str) -> None:
        """End the call politely from outside (server shutdown): say `line`, then close."""
        if not self._hanging_up:
            await self._interrupt(force=True)
            self._start_reply(script=line, then_hang_up=True, interruptible=False)

    # listen ---------------------------------------------------------------------------------
    async def _listen(self) -> None:
        async for event in self.transport.events():
            if isinstance(event, AudioIn):
                for window in self.vad.feed(event.pcm):
                    for turn_event in self.turns.push(window):
                        await self._on_turn_event(turn_event)
            elif isinstance(event, MarkEchoed):
                self.clock.echoed(event.name)
            elif isinstance(event, DigitPressed):
                self._last_caller = time.monotonic()
                self.call_log.digit(event.digit)
            elif isinstance(event, TextIn):
                self._last_caller = time.monotonic()
                self._heard.put_nowait(_Turn(b"", time.monotonic(), typed=event.text))

    async def _on_turn_event(self, event: object) -> None:
        self._last_caller = time.monotonic()
        if isinstance(event, SpeechStarted):
            reply = self._reply
            if reply is None or not reply.interruptible:
                return
            if event.barge_in or not reply.playback.segments:
                # Speaking: the caller barges in. Still thinking: the caller went on; drop the reply.
                await self._interrupt()
        elif isinstance(event, SpeculativePause) and self._tg is not None:
            # Maybe the end of the turn: start transcribing now (and, with speculative_reply, thinking),
            # so the words and the reply are ready (or nearly) when the end-of-turn silence has passed.
            # Dropped if the caller goes on.
            self._drop_speculation()
            speculation = _Speculation(event.end_ms)
            speculation.transcript = self._tg.create_task(
                self._speculate(event.pcm, speculation), name="speculative-stt"
            )
            self._speculation = speculation
        elif isinstance(event, SpeechResumed):
            self._drop_speculation()
        elif isinstance(event, TurnEnded):
            speech_end = time.monotonic() - (event.at_ms - event.end_ms) / 1000
            speculation = None
            if self._speculation is not None and self._speculation.end_ms == event.end_ms:
                speculation, self._speculation = self._speculation, None  # same audio: reuse its work
            self._drop_speculation()
            self._heard.put_nowait(_Turn(event.pcm, speech_end, speculation))

    def _drop_speculation(self) -> None:
        if self._speculation is not None:
            if self._speculation.transcript is not None:
                self._speculation.transcript.cancel()
            self._drop_early_reply(self._speculation.reply)
            self._speculation = None

    def _drop_early_reply(self, early: EarlyReply | None) -> None:
        """Cancel a reply begun on a guess and never used; what the model already read and wrote is
        counted (the provider bills it), once."""
        if early is None:
            return
        early.cancel()
        if early.usage is not None:
            self._count(llm_tokens_in=early.usage.prompt_tokens, llm_tokens_out=early.usage.completion_tokens)
        elif early.produced:
            prompt = "".join(str(message.get("content") or "") for message in early.messages)
            self._count(llm_tokens_in=estimate_tokens(prompt), llm_tokens_out=estimate_tokens("".join(early.produced)))

    async def _speculate(self, pcm: bytes, speculation: _Speculation) -> Transcript | None:
        """A child of the call's TaskGroup must not raise: a failed guess is None (the turn retries)."""
        try:
            transcript = await self._transcribe(pcm)
        except (TimeoutError, SpeechToTextError):
            return None
        text = transcript.text.strip()
        if (
            self.turns.settings.speculative_reply
            and self._tg is not None
            and self._reply is None  # nothing will be cut first: the reply would see this same history
            and not self._hanging_up
            and self._speculation is speculation
            and self._is_words(transcript)
        ):
            messages = self._reply_messages(opening=False, consume=False, unheard_yet=text)
            speculation.reply = EarlyReply(messages, self._complete(messages, opening=False))
            speculation.reply.start(self._tg)
        return transcript

    def _is_words(self, transcript: Transcript) -> bool:
        """Speech worth a turn, not noise or a breath."""
        text = transcript.text.strip()
        return len(text) >= self.settings.min_transcript_chars and transcript.no_speech_prob <= 0.8

    async def _transcribe(self, pcm: bytes) -> Transcript:
        async with asyncio.timeout(self.settings.stt_timeout_s):
            return await self.engines.stt.transcribe(pcm, self.transport.sample_rate)

    async def _interrupt(self, force: bool = False) -> None:
        reply = self._reply
        if reply is None or (not reply.interruptible and not force):
            return
        # Audio may be out before the first sentence's mark (streamed speech): that also needs a clear.
        speaking = bool(reply.playback.segments) or self._audio_since_clear
        reply.playback.stop()
        # Cancel before awaiting anything: a reply still synthesizing could otherwise queue frames
        # behind the pacer's clear, and they would reach the caller after the `clear`.
        reply.task.cancel()
        self.pacer.clear()
        self._reply = None
        self.turns.set_persona_speaking(False)
        if speaking:
            self.barge_ins += 1
            self._audio_since_clear = False
            await self.transport.clear()
        # The reply's `finally` records what was heard and adds it to the history: let it run now, so
        # whatever follows the interruption (the caller's turn) comes after it in both.
        await asyncio.wait([reply.task])
        if speaking and not force:
            self._cut_reply_heard = bool(reply.playback.heard_text)  # a live note for the next reply

    # hear -----------------------------------------------------------------------------------
    async def _hear(self) -> None:
        while True:
            turn = await self._heard.get()
            started_at = datetime.now(UTC)
            try:
                if turn.typed is not None:  # a typed line: nothing to transcribe
                    transcript = Transcript(turn.typed, 0.0, 0.0, 0.0, 0.0)
                else:
                    speculation = turn.speculation
                    early = await speculation.transcript if speculation and speculation.transcript else None
                    transcript = early or await self._transcribe(turn.pcm)
            except (TimeoutError, SpeechToTextError) as exc:
                log.warning("speech-to-text failed: %s", type(exc).__name__)
                self._drop_early_reply(turn.speculation.reply if turn.speculation else None)
                self._start_reply(script=self.settings.lines.fallback)
                continue
            early_reply = turn.speculation.reply if turn.speculation and early else None
            self._count(stt_seconds=len(turn.pcm) / 2 / self.transport.sample_rate)
            text = transcript.text.strip()
            if not self._is_words(transcript):
                self._drop_early_reply(early_reply)
                continue  # noise or a breath: not a turn
            timing = _Timing(turn.speech_end)
            timing.stamp("transcript")
            if self._reply is not None and self._reply.interruptible:
                await self._interrupt()  # first: the cut reply precedes this turn in transcript and history
            self._record("caller", text, None, False, started_at, {"stt_ms": round(transcript.latency_s * 1000, 1)})
            self.history.append({"role": "user", "content": text})
            self._last_caller_text = text
            if self.turns.in_turn or not self._heard.empty():
                self._drop_early_reply(early_reply)
                continue  # the caller went on talking: answer once they have finished
            self._start_reply(timing=timing, caller_said_goodbye=said_goodbye(text), early=early_reply)

    # reply ----------------------------------------------------------------------------------
    def _start_reply(
        self,
        *,
        opening: bool = False,
        script: str | None = None,
        timing: _Timing | None = None,
        then_hang_up: bool = False,
        interruptible: bool = True,
        caller_said_goodbye: bool = False,
        early: EarlyReply | None = None,
    ) -> None:
        if self._tg is None or self._hanging_up:
            self._drop_early_reply(early)
            return
        if then_hang_up:
            self._hanging_up = True
        self._reply_count += 1
        playback = self.clock.start(self._reply_count)
        coro = self._respond(
            playback, opening, script, timing or _Timing(None), then_hang_up, caller_said_goodbye, early
        )
        task = self._tg.create_task(coro, name=f"reply-{self._reply_count}")
        self._reply = _Reply(task, playback, interruptible)

    async def _respond(
        self,
        playback: Playback,
        opening: bool,
        script: str | None,
        timing: _Timing,
        then_hang_up: bool,
        caller_said_goodbye: bool,
        early: EarlyReply | None = None,
    ) -> None:
        started_at = datetime.now(UTC)
        spoken: list[str] = []
        outcome = {"end_call": then_hang_up or caller_said_goodbye}
        sentences: asyncio.Queue[str | None] = asyncio.Queue()
        try:
            async with asyncio.TaskGroup() as tg:
                if script is not None:
                    for sentence in SentenceSplitter().split(script):
                        sentences.put_nowait(sentence)
                    sentences.put_nowait(None)
                    if opening:  # the model reads the first reply's prompt while the greeting plays
                        self._prefill_first_reply(script)
                    await self._speak(sentences, playback, timing, spoken)
                else:
                    # Think in this task, speak in a child: the model is asked at once, not one event-loop
                    # pass later (each pass waits behind every other call's frames).
                    tg.create_task(self._speak(sentences, playback, timing, spoken))
                    await self._think(opening, sentences, timing, outcome, early)
            try:
                # Marks come back as the audio plays; a far end that never echoes them must not hold
                # the call in "speaking" for ever (what was not echoed counts as not heard).
                async with asyncio.timeout(self.pacer.queued_ms / 1000 + _MARK_GRACE_S):
                    await playback.drained()
            except TimeoutError:
                log.warning("marks not echoed in time: treating the rest of the reply as unheard")
                playback.stop()
        finally:
            self.turns.set_persona_speaking(False)
            self.clock.finish(playback)
            if self._reply is not None and self._reply.playback is playback:
                self._reply = None
            text = " ".join(spoken)
            if text:
                heard = playback.heard_text
                latency = timing.breakdown()
                if playback.first_played_at is not None and timing.speech_end is not None:
                    latency["first_mark_echoed"] = round((playback.first_played_at - timing.speech_end) * 1000, 1)
                self._record("persona", text, heard, playback.cut, started_at, latency)
                if heard:
                    if opening:  # the pickup the greeting answered: the history alternates, as the model expects
                        self.history.append({"role": "user", "content": self.plan.opening_instruction})
                    self.history.append({"role": "assistant", "content": heard})
            self._last_persona = time.monotonic()
        if outcome["end_call"] and not playback.cut:
            self.ended_by = "persona"
            await self.transport.close()

    async def _think(
        self,
        opening: bool,
        sentences: asyncio.Queue[str | None],
        timing: _Timing,
        outcome: dict[str, Any],
        early: EarlyReply | None = None,
    ) -> None:
        """Ask the model and pass its sentences on as they come. A reply that falls out of character before
        a word of it was said is asked for once more (a greeting gets the plan's fixed opening instead: the
        caller is waiting on the pickup); one that falls out of character later ends where it was."""
        messages = self._reply_messages(opening)
        if early is not None and early.messages == messages:
            stream = early.replay()  # begun on the speculative transcript: the same messages, so the same reply
        else:
            self._drop_early_reply(early)  # the conversation moved on since the guess (a note, a cut reply)
            stream = self._complete(messages, opening)
        said: list[str] = []  # what was passed on to be spoken, in order
        fallback = self.plan.opening_fallback if opening else self.settings.lines.fallback
        try:
            broken = await self._read_reply(stream, messages, sentences, timing, outcome, said)
            if broken and not said and not opening:
                log.info("the reply fell out of character before a word was said: asking again")
                retry = self._complete(messages, opening, temperature=max(self.plan.temperature, _RETRY_TEMPERATURE))
                broken = await self._read_reply(retry, messages, sentences, timing, outcome, said)
            if broken:
                log.info("the reply fell out of character: %s", "ended there" if said else "not said")
            if not said and not outcome["end_call"]:
                if not broken:
                    log.warning("language model said nothing speakable")
                said.append(fallback)
                sentences.put_nowait(fallback)
            if opening and said:
                self._prefill_first_reply(" ".join(said))
        except (TimeoutError, LanguageModelError) as exc:
            log.warning("language model failed: %s", type(exc).__name__)
            if not said:
                sentences.put_nowait(fallback)
        finally:
            sentences.put_nowait(None)

    async def _read_reply(
        self,
        stream: AsyncIterator[LlmEvent],
        messages: list[Message],
        sentences: asyncio.Queue[str | None],
        timing: _Timing,
        outcome: dict[str, Any],
        said: list[str],
    ) -> bool:
        """One of the model's answers, sentence by sentence into `sentences` (and `said`), tools used as
        they come; True when it fell out of character (the rest of it is not said)."""
        splitter = SentenceSplitter(first_clause_chars=_FIRST_CLAUSE_CHARS, first_phrase_words=_FIRST_PHRASE_WORDS)
        check = CharacterCheck(self.plan.persona_name)
        produced: list[str] = []  # the model's output, to estimate its tokens if it never reports them
        reported = False
        try:
            while not check.broken:
                try:
                    # The same deadline between tokens: a model silent mid-reply that long has stalled, and
                    # the caller would otherwise hear dead air until the client's own timeout.
                    async with asyncio.timeout(self.settings.first_token_timeout_s):
                        event = await anext(stream)
                except StopAsyncIteration:
                    break
                timing.stamp("llm_first_token")  # the first stamp stays
                pieces: list[str] = []
                if isinstance(event, TextDelta):
                    produced.append(event.text)
                    pieces = check.push(splitter.push(event.text))
                    pieces += check.release(splitter.pending)
                elif isinstance(event, ToolCall):
                    produced.append(f"{event.name}{event.arguments}")
                    if line := await self._use_tool(event, outcome):
                        pieces = [line]
                elif isinstance(event, Done):
                    reported = True
                    if event.usage is not None:
                        self._count(
                            llm_tokens_in=event.usage.prompt_tokens, llm_tokens_out=event.usage.completion_tokens
                        )
                    break
                said.extend(pieces)
                for piece in pieces:
                    sentences.put_nowait(piece)
            if not check.broken:
                for piece in check.flush(splitter.flush()):
                    said.append(piece)
                    sentences.put_nowait(piece)
            return check.broken
        finally:
            if produced and not reported:
                # Cut by a barge-in, a failure or a sentence out of character before the model's usage report:
                # count what it read and wrote, estimated, since the provider bills it all the same.
                prompt = "".join(str(message.get("content") or "") for message in messages)
                self._count(llm_tokens_in=estimate_tokens(prompt), llm_tokens_out=estimate_tokens("".join(produced)))
            await stream.aclose()

    def _reply_messages(self, opening: bool, *, consume: bool = True, unheard_yet: str | None = None) -> list[Message]:
        """What the model reads for the next reply: the unchanging prefix (`_conversation`), the call's
        live notes, then the caller's words since the persona last spoke. A speculative reply passes the
        words it guesses from (`unheard_yet`: not in the history until the turn ends) and `consume=False`,
        which leaves the once-told notes for the reply that is actually spoken.

        Told notes stay in the history where they were told, so the next prompt still extends this one:
        dropped again, llama.cpp re-read everything after them (~150 tokens, ~1 s on two cores) on the turn
        after each barge-in."""
        history = self.history if consume else list(self.history)
        if note := self._live_note(consume):
            # Before what the caller said since the persona last spoke: the last thing the model reads is
            # what it answers (with the notes last, the 0.5B read them out to the caller).
            since = len(history)
            while since and history[since - 1]["role"] == "user":
                since -= 1
            history.insert(since, note)
        messages = self._conversation(history)
        if opening:
            messages.append({"role": "user", "content": self.plan.opening_instruction})
        if unheard_yet is not None:
            messages.append({"role": "user", "content": unheard_yet})
        return messages

    def _conversation(self, history: Sequence[Message]) -> list[Message]:
        """System prompt, style example and history: each reply's prompt extends the last one's, so a model
        server with a prompt cache reads only what is new."""
        return [{"role": "system", "content": self.plan.system_prompt}, *self.plan.example, *history]

    def _prefill_first_reply(self, greeting: str) -> None:
        """The first reply's prompt adds the tools and the greeting to the greeting's own: let the model
        read it while the greeting plays rather than after the caller's first answer (~2 s on two cores)."""
        if self._tg is None:
            return
        messages = [
            *self._conversation(self.history),
            {"role": "user", "content": self.plan.opening_instruction},
            {"role": "assistant", "content": greeting},
        ]
        self._tg.create_task(self.engines.llm.prefill(messages, self.plan.tools), name="prefill-first-reply")

    def _complete(
        self, messages: list[Message], opening: bool, temperature: float | None = None
    ) -> AsyncIterator[LlmEvent]:
        return self.engines.llm.complete(
            # No tools for the greeting: small models answer a pickup with a made-up tool call instead of words.
            messages,
            () if opening else self.plan.tools,
            temperature=self.plan.temperature if temperature is None else temperature,
            max_tokens=self.plan.max_tokens,
        )

    def _live_note(self, consume: bool = True) -> Message | None:
        """What the call has noticed since the last reply: time running out (from twice the warning time
        before the limit) and an interruption, which is told once."""
        cut_reply_heard = self._cut_reply_heard
        if consume:
            self._cut_reply_heard = None
        left = self.plan.time_limit_s - (time.monotonic() - self._started)
        near_end = left <= 2 * self.settings.time_warning_s
        return live_message(live_notes_from(time_left_s=left if near_end else None, cut_reply_heard=cut_reply_heard))

    async def _use_tool(self, call: ToolCall, outcome: dict[str, Any]) -> str | None:
        if call.name == "end_call":
            # Small models call end_call on "I had a rough day"; hanging up on someone is the worse
            # mistake, so the model may end the call only once the caller has signalled goodbye.
            if said_goodbye(self._last_caller_text):
                outcome["end_call"] = True
            else:
                log.info("end_call ignored: the caller has not said goodbye")
            return None
        if self.tool_handler is None:
            return None
        return await self.tool_handler(call)

    async def _speak(
        self, sentences: asyncio.Queue[str | None], playback: Playback, timing: _Timing, spoken: list[str]
    ) -> None:
        tts = self.engines.tts
        resampler = StreamResampler(tts.sample_rate, self.transport.sample_rate)
        framer = Framer(self._frame_bytes, b"\x00")
        while (sentence := await sentences.get()) is not None:
            spoken.append(sentence)
            produced = False
            self._count(tts_chars=len(sentence))
            trimmer = LeadingSilenceTrimmer(tts.sample_rate)
            try:
                async with asyncio.timeout(self.settings.tts_timeout_s):
                    async for chunk in tts.synthesize(sentence, self.plan.voice):
                        if not (audio := trimmer.push(chunk)):
                            continue
                        timing.stamp("tts_first_audio")
                        produced = True
                        self._queue_audio(framer.push(resampler.process(audio)), timing)
            except (TimeoutError, TextToSpeechError) as exc:
                log.warning("text-to-speech failed: %s", type(exc).__name__)
                if not produced:
                    spoken.pop()  # never said: not part of the persona's turn
                framer.clear()
                resampler.reset()
                continue
            tail = framer.push(resampler.flush())
            last = framer.flush()
            self._queue_audio([*tail, last] if last else tail, timing)
            resampler.reset()
            name = self.clock.mark_name(playback)
            playback.add(name, sentence)
            self.pacer.put(_Mark(name), 0)

    def _queue_audio(self, frames: list[bytes], timing: _Timing) -> None:
        for frame in frames:
            first = "first_frame_sent" not in timing.stamps
            self.pacer.put(_Frame(frame, timing if first else None), FRAME_MS)
            timing.stamps.setdefault("first_frame_queued", time.monotonic())
        if frames:
            self.turns.set_persona_speaking(True)

    async def _send(self, item: _Frame | _Mark) -> None:
        if isinstance(item, _Mark):
            await self.transport.send_mark(item.name)
            return
        if item.timing is not None:
            item.timing.stamp("first_frame_sent")
        self._audio_since_clear = True
        await self.transport.send_audio(item.pcm)

    # watch ----------------------------------------------------------------------------------
    async def _watch(self) -> None:
        """Time limit (a warning, then a goodbye) and silence (a prompt, then a goodbye)."""
        lines, settings = self.settings.lines, self.settings
        warned = False
        prompted_at: float | None = None
        while not self._hanging_up:
            await asyncio.sleep(0.25)
            now = time.monotonic()
            elapsed = now - self._started
            limit = self.plan.time_limit_s
            if elapsed >= limit:
                await self._interrupt(force=True)
                self._start_reply(script=lines.time_goodbye, then_hang_up=True, interruptible=False)
                return
            busy = self._reply is not None or self.turns.in_turn
            if busy:
                continue
            if not warned and limit - elapsed <= settings.time_warning_s and limit > 2 * settings.time_warning_s:
                warned = True
                self._start_reply(script=lines.time_warning)
                continue
            if prompted_at is not None and self._last_caller > prompted_at:
                prompted_at = None  # the caller answered
            silent_for = now - max(self._last_caller, self._last_persona)
            if prompted_at is None and silent_for >= settings.idle_prompt_s:
                prompted_at = now
                self._start_reply(script=lines.still_there)
            elif prompted_at is not None and silent_for >= settings.idle_hangup_s:
                self._start_reply(script=lines.idle_goodbye, then_hang_up=True, interruptible=False)
                return

    # records --------------------------------------------------------------------------------
    def _count(self, **amounts: float) -> None:
        for name, amount in amounts.items():
            setattr(self.usage, name, getattr(self.usage, name) + amount)
        self.call_log.usage(replace(self.usage))

    def _record(
        self,
        role: str,
        text: str,
        heard: str | None,
        interrupted: bool,
        started_at: datetime,
        latency: dict[str, float],
    ) -> None:
        self.call_log.utterance(
            Utterance(self._seq, role, text, heard, interrupted, started_at, datetime.now(UTC), latency)
        )
        self._seq += 1


@dataclass
class _Speculation:
    """Work started at a speculative pause ending at `end_ms`: the transcription, then (with
    speculative_reply) the model's reply to it, buffered unspoken."""

    end_ms: float
    transcript: asyncio.Task[Transcript | None] | None = None
    reply: EarlyReply | None = None


@dataclass(frozen=True)
class _Turn:
    """A finished caller turn, with the monotonic time the caller stopped speaking and, when the
    speculative pause covered exactly this audio, what was started there."""

    pcm: bytes
    speech_end: float
    speculation: _Speculation | None = None
    typed: str | None = None
