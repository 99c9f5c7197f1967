"""Twilio's REST API (2010-04-01) for Calls and Messages, as the official SDK calls it.

Form-encoded requests, HTTP basic auth (AccountSid, AuthToken), JSON answers; every refusal uses
Twilio's error JSON so the SDK raises TwilioRestException with the real code and status.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from multidict import MultiDictProxy

from .calls import API_VERSION, CallRequest
from .carrier import (
    CARRIER_KEY,
    TWILIO_TIME_LIMIT_DEFAULT_S,
    TWILIO_TIMEOUT_DEFAULT_S,
)
from .errors import (
    AUTHENTICATE,
    INVALID_APPLICATION,
    INVALID_PARAMETER,
    INVALID_URL,
    NO_FROM,
    NO_TO,
    NOT_FOUND,
    SMS_NO_BODY,
    SMS_NO_FROM,
    SMS_NO_TO,
    RestError,
)

log = logging.getLogger(__name__)

PREFIX = f"/{API_VERSION}/Accounts/{{account_sid}}"
CALL_EVENTS = frozenset({"initiated", "ringing", "answered", "completed"})
MACHINE_DETECTION = frozenset({"Enable", "DetectMessageEnd"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(error: RestError) -> web.Response:
    response = web.json_response(error.body(), status=error.status)
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
    return response


def _basic_credentials(header: str) -> tuple[str, str]:
    """(login, password) of a Basic Authorization header; empty strings when absent or malformed."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        login, _, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    return login, password


@web.middleware
async def twilio_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate REST calls and render every refusal as Twilio's error JSON."""
    if not request.path.startswith(f"/{API_VERSION}/"):
        return await handler(request)
    settings = request.app[CARRIER_KEY].settings
    login, password = _basic_credentials(request.headers.get("Authorization", ""))
    if not (
        hmac.compare_digest(login.encode(), settings.account_sid.encode())
        and hmac.compare_digest(password.encode(), settings.auth_token.encode())
    ):
        return error_response(RestError(401, AUTHENTICATE, "Authenticate"))
    try:
        if request.match_info.get("account_sid") not in (None, settings.account_sid):
            raise RestError(404, NOT_FOUND, f"The requested resource {request.path} was not found")
        return await handler(request)
    except web.HTTPNotFound:
        return error_response(RestError(404, NOT_FOUND, f"The requested resource {request.path} was not found"))
    except RestError as error:
        return error_response(error)


def _seconds(form: MultiDictProxy[str], name: str, default: float) -> float:
    raw = form.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise RestError(400, INVALID_PARAMETER, f"{name} must be a number of seconds: {raw!r}") from None
    if value <= 0:
        raise RestError(400, INVALID_PARAMETER, f"{name} must be positive: {raw!r}")
    return value


def _method(form: MultiDictProxy[str], name: str) -> str:
    method = (form.get(name) or "POST").upper()
    if method not in ("GET", "POST"):
        raise RestError(400, INVALID_PARAMETER, f"{name} must be GET or POST")
    return method


def _events(form: MultiDictProxy[str]) -> frozenset[str]:
    """StatusCallbackEvent may repeat and may hold space-separated values; default: completed only."""
    events = frozenset(word for value in form.getall("StatusCallbackEvent", []) for word in value.split())
    if unknown := events - CALL_EVENTS:
        raise RestError(400, INVALID_PARAMETER, f"StatusCallbackEvent values not supported: {sorted(unknown)}")
    return events or frozenset({"completed"})


def _call_request(form: MultiDictProxy[str]) -> CallRequest:
    if not form.get("To"):
        raise RestError(400, NO_TO, "No 'To' number is specified")
    if not form.get("From"):
        raise RestError(400, NO_FROM, "No 'From' number is specified")
    if form.get("ApplicationSid"):
        raise RestError(400, INVALID_APPLICATION, "ApplicationSid is not supported by the local carrier")
    if not form.get("Url") and not form.get("Twiml"):
        raise RestError(400, INVALID_URL, "Url parameter is required")
    machine_detection = form.get("MachineDetection") or None
    if machine_detection is not None and machine_detection not in MACHINE_DETECTION:
        raise RestError(400, INVALID_PARAMETER, f"MachineDetection must be one of {sorted(MACHINE_DETECTION)}")
    return CallRequest(
        to=form["To"],
        from_=form["From"],
        url=form.get("Url") or None,
        method=_method(form, "Method"),
        twiml=form.get("Twiml") or None,
        status_callback=form.get("StatusCallback") or None,
        status_callback_method=_method(form, "StatusCallbackMethod"),
        events=_events(form),
        timeout_s=_seconds(form, "Timeout", TWILIO_TIMEOUT_DEFAULT_S),
        time_limit_s=_seconds(form, "TimeLimit", TWILIO_TIME_LIMIT_DEFAULT_S),
        machine_detection=machine_detection,
        async_amd=(form.get("AsyncAmd") or "").lower() == "true",
        async_amd_callback=form.get("AsyncAmdStatusCallback") or None,
        async_amd_callback_method=_method(form, "AsyncAmdStatusCallbackMethod"),
    )


async def create_call(request: web.Request) -> web.Response:
    call = request.app[CARRIER_KEY].place_call(_call_request(await request.post()))
    return web.json_response(call.resource(), status=201)


async def fetch_call(request: web.Request) -> web.Response:
    return web.json_response(request.app[CARRIER_KEY].call(request.match_info["sid"]).resource())


async def update_call(request: web.Request) -> web.Response:
    """Only hang-up is supported: Status=completed|canceled (a live redirect via Url/Twiml is not)."""
    form = await request.post()
    carrier = request.app[CARRIER_KEY]
    status = form.get("Status")
    if status is None:
        raise RestError(400, INVALID_PARAMETER, "the local carrier only supports Status=completed|canceled updates")
    if status not in ("completed", "canceled"):
        raise RestError(400, INVALID_PARAMETER, f"Status must be completed or canceled, not {status!r}")
    return web.json_response(carrier.hang_up(request.match_info["sid"], status).resource())


async def create_message(request: web.Request) -> web.Response:
    form = await request.post()
    if not form.get("To"):
        raise RestError(400, SMS_NO_TO, "A 'To' phone number is required.")
    if not form.get("From"):
        raise RestError(400, SMS_NO_FROM, "A 'From' phone number is required.")
    if not form.get("Body"):
        raise RestError(400, SMS_NO_BODY, "Message body is required.")
    message = request.app[CARRIER_KEY].send_message(
        form["To"], form["From"], form["Body"], form.get("StatusCallback") or None
    )
    return web.json_response(message.resource(), status=201)


def setup_rest(app: web.Application) -> None:
    app.middlewares.append(twilio_errors)
    app.router.add_post(f"{PREFIX}/Calls.json", create_call)
    app.router.add_get(f"{PREFIX}/Calls/{{sid}}.json", fetch_call)
    app.router.add_post(f"{PREFIX}/Calls/{{sid}}.json", update_call)
    app.router.add_post(f"{PREFIX}/Messages.json", create_message)
