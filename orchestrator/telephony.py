"""The telephony provider as the server uses it: place and hang up calls, send SMS, check signatures.

It is the official twilio SDK with its aiohttp-based async HTTP client (so no request blocks the event
loop), pointed at `api_base`: https://api.twilio.com in production, the local carrier offline. Provider
failures become `ProviderError` with a message fit to store on the call and show the user.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator

from orchestrator.config import Secret
from orchestrator.twilio_client import twilio_client

log = logging.getLogger(__name__)

_REQUEST_TIMEOUT_S = 10.0
_CALL_EVENTS = ["initiated", "ringing", "answered", "completed"]


class ProviderError(Exception):
    """The provider refused or could not be reached; the message is safe to show and store."""


@dataclass(frozen=True)
class PlacedCall:
    sid: str
    status: str


class Telephony:
    def __init__(self, api_base: str, account_sid: str, auth_token: Secret, from_number: str) -> None:
        self.from_number = from_number
        self.validator = RequestValidator(auth_token.reveal())
        self._http = AsyncTwilioHttpClient(timeout=_REQUEST_TIMEOUT_S)
        self._client = twilio_client(api_base, account_sid, auth_token.reveal(), http_client=self._http)

    async def place_call(
        self, *, to: str, answer_url: str, status_url: str, ring_timeout_s: int, time_limit_s: int
    ) -> PlacedCall:
        try:
            call = await self._client.calls.create_async(
                to=to,
                from_=self.from_number,
                url=answer_url,
                method="POST",
                status_callback=status_url,
                status_callback_method="POST",
                status_callback_event=_CALL_EVENTS,
                timeout=ring_timeout_s,
                time_limit=time_limit_s,
            )
        except Exception as exc:
            raise _provider_error("placing the call", exc) from exc
        return PlacedCall(call.sid, call.status)

    async def hang_up(self, call_sid: str) -> None:
        try:
            await self._client.calls(call_sid).update_async(status="completed")
        except Exception as exc:
            raise _provider_error("hanging up", exc) from exc

    async def send_sms(self, to: str, body: str) -> None:
        try:
            await self._client.messages.create_async(to=to, from_=self.from_number, body=body)
        except Exception as exc:
            raise _provider_error("sending the SMS", exc) from exc

    def signature_valid(self, url: str, params: dict[str, str], signature: str) -> bool:
        return bool(signature) and self.validator.validate(url, params, signature)

    async def aclose(self) -> None:
        await self._http.close()


def _provider_error(action: str, exc: Exception) -> ProviderError:
    if isinstance(exc, TwilioRestException):
        log.warning("provider refused %s: status %s code %s", action, exc.status, exc.code)
        reason = exc.msg if isinstance(exc.msg, str) else "request refused"
        return ProviderError(f"the telephony provider refused {action}: {reason} (code {exc.code})")
    if isinstance(exc, TwilioException | OSError | TimeoutError) or "aiohttp" in type(exc).__module__:
        log.warning("provider unreachable while %s: %s", action, type(exc).__name__)
        return ProviderError(f"the telephony provider could not be reached while {action}")
    raise exc
