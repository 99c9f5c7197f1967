"""A call's record: Twilio's state machine, its REST resource and its webhook parameters.

Status only moves forward (queued -> initiated -> ringing -> in-progress -> one terminal status),
and the first terminal status wins, so a REST hang-up racing the flow cannot rewrite history.
A hang-up request ends the current phase by rescheduling the phase's `asyncio.timeout` to now:
the flow sees the same TimeoutError as for TimeLimit, with no extra task or flag polling.
"""

from __future__ import annotations

import asyncio
import enum
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from .report import CallReport
from .scenarios import Scenario

API_VERSION = "2010-04-01"


class Direction(enum.StrEnum):
    OUTBOUND = "outbound-api"
    INBOUND = "inbound"


class CallStatus(enum.StrEnum):
    QUEUED = "queued"
    INITIATED = "initiated"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    FAILED = "failed"
    NO_ANSWER = "no-answer"
    CANCELED = "canceled"


TERMINAL = frozenset(
    {CallStatus.COMPLETED, CallStatus.BUSY, CallStatus.FAILED, CallStatus.NO_ANSWER, CallStatus.CANCELED}
)
_ORDER = [CallStatus.QUEUED, CallStatus.INITIATED, CallStatus.RINGING, CallStatus.IN_PROGRESS]


def rfc2822(moment: datetime | None) -> str | None:
    """Twilio's date format in REST resources and the Timestamp of callbacks."""
    return None if moment is None else format_datetime(moment)


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


@dataclass(frozen=True)
class CallRequest:
    """What the application asked for (REST parameters), or the inbound equivalent."""

    to: str
    from_: str
    url: str | None
    method: str
    twiml: str | None
    status_callback: str | None
    status_callback_method: str
    events: frozenset[str]
    timeout_s: float
    time_limit_s: float
    machine_detection: str | None
    async_amd: bool = False
    async_amd_callback: str | None = None
    async_amd_callback_method: str = "POST"


@dataclass(eq=False)
class Call:
    sid: str
    account_sid: str
    direction: Direction
    request: CallRequest
    scenario: Scenario
    report: CallReport
    status: CallStatus = CallStatus.QUEUED
    date_created: datetime = field(default_factory=lambda: datetime.now(UTC))
    date_updated: datetime = field(default_factory=lambda: datetime.now(UTC))
    start_time: datetime | None = None
    end_time: datetime | None = None
    answered_by: str | None = None
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    _answered_at: float | None = None
    _duration_s: int | None = None
    _deadline: asyncio.Timeout | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def advance(self, status: CallStatus) -> bool:
        """Move forward through the live statuses; False (and no change) once the call has ended.

        A hang-up can end the call between the flow's wake-up and its next await, so "already
        ended" is a normal answer here; going backwards is a carrier bug.
        """
        if self.is_terminal:
            return False
        if _ORDER.index(status) <= _ORDER.index(self.status):
            raise RuntimeError(f"call {self.sid}: illegal transition {self.status} -> {status}")
        self.status = status
        self.date_updated = datetime.now(UTC)
        if status is CallStatus.IN_PROGRESS:
            self.start_time = self.date_updated
            self._answered_at = asyncio.get_running_loop().time()
        return True

    def end(self, status: CallStatus) -> None:
        """Enter a terminal status; the first one wins (a hang-up may race the flow)."""
        if self.is_terminal:
            return
        self.status = status
        self.end_time = self.date_updated = datetime.now(UTC)
        if self._answered_at is None:
            self._duration_s = 0
        else:  # whole seconds; an answered call lasted at least one
            self._duration_s = max(1, round(asyncio.get_running_loop().time() - self._answered_at))
        self.report.status = status.value
        self.report.duration_s = self._duration_s
        self.report.answered_by = self.answered_by

    def request_hang_up(self, status: str) -> None:
        """REST `Status=completed|canceled`: canceled only stops calls not yet answered, as on Twilio."""
        if self.is_terminal:
            return
        answered = self.status is CallStatus.IN_PROGRESS
        if status == "canceled" and answered:
            return
        self.end(CallStatus.COMPLETED if answered else CallStatus.CANCELED)
        if self._deadline is not None and not self._deadline.expired():
            self._deadline.reschedule(asyncio.get_running_loop().time())

    def enter_phase(self, deadline: asyncio.Timeout) -> None:
        """Make `deadline` the one a hang-up fires; fire it at once if the call already ended."""
        self._deadline = deadline
        if self.is_terminal:
            deadline.reschedule(asyncio.get_running_loop().time())

    def leave_phase(self) -> None:
        self._deadline = None

    def params(self) -> dict[str, str]:
        """The fields Twilio sends on every voice webhook for this call."""
        params = {
            "CallSid": self.sid,
            "AccountSid": self.account_sid,
            "From": self.request.from_,
            "To": self.request.to,
            "Caller": self.request.from_,
            "Called": self.request.to,
            "CallStatus": self.status.value,
            "Direction": self.direction.value,
            "ApiVersion": API_VERSION,
        }
        if self.answered_by is not None:
            params["AnsweredBy"] = self.answered_by
        return params

    def status_params(self) -> dict[str, str]:
        """Status-callback fields: common ones plus timestamp, source and, when ended, the duration."""
        params = {
            **self.params(),
            "Timestamp": rfc2822(datetime.now(UTC)) or "",
            "CallbackSource": "call-progress-events",
        }
        if self.is_terminal:
            params["CallDuration"] = str(self._duration_s or 0)
            if self.request.machine_detection:
                params["AnsweredBy"] = self.answered_by or "unknown"
        return params

    def resource(self) -> dict[str, Any]:
        """The Call resource JSON, as the SDK's CallInstance parses it."""
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{self.sid}"
        return {
            "sid": self.sid,
            "date_created": rfc2822(self.date_created),
            "date_updated": rfc2822(self.date_updated),
            "parent_call_sid": None,
            "account_sid": self.account_sid,
            "to": self.request.to,
            "to_formatted": self.request.to,
            "from": self.request.from_,
            "from_formatted": self.request.from_,
            "phone_number_sid": None,
            "status": self.status.value,
            "start_time": rfc2822(self.start_time),
            "end_time": rfc2822(self.end_time),
            "duration": None if self._duration_s is None else str(self._duration_s),
            "price": None,
            "price_unit": "USD",
            "direction": self.direction.value,
            "answered_by": self.answered_by,
            "api_version": API_VERSION,
            "forwarded_from": None,
            "group_sid": None,
            "caller_name": None,
            "queue_time": "0",
            "trunk_sid": None,
            "uri": uri + ".json",
            "subresource_uris": {
                "notifications": uri + "/Notifications.json",
                "recordings": uri + "/Recordings.json",
                "payments": uri + "/Payments.json",
                "events": uri + "/Events.json",
                "siprec": uri + "/Siprec.json",
                "streams": uri + "/Streams.json",
                "transcriptions": uri + "/Transcriptions.json",
                "user_defined_message_subscriptions": uri + "/UserDefinedMessageSubscriptions.json",
                "user_defined_messages": uri + "/UserDefinedMessages.json",
            },
        }
