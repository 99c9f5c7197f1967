"""Twilio's webhooks: the answer URL (TwiML) and status callbacks, both signature-checked.

An unsigned or forged request gets 403 before anything is read from or written to the database.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import asyncpg
from aiohttp import web
from twilio.twiml.voice_response import VoiceResponse

from db import calls, personas, stream_tokens, users
from orchestrator.api import ERROR_SCHEMA, ApiRequest, ApiRoutes
from orchestrator.errors import ApiError
from orchestrator.keys import DRAINING, POOL, SETTINGS, TELEPHONY
from orchestrator.media_ws import media_stream
from orchestrator.phones import masked
from orchestrator.usage import allowed_time_limit

log = logging.getLogger(__name__)
routes = ApiRoutes()

_CALL_QUERY = {"call": {"type": "string", "format": "uuid", "pattern": "^[0-9a-f-]{36}$"}}
_SID = {"type": "string", "pattern": "^CA[0-9a-fA-F]{32}$"}
_COMMON = {
    "CallSid": _SID,
    "AccountSid": {"type": "string", "maxLength": 64},
    "From": {"type": "string", "maxLength": 64},
    "To": {"type": "string", "maxLength": 64},
    "CallStatus": {"type": "string", "maxLength": 32},
    "Direction": {"type": "string", "maxLength": 32},
}
VOICE_FORM = {"type": "object", "required": ["CallSid"], "properties": _COMMON}
STATUS_FORM = {
    "type": "object",
    "required": ["CallSid", "CallStatus"],
    "properties": {
        **_COMMON,
        "SequenceNumber": {"type": "string", "pattern": "^[0-9]{1,9}$"},
        "CallDuration": {"type": "string", "pattern": "^[0-9]{1,9}$"},
        "Timestamp": {"type": "string", "maxLength": 64},
        "AnsweredBy": {"type": "string", "maxLength": 32},
    },
}
_TWIML = {"description": "TwiML", "content": {"text/xml": {"schema": {"type": "string"}}}}
_FORBIDDEN = ("Missing or invalid X-Twilio-Signature", ERROR_SCHEMA)


def check_signature(request: web.Request, form: dict[str, str]) -> None:
    """Twilio signs the public URL it called plus the sorted form fields with our auth token."""
    url = request.app[SETTINGS].base_url + request.raw_path
    signature = request.headers.get("X-Twilio-Signature", "")
    if not request.app[TELEPHONY].signature_valid(url, form, signature):
        log.warning("refused webhook %s: bad or missing signature", request.path)
        raise ApiError(403, "invalid_signature", "missing or invalid X-Twilio-Signature")


def _twiml(response: VoiceResponse) -> web.Response:
    return web.Response(text=str(response), content_type="text/xml")


def stream_url(base_url: str) -> str:
    return "ws" + base_url.removeprefix("http") + "/twilio/media"


async def connect_stream(req: ApiRequest, call_id: uuid.UUID, call_sid: str) -> web.Response:
    """TwiML that opens the media stream, carrying the call id and a fresh one-time token."""
    settings = req.app[SETTINGS]
    token = await stream_tokens.issue(req.app[POOL], call_id, call_sid, settings.telephony.stream_token_ttl_s)
    response = VoiceResponse()
    stream = response.connect().stream(url=stream_url(settings.base_url))
    stream.parameter(name="call_id", value=str(call_id))
    stream.parameter(name="token", value=token)
    return _twiml(response)


@routes.route(
    "POST",
    "/twilio/voice",
    summary="Answer webhook: TwiML for an answered or incoming call",
    tag="twilio",
    auth=False,
    form=VOICE_FORM,
    form_guard=check_signature,
    query=_CALL_QUERY,
    responses={200: ("TwiML", None), 403: _FORBIDDEN},
)
async def voice(req: ApiRequest) -> web.Response:
    call_sid = req.body["CallSid"]
    if req.app[DRAINING].is_set():  # shutting down: the caller hears busy and the provider ends the call
        log.info("answer webhook during shutdown: rejected as busy")
        response = VoiceResponse()
        response.reject(reason="busy")
        return _twiml(response)
    if "call" in req.query:  # an outbound call we placed: the call id is in the URL we gave the provider
        call = await calls.bind_provider_call(req.app[POOL], uuid.UUID(req.query["call"]), call_sid)
        if call is None:
            log.warning("answer webhook for unknown call or mismatched CallSid")
            response = VoiceResponse()
            response.hangup()
            return _twiml(response)
        return await connect_stream(req, call["id"], call_sid)
    return await _inbound(req, call_sid)


async def _inbound(req: ApiRequest, call_sid: str) -> web.Response:
    settings, pool = req.app[SETTINGS], req.app[POOL]
    policy = settings.telephony
    caller, dialled = req.body.get("From", ""), req.body.get("To", "")
    user = await users.by_verified_phone(pool, caller)
    if user is None:
        log.info("inbound call from unknown number %s", masked(caller))
        response = VoiceResponse()
        if policy.inbound_unknown_caller == "reject":
            response.reject()
        else:
            response.say(policy.inbound_unknown_message)
            response.hangup()
        return _twiml(response)
    persona_id = policy.persona_numbers.get(dialled) or await users.favorite_persona(pool, user["id"])
    persona = None if persona_id is None else await personas.get_persona(pool, user["id"], persona_id)
    if persona is None:
        persona_id = policy.inbound_default_persona
        persona = await personas.get_persona(pool, user["id"], persona_id)
    persona_limit_s = persona["max_call_minutes"] * 60 if persona is not None else None
    # The monthly allowance holds both ways: with none left the caller hears why, else the call is cut to it.
    time_limit_s = await allowed_time_limit(pool, user, persona_limit_s, settings.pricing)
    if time_limit_s == 0:
        log.info("inbound call from %s refused: no minutes left this month", masked(caller))
        response = VoiceResponse()
        response.say(policy.inbound_no_minutes_message)
        response.hangup()
        return _twiml(response)
    try:
        call = await calls.insert_call(
            pool,
            user_id=user["id"],
            persona_id=persona_id,
            direction="inbound",
            from_number=caller,
            to_number=dialled,
            status="in-progress",
            provider_call_id=call_sid,
            answered_at=datetime.now(UTC),
            time_limit_s=time_limit_s,
        )
    except asyncpg.UniqueViolationError:  # the provider retried this webhook: same call
        call = await pool.fetchrow("SELECT id FROM calls WHERE provider_call_id = $1", call_sid)
    log.info("inbound call %s from %s to persona %s", call["id"], masked(caller), persona_id)
    return await connect_stream(req, call["id"], call_sid)


@routes.route(
    "POST",
    "/twilio/status",
    summary="Status callback: call progress events",
    tag="twilio",
    auth=False,
    form=STATUS_FORM,
    form_guard=check_signature,
    query=_CALL_QUERY,
    responses={204: ("Stored (or a duplicate, ignored)", None), 403: _FORBIDDEN},
)
async def status(req: ApiRequest) -> web.Response:
    form = req.body
    status_name = form["CallStatus"]
    if not calls.is_known_status(status_name):
        raise ApiError(400, "invalid_field", "CallStatus is not a call status", field="CallStatus")
    update = calls.StatusUpdate(
        call_sid=form["CallSid"],
        status=status_name,
        sequence_number=int(form["SequenceNumber"]) if "SequenceNumber" in form else None,
        occurred_at=_parse_time(form.get("Timestamp")),
        duration_s=int(form["CallDuration"]) if "CallDuration" in form else None,
        answered_by=form.get("AnsweredBy"),
        payload={k: v for k, v in form.items() if k not in ("From", "To", "Caller", "Called")},
    )
    call_id = uuid.UUID(req.query["call"]) if "call" in req.query else None
    outcome = await calls.record_status(req.app[POOL], call_id, update)
    log.info("status %s (seq %s) for %s: %s", status_name, update.sequence_number, update.call_sid, outcome)
    # Unknown calls are acknowledged too: a retry would not make them known, and 4xx makes Twilio log errors.
    return web.Response(status=204)


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo is not None else None


routes.route(
    "GET",
    "/twilio/media",
    summary="Media Streams websocket (Twilio connects here from <Connect><Stream>)",
    tag="twilio",
    auth=False,
    raw=True,
    responses={101: ("Switching to the websocket protocol", None), 403: _FORBIDDEN},
)(media_stream)
