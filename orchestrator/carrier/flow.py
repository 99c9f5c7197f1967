"""One call from dial to hang-up, as Twilio runs it: progress, answer webhook, TwiML, streams.

`run_call` is the call's only top-level task. Inside it a TaskGroup holds the status-callback lane
and fire-and-forget webhooks (stream status, async AMD), so everything a call started ends with it.
Each phase runs under an `asyncio.timeout` that a REST hang-up reschedules to now (see calls.py);
TimeLimit is the same timeout's initial deadline.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

import aiohttp

from .audio import resample_pcm
from .calls import Call, CallStatus, Direction
from .errors import (
    DOCUMENT_PARSE_FAILURE,
    HTTP_RETRIEVAL_FAILURE,
    STREAM_HANDSHAKE,
    STREAM_URL_SCHEME,
    CarrierError,
    TwimlError,
)
from .phone import Phone, StreamEnd, StreamTarget, new_stream_sid
from .report import StreamReport
from .scenarios import Outcome
from .settings import CarrierSettings
from .twiml import Connect, Hangup, Pause, Redirect, Reject, Say, Stream, Unsupported, Verb, parse_twiml
from .webhooks import StatusCallbacks, Webhooks

log = logging.getLogger(__name__)

SAY_LOOP_FOREVER = 1000  # <Say loop="0">: "repeat until the call ends"; TimeLimit or a hang-up stops it
INBOUND_CALLBACK_EVENTS = frozenset({"completed"})  # a number's StatusCallback only hears the end


class TextToSpeech(Protocol):
    """Same shape as the product's speech engines, so the carrier can speak `<Say>` with a real voice."""

    sample_rate: int

    def synthesize(self, text: str) -> AsyncIterator[bytes]: ...


@dataclass(frozen=True)
class Switchboard:
    """The carrier-wide resources a call uses."""

    settings: CarrierSettings
    session: aiohttp.ClientSession
    webhooks: Webhooks
    text_to_speech: TextToSpeech | None
    dial_slot: Callable[[], Awaitable[None]]  # waits for the account's calls-per-second slot


@asynccontextmanager
async def _phase(call: Call, limit_s: float | None) -> AsyncIterator[None]:
    """A stretch of the call a hang-up can cut short: ends quietly on its deadline."""
    try:
        async with asyncio.timeout(limit_s) as deadline:
            call.enter_phase(deadline)
            try:
                yield
            finally:
                call.leave_phase()
    except TimeoutError:
        if not deadline.expired():
            raise


async def run_call(call: Call, board: Switchboard, phone: Phone) -> None:
    """Drive `call` to a terminal status; errors end the call (and are reported), never the carrier."""
    request = call.request
    events = request.events if call.direction is Direction.OUTBOUND else INBOUND_CALLBACK_EVENTS
    callbacks = StatusCallbacks(
        board.webhooks,
        request.status_callback,
        request.status_callback_method,
        events,
        call.scenario.chaos,
        call.report,
    )
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(callbacks.deliver())
            try:
                await _CallRun(call, board, phone, callbacks, tg.create_task).progress()
            except Exception as exc:
                log.exception("call %s failed inside the carrier", call.sid)
                call.report.error(0, f"carrier fault: {exc!r}")
                call.end(CallStatus.COMPLETED if call.status is CallStatus.IN_PROGRESS else CallStatus.FAILED)
            finally:
                call.end(CallStatus.COMPLETED if call.start_time else CallStatus.CANCELED)  # no-op if ended
                callbacks.push("completed", call.status_params())
                callbacks.close()
    finally:
        call.report.heard_pcm = bytes(phone.heard_track)
        call.report.caller_pcm = bytes(phone.caller_track)
        call.report.heard_ms = phone.heard_ms


