"""The carrier object: every call, message, scenario and number, and the tasks that run calls.

The REST app, the `/_carrier` control API and in-process tests all drive this one object, so a
Python test and an HTTP client see exactly the same behaviour. It owns one task per live call and
cancels and awaits them all in `aclose()`; a call's own helpers live inside that task's TaskGroup.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from .audio import write_wav_8k
from .calls import API_VERSION, Call, CallRequest, Direction, new_sid, rfc2822
from .errors import (
    FROM_NOT_OWNED,
    INVALID_FROM,
    INVALID_PARAMETER,
    INVALID_TO,
    INVALID_URL,
    NOT_FOUND,
    SMS_FROM_NOT_OWNED,
    SMS_TOO_LONG,
    RestError,
)
from .flow import Switchboard, TextToSpeech, run_call
from .phone import Phone
from .report import CallReport
from .scenarios import Scenario
from .script import Step, validate_script
from .settings import E164, CarrierNumber, CarrierSettings
from .softphone import LiveLine
from .webhooks import Webhooks

log = logging.getLogger(__name__)

TWIML_MAX_CHARS = 4000
SMS_MAX_CHARS = 1600
TWILIO_TIMEOUT_DEFAULT_S = 60.0
TWILIO_TIMEOUT_MAX_S = 600.0
TWILIO_TIME_LIMIT_DEFAULT_S = 14400.0


@dataclass
class Message:
    """An SMS in the outbox: what the application sent, for tests and the dev console to read."""

    sid: str
    account_sid: str
    to: str
    from_: str
    body: str
    status: str = "queued"
    date_created: datetime = field(default_factory=lambda: datetime.now(UTC))

    def resource(self) -> dict[str, Any]:
        created = rfc2822(self.date_created)
        return {
            "sid": self.sid,
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": created,
            "date_updated": created,
            "date_sent": None,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": self.from_,
            "to": self.to,
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": str(max(1, -(-len(self.body) // 153))),
            "price": None,
            "price_unit": "USD",
            "status": self.status,
            "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}.json",
            "subresource_uris": {"media": f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}/Media.json"},
        }


def _check_url(url: str, what: str) -> None:
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise RestError(400, INVALID_URL, f"{what} is not a valid URL: {url}")


class Carrier:
    """The offline Twilio. Use as `async with Carrier(settings) as carrier:` or via the aiohttp app."""

    def __init__(self, settings: CarrierSettings, *, text_to_speech: TextToSpeech | None = None) -> None:
        self.settings = settings
        self._tts = text_to_speech
        self._numbers = {n.number: n for n in settings.numbers}
        self._scenarios: dict[str, Scenario] = {}
        self._lines: dict[str, LiveLine] = {}
        self._calls: dict[str, Call] = {}
        self._messages: list[Message] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._board: Switchboard | None = None
        self._session: aiohttp.ClientSession | None = None
        self._next_dial_at = 0.0

    # --- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        # No connection cap: each media stream holds a connection for its whole call, so aiohttp's default
        # pool of 100 stopped the carrier at 100 live calls and left webhooks queueing behind them.
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        self._board = Switchboard(
            settings=self.settings,
            session=self._session,
            webhooks=Webhooks(self._session, self.settings.auth_token, self.settings.webhook_timeout_s),
            text_to_speech=self._tts,
            dial_slot=self._dial_slot,
        )

    async def aclose(self) -> None:
        """End every live call (no further callbacks) and close the HTTP session."""
        self._board = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> Carrier:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("carrier task failed", exc_info=task.exception())

    def _running_board(self) -> Switchboard:
        if self._board is None:
            raise RuntimeError("Carrier is not started: use `async with Carrier(...)` or create_carrier_app()")
        return self._board

    async def _dial_slot(self) -> None:
        """Twilio's account-wide calls-per-second limit: extra calls stay queued for their slot."""
        if self.settings.calls_per_second <= 0:
            return
        now = asyncio.get_running_loop().time()
        slot = max(now, self._next_dial_at)
        self._next_dial_at = slot + 1 / self.settings.calls_per_second
        await asyncio.sleep(slot - now)

    # --- numbers and scenarios --------------------------------------------------------------------

    def configure_number(
        self,
        number: str,
        *,
        voice_url: str | None,
        voice_method: str = "POST",
        status_callback: str | None = None,
    ) -> CarrierNumber:
        """Own `number` (or change its webhooks) at run time, e.g. to point it at a test server's port."""
        self._numbers[number] = CarrierNumber(number, voice_url, voice_method.upper(), status_callback)
        return self._numbers[number]

    def numbers(self) -> list[CarrierNumber]:
        return list(self._numbers.values())

    def set_scenario(self, number: str, scenario: Scenario) -> None:
        """Every later call to `number` follows `scenario` until it is cleared."""
        if not E164.match(number):
            raise RestError(400, INVALID_TO, f"Invalid 'To' Phone Number: {number}")
        self._scenarios[number] = replace(scenario, script=validate_script(scenario.script))

    def clear_scenario(self, number: str | None = None) -> None:
        if number is None:
            self._scenarios.clear()
        else:
            self._scenarios.pop(number, None)

    def scenarios(self) -> dict[str, Scenario]:
        return dict(self._scenarios)

    def attach_line(self, number: str) -> LiveLine:
        """A person answers `number` from now on (the browser softphone), until `detach_line`; a newer
        attachment replaces an older one (the last tab opened rings)."""
        if not E164.match(number):
            raise RestError(400, INVALID_TO, f"Invalid 'To' Phone Number: {number}")
        line = LiveLine(number)
        previous = self._lines.get(number)
        self._lines[number] = line
        if previous is not None:
            previous.replaced()
        return line

    def lines(self) -> dict[str, LiveLine]:
        return dict(self._lines)

    def detach_line(self, line: LiveLine) -> None:
        line.hang_up()
        if self._lines.get(line.number) is line:
            del self._lines[line.number]

    # --- calls --------------------------------------------------------------------------------------

    def place_call(self, request: CallRequest) -> Call:
        """POST .../Calls.json: validate like Twilio, then dial in the background (status `queued`)."""
        board = self._running_board()
        if not E164.match(request.to):
            raise RestError(400, INVALID_TO, f"Invalid 'To' Phone Number: {request.to}")
        if not E164.match(request.from_):
            raise RestError(400, INVALID_FROM, f"Invalid From Number (caller ID): {request.from_}")
        if request.from_ not in self._numbers:
            raise RestError(
                400,
                FROM_NOT_OWNED,
                f"The source phone number provided, {request.from_}, is not yet verified for your account. "
                "You may only make calls from phone numbers that you've verified or purchased from Twilio.",
            )
        if request.twiml is None:
            _check_url(request.url or "", "Url")
        elif len(request.twiml) > TWIML_MAX_CHARS:
            raise RestError(400, INVALID_PARAMETER, f"Twiml is longer than {TWIML_MAX_CHARS} characters")
        for url, what in (
            (request.status_callback, "StatusCallback"),
            (request.async_amd_callback, "AsyncAmdStatusCallback"),
        ):
            if url is not None:
                _check_url(url, what)
        request = replace(request, timeout_s=min(request.timeout_s, TWILIO_TIMEOUT_MAX_S))
        scenario = self._scenarios.get(request.to, Scenario())
        # A scenario set for the number (a test's) wins over a person's line.
        line = self._lines.get(request.to) if request.to not in self._scenarios else None
        return self._start(board, request, Direction.OUTBOUND, scenario, scenario.script, line)

    def receive_call(self, from_: str, to: str, script: tuple[Step, ...] = ()) -> Call:
        """Simulate someone dialling one of our numbers: Twilio requests its voice URL (Direction=inbound)."""
        board = self._running_board()
        number = self._numbers.get(to)
        if number is None or number.voice_url is None:
            raise RestError(404, NOT_FOUND, f"{to} is not a carrier number with a voice_url")
        if not E164.match(from_):
            raise RestError(400, INVALID_FROM, f"Invalid From Number (caller ID): {from_}")
        request = CallRequest(
            to=to,
            from_=from_,
            url=number.voice_url,
            method=number.voice_method,
            twiml=None,
            status_callback=number.status_callback,
            status_callback_method="POST",
            events=frozenset({"completed"}),
            timeout_s=TWILIO_TIMEOUT_DEFAULT_S,
            time_limit_s=TWILIO_TIME_LIMIT_DEFAULT_S,
            machine_detection=None,
        )
        return self._start(board, request, Direction.INBOUND, Scenario(), validate_script(script))

    def _start(
        self,
        board: Switchboard,
        request: CallRequest,
        direction: Direction,
        scenario: Scenario,
        script: tuple[Step, ...],
        line: LiveLine | None = None,
    ) -> Call:
        sid = new_sid("CA")
        report = CallReport(call_sid=sid, direction=direction.value, to=request.to, from_=request.from_)
        call = Call(sid, self.settings.account_sid, direction, request, scenario, report)
        self._calls[sid] = call
        self._spawn(self._run(call, board, Phone(script, line)))
        return call

    async def _run(self, call: Call, board: Switchboard, phone: Phone) -> None:
        try:
            await run_call(call, board, phone)
            await self._save_recordings(call)
        finally:
            call.report.finished = True
            call.finished.set()
            if phone.line is not None:
                phone.line.ended(call.sid, call.status.value)

    async def _save_recordings(self, call: Call) -> None:
        folder = self.settings.recordings_dir
        if folder is None:
            return
        for track, pcm in (("caller", call.report.caller_pcm), ("heard", call.report.heard_pcm)):
            path = folder / f"{call.sid}-{track}.wav"
            await asyncio.to_thread(write_wav_8k, path, pcm)
            call.report.recordings[track] = path

    def call(self, sid: str) -> Call:
        try:
            return self._calls[sid]
        except KeyError:
            raise RestError(
                404,
                NOT_FOUND,
                f"The requested resource /{API_VERSION}/Accounts/{self.settings.account_sid}"
                f"/Calls/{sid}.json was not found",
            ) from None

    def calls(self) -> list[Call]:
        return list(self._calls.values())

    def hang_up(self, sid: str, status: str = "completed") -> Call:
        """POST .../Calls/{sid}.json Status=completed|canceled."""
        call = self.call(sid)
        call.request_hang_up(status)
        return call

    async def wait_finished(self, sid: str, timeout_s: float) -> CallReport:
        """The call's report once its flow, callbacks and recordings are all done."""
        call = self.call(sid)
        async with asyncio.timeout(timeout_s):
            await call.finished.wait()
        return call.report

    # --- messages -----------------------------------------------------------------------------------

    def send_message(self, to: str, from_: str, body: str, status_callback: str | None = None) -> Message:
        """POST .../Messages.json: the message lands in the outbox (and is reported delivered)."""
        board = self._running_board()
        if not E164.match(to):
            raise RestError(400, INVALID_TO, f"Invalid 'To' Phone Number: {to}")
        if from_ not in self._numbers:
            raise RestError(
                400,
                SMS_FROM_NOT_OWNED,
                f"'From' {from_} is not a Twilio phone number or Short Code country mismatch",
            )
        if len(body) > SMS_MAX_CHARS:
            raise RestError(
                400,
                SMS_TOO_LONG,
                f"The concatenated message body exceeds the {SMS_MAX_CHARS} character limit",
            )
        if status_callback is not None:
            _check_url(status_callback, "StatusCallback")
        message = Message(new_sid("SM"), self.settings.account_sid, to, from_, body)
        self._messages.append(message)
        self._spawn(self._deliver(board, message, status_callback))
        return message

    async def _deliver(self, board: Switchboard, message: Message, status_callback: str | None) -> None:
        """queued -> sent -> delivered, each reported to the message's StatusCallback if it has one."""
        for status in ("sent", "delivered"):
            await asyncio.sleep(self.settings.progress_step_s)
            message.status = status
            if status_callback is None:
                continue
            params = {
                "AccountSid": message.account_sid,
                "ApiVersion": API_VERSION,
                "From": message.from_,
                "To": message.to,
                "MessageSid": message.sid,
                "SmsSid": message.sid,
                "MessageStatus": status,
                "SmsStatus": status,
            }
            try:
                await board.webhooks.request(status_callback, params)
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("message status callback failed: %r", exc)

    def messages(self, to: str | None = None) -> list[Message]:
        return [m for m in self._messages if to is None or m.to == to]


CARRIER_KEY = web.AppKey("carrier", Carrier)
