"""Signed webhook requests and the per-call status-callback lane.

Every request carries X-Twilio-Signature computed by the SDK's own RequestValidator, so our server's
validation is tested against the real algorithm, not a copy of it. GET webhooks put the parameters
in the query and sign the full URL with no body parameters, as Twilio does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
from twilio.request_validator import RequestValidator
from yarl import URL

from .errors import HTTP_RETRIEVAL_FAILURE
from .report import CallbackDelivery, CallReport

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"
USER_AGENT = "TwilioProxy/1.1"


@dataclass(frozen=True)
class WebhookResponse:
    status: int
    text: str
    content_type: str


class Webhooks:
    """Sends Twilio-signed requests to the application; one per carrier, sharing its HTTP session."""

    def __init__(self, session: aiohttp.ClientSession, auth_token: str, timeout_s: float) -> None:
        self._session = session
        self._validator = RequestValidator(auth_token)
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    def sign(self, url: str, params: Mapping[str, str] | None = None) -> str:
        return self._validator.compute_signature(url, dict(params or {}))

    async def request(self, url: str, params: Mapping[str, str], method: str = "POST") -> WebhookResponse:
        """Send one webhook; transport errors propagate as aiohttp.ClientError or TimeoutError."""
        headers = {"User-Agent": USER_AGENT, "Accept": "*/*"}
        if method == "GET":
            target = URL(url).extend_query(params)  # signed exactly as it goes on the wire
            headers[SIGNATURE_HEADER] = self.sign(str(target))
            call = self._session.get(target, headers=headers, timeout=self._timeout, allow_redirects=False)
        else:
            headers[SIGNATURE_HEADER] = self.sign(url, params)
            call = self._session.post(
                url, data=dict(params), headers=headers, timeout=self._timeout, allow_redirects=False
            )
        async with call as response:
            return WebhookResponse(response.status, await response.text(), response.content_type)


@dataclass(frozen=True)
class Chaos:
    """Delivery faults Twilio really produces: retries (same SequenceNumber) and reordering."""

    duplicate: bool = False
    reorder: bool = False


class StatusCallbacks:
    """The status callbacks of one call: numbered in event order, delivered by one task per call.

    The call flow never waits for the application (Twilio does not either): `push` only queues;
    `deliver` runs beside the flow and ends after `close()` once everything queued has been sent.
    """

    def __init__(
        self,
        webhooks: Webhooks,
        url: str | None,
        method: str,
        events: frozenset[str],
        chaos: Chaos,
        report: CallReport,
    ) -> None:
        self._webhooks = webhooks
        self._url = url
        self._method = method
        self._events = events
        self._chaos = chaos
        self._report = report
        self._queue: asyncio.Queue[dict[str, str] | None] = asyncio.Queue()
        self._next_sequence = 0

    def push(self, event: str, params: dict[str, str]) -> None:
        """Queue `event` (initiated|ringing|answered|completed) if the application asked for it."""
        if self._url is None or event not in self._events:
            return
        self._queue.put_nowait({**params, "SequenceNumber": str(self._next_sequence)})
        self._next_sequence += 1

    def close(self) -> None:
        self._queue.put_nowait(None)

    async def deliver(self) -> None:
        held: dict[str, str] | None = None
        while (params := await self._queue.get()) is not None:
            if self._chaos.reorder and held is None:
                held = params  # sent after the next one: a real out-of-order pair
                continue
            await self._send(params)
            if held is not None:
                await self._send(held)
                held = None
        if held is not None:
            await self._send(held)

    async def _send(self, params: dict[str, str]) -> None:
        assert self._url is not None
        for _attempt in range(2 if self._chaos.duplicate else 1):
            status: int | None = None
            try:
                status = (await self._webhooks.request(self._url, params, self._method)).status
            except (aiohttp.ClientError, TimeoutError) as exc:
                self._report.error(HTTP_RETRIEVAL_FAILURE, f"status callback {self._url}: {exc!r}")
                log.warning("status callback to %s failed: %r", self._url, exc)
            self._report.callbacks.append(CallbackDelivery(int(params["SequenceNumber"]), params["CallStatus"], status))