class _CallRun:
    """The steps of one call, sharing its record, phone and callback lane instead of six arguments each."""

    def __init__(
        self,
        call: Call,
        board: Switchboard,
        phone: Phone,
        callbacks: StatusCallbacks,
        spawn: Callable[[Coroutine[Any, Any, None]], object],
    ) -> None:
        self.call = call
        self.board = board
        self.phone = phone
        self.callbacks = callbacks
        self.spawn = spawn
        self.settings = board.settings
        self._doc_url: str | None = None  # base for relative Redirect/action URLs

    def _notify(self, event: str) -> None:
        self.callbacks.push(event, self.call.status_params())

    async def progress(self) -> None:
        if self.call.direction is Direction.OUTBOUND:
            async with _phase(self.call, None):
                await self._dial()
            if self.call.is_terminal:
                return
            self._answer()
            async with _phase(self.call, self.call.request.time_limit_s):
                await self._converse(await self._first_document())
        else:
            verbs: list[Verb] | None = None
            async with _phase(self.call, None):
                if self.call.advance(CallStatus.RINGING):
                    verbs = await self._first_document()
            if self.call.is_terminal:
                return
            if verbs and isinstance(verbs[0], Reject):  # the only way not to answer an inbound call
                self.call.end(CallStatus.BUSY if verbs[0].reason == "busy" else CallStatus.NO_ANSWER)
                return
            self._answer()
            async with _phase(self.call, self.call.request.time_limit_s):
                await self._converse(verbs)
        self.call.end(CallStatus.COMPLETED)

    async def _dial(self) -> None:
        step_s = self.settings.progress_step_s
        scenario, timeout_s = self.call.scenario, self.call.request.timeout_s
        await self.board.dial_slot()
        if not self.call.advance(CallStatus.INITIATED):
            return
        self._notify("initiated")
        await asyncio.sleep(step_s)
        if scenario.outcome is Outcome.FAILED:
            self.call.end(CallStatus.FAILED)
            return
        if not self.call.advance(CallStatus.RINGING):
            return
        self._notify("ringing")
        if self.phone.line is not None:
            await self._ring_line(timeout_s)
            return
        ring_s = self.settings.answer_delay_s if scenario.ring_s is None else scenario.ring_s
        if scenario.outcome is Outcome.BUSY:
            await asyncio.sleep(min(ring_s, timeout_s))
            self.call.end(CallStatus.BUSY)
        elif scenario.outcome is Outcome.NO_ANSWER or ring_s >= timeout_s:
            await asyncio.sleep(timeout_s)
            self.call.end(CallStatus.NO_ANSWER)
        else:
            await asyncio.sleep(ring_s)

    async def _ring_line(self, timeout_s: float) -> None:
        """A person's line (softphone): busy if they are on a call or decline, no-answer if they let it ring."""
        line = self.phone.line
        assert line is not None
        if line.busy:
            self.call.end(CallStatus.BUSY)
            return
        try:
            async with asyncio.timeout(timeout_s):
                answered = await line.ring(self.call.sid, self.call.request.from_)
        except TimeoutError:
            line.ended(self.call.sid, CallStatus.NO_ANSWER.value)
            self.call.end(CallStatus.NO_ANSWER)
            return
        if not answered:
            line.ended(self.call.sid, CallStatus.BUSY.value)
            self.call.end(CallStatus.BUSY)

    def _answer(self) -> None:
        request = self.call.request
        if not self.call.advance(CallStatus.IN_PROGRESS):
            return
        if request.machine_detection and not request.async_amd:
            self.call.answered_by = self.call.scenario.answered_by  # sync AMD: known before the webhook
        self._notify("answered")
        if request.machine_detection and request.async_amd and request.async_amd_callback:
            self.spawn(self._report_amd(request.async_amd_callback, request.async_amd_callback_method))

    async def _report_amd(self, url: str, method: str) -> None:
        await asyncio.sleep(self.settings.progress_step_s)
        self.call.answered_by = self.call.scenario.answered_by
        params = {
            "CallSid": self.call.sid,
            "AccountSid": self.call.account_sid,
            "AnsweredBy": self.call.answered_by,
            "MachineDetectionDuration": str(round(self.settings.progress_step_s * 1000)),
        }
        await self._post_quietly(url, params, method)

    async def _post_quietly(self, url: str, params: dict[str, str], method: str) -> None:
        """A webhook whose answer does not matter: failures become report errors (11200)."""
        try:
            await self.board.webhooks.request(url, params, method)
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.call.report.error(HTTP_RETRIEVAL_FAILURE, f"{url}: {exc!r}")

    # --- TwiML ------------------------------------------------------------------------------------

    async def _first_document(self) -> list[Verb] | None:
        """Fetch the answer (outbound) or voice (inbound) TwiML; None after reporting a failure."""
        request = self.call.request
        try:
            if request.twiml is not None:
                self.call.report.twiml.append(request.twiml)
                self._doc_url = None
                return parse_twiml(request.twiml)
            assert request.url is not None
            return await self._fetch(request.url, request.method)
        except TwimlError as exc:
            self.call.report.error(exc.code, exc.message)
            return None

    async def _fetch(self, url: str, method: str) -> list[Verb]:
        try:
            response = await self.board.webhooks.request(url, self.call.params(), method)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TwimlError(HTTP_RETRIEVAL_FAILURE, f"{method} {url}: {exc!r}") from exc
        if not 200 <= response.status < 300:
            raise TwimlError(HTTP_RETRIEVAL_FAILURE, f"{method} {url}: HTTP {response.status}")
        self.call.report.twiml.append(response.text)
        self._doc_url = url
        return parse_twiml(response.text)

    async def _converse(self, verbs: list[Verb] | None) -> None:
        """Run TwiML until it ends, hangs up or fails (None: no document); then the call completes."""
        queue = deque(verbs or ())
        while queue:
            verb = queue.popleft()
            try:
                follow = await self._run_verb(verb)
            except TwimlError as exc:
                self.call.report.error(exc.code, exc.message)
                return
            if follow is None:
                return
            if follow:
                queue = deque(follow)

    def _resolve(self, url: str) -> str:
        absolute = urljoin(self._doc_url, url) if self._doc_url else url
        if urlsplit(absolute).scheme not in ("http", "https"):
            raise TwimlError(DOCUMENT_PARSE_FAILURE, f"cannot resolve URL {url!r}")
        return absolute

    async def _run_verb(self, verb: Verb) -> list[Verb] | None:
        """Run one verb; returns None to end the call, a new document to switch to, or [] to go on."""
        match verb:
            case Say(text, loop):
                self.call.report.said.append(text)
                for _ in range(loop if loop > 0 else SAY_LOOP_FOREVER):
                    await self._say(text)
            case Pause(length_s):
                await self.phone.hear(None, length_s)
            case Hangup() | Reject():
                return None
            case Redirect(url, method):
                return await self._fetch(self._resolve(url), method)
            case Connect(stream, action, method):
                if stream is not None and await self._stream(stream) is StreamEnd.PHONE_HUNG_UP:
                    return None
                if action:
                    return await self._fetch(self._resolve(action), method)
            case Unsupported(name):
                self.call.report.unsupported_verbs.append(name)
        return []

    async def _say(self, text: str) -> None:
        tts = self.board.text_to_speech
        if tts is None:
            words = max(1, len(text.split()))
            await self.phone.hear(None, max(0.3, 60 * words / self.settings.say_words_per_minute))
            return
        pcm = b"".join([chunk async for chunk in tts.synthesize(text)])
        pcm_8k = await asyncio.to_thread(resample_pcm, pcm, tts.sample_rate)
        await self.phone.hear(pcm_8k, 0)

    # --- media stream -----------------------------------------------------------------------------

    async def _stream(self, stream: Stream) -> StreamEnd | None:
        report = StreamReport(url=stream.url, stream_sid=new_stream_sid(), custom_parameters=dict(stream.parameters))
        self.call.report.streams.append(report)
        parts = urlsplit(stream.url)
        allowed = {"wss", "ws"} if self.settings.allow_insecure_ws else {"wss"}
        if parts.scheme not in allowed:
            return self._stream_failed(stream, report, STREAM_URL_SCHEME, f"URL scheme {parts.scheme!r} not supported")
        if parts.query:
            return self._stream_failed(stream, report, STREAM_HANDSHAKE, "query strings are not supported")
        target = StreamTarget(
            url=stream.url,
            signature=self.board.webhooks.sign(stream.url),
            account_sid=self.call.account_sid,
            call_sid=self.call.sid,
            parameters=dict(stream.parameters),
        )
        try:
            ended = await self.phone.stream(
                self.board.session,
                target,
                report,
                self.settings.webhook_timeout_s,
                on_connected=lambda: self._stream_event(stream, report, "stream-started"),
            )
        except CarrierError as exc:
            return self._stream_failed(stream, report, exc.code, exc.message)
        finally:
            if report.ended_by != "error":
                self._stream_event(stream, report, "stream-stopped")
        return ended

    def _stream_failed(self, stream: Stream, report: StreamReport, code: int, message: str) -> None:
        report.ended_by = "error"
        self.call.report.error(code, message)
        self._stream_event(stream, report, "stream-error", message)

    def _stream_event(self, stream: Stream, report: StreamReport, event: str, error: str | None = None) -> None:
        if stream.status_callback is None:
            return
        params = {
            "AccountSid": self.call.account_sid,
            "CallSid": self.call.sid,
            "StreamSid": report.stream_sid,
            "StreamName": stream.name or report.stream_sid,
            "StreamEvent": event,
            "Timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        if error is not None:
            params["StreamError"] = error
        self.spawn(self._post_quietly(stream.status_callback, params, stream.status_callback_method))
