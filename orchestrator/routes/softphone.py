"""The browser softphone: with the built-in local carrier (no Twilio credentials), "Call me now" rings the
page instead of a real phone. See orchestrator/softphone.py for the bridge and its messages.

`GET /api/softphone` says whether it is available (it is not with Twilio, where calls reach real phones);
`POST /api/softphone/ticket` gives a one-time, short-lived ticket for `GET /api/softphone/ws?ticket=…`
(browsers cannot set an Authorization header on a websocket; a login token must not sit in a URL).
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from db import phone_verifications, users
from media.browser_transport import MAX_MESSAGE_BYTES
from media.stream_guard import StreamGuard
from orchestrator.api import ERROR_SCHEMA, ApiRequest, ApiRoutes
from orchestrator.errors import ApiError
from orchestrator.keys import POOL, SETTINGS
from orchestrator.phones import normalise
from orchestrator.softphone import SoftphoneBridge
from orchestrator.telephony_setup import CARRIER
from orchestrator.tickets import issue_ticket, redeem_ticket

log = logging.getLogger(__name__)

routes = ApiRoutes()
_PURPOSE = "softphone"
STATUS: dict[str, Any] = {
    "type": "object",
    "required": ["available"],
    "properties": {
        "available": {"type": "boolean"},
        "reason": {"type": "string", "description": "why not, when unavailable"},
        "number": {"type": "string", "description": "the verified number it answers"},
    },
}
TICKET: dict[str, Any] = {
    "type": "object",
    "required": ["ws_path", "expires_in_s"],
    "properties": {"ws_path": {"type": "string"}, "expires_in_s": {"type": "integer"}},
}


def _unavailable(app: web.Application, user: Any) -> str | None:
    if CARRIER not in app:
        return "calls go through Twilio to your real phone"
    if user["phone"] is None or user["phone_verified_at"] is None:
        return "verify your phone number to get calls here"
    return None


@routes.route(
    "GET",
    "/api/softphone",
    summary="Is the browser softphone available (the built-in local carrier, a verified number)?",
    tag="softphone",
    responses={200: ("Availability", STATUS)},
)
async def softphone_status(req: ApiRequest) -> web.Response:
    reason = _unavailable(req.app, req.user)
    if reason is not None:
        return web.json_response({"available": False, "reason": reason})
    return web.json_response({"available": True, "number": req.user["phone"]})


@routes.route(
    "POST",
    "/api/softphone/ticket",
    summary="A one-time ticket for the softphone websocket",
    tag="softphone",
    responses={
        201: ("Open ws_path within expires_in_s", TICKET),
        403: ("Phone not verified", ERROR_SCHEMA),
        409: ("No softphone: calls go through Twilio", ERROR_SCHEMA),
    },
)
async def softphone_ticket(req: ApiRequest) -> web.Response:
    reason = _unavailable(req.app, req.user)
    if reason is not None:
        status, code = (409, "softphone_unavailable") if CARRIER not in req.app else (403, "phone_not_verified")
        raise ApiError(status, code, f"the softphone is not available: {reason}")
    settings = req.app[SETTINGS]
    ttl_s = settings.telephony.stream_token_ttl_s
    ticket = issue_ticket(settings.auth, req.user["id"], _PURPOSE, ttl_s)
    return web.json_response({"ws_path": f"/api/softphone/ws?ticket={ticket}", "expires_in_s": ttl_s}, status=201)


TEXTS: dict[str, Any] = {
    "type": "object",
    "required": ["texts"],
    "properties": {
        "texts": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["body", "sent_at"],
                "properties": {"body": {"type": "string"}, "sent_at": {"type": "string", "format": "date-time"}},
            },
        }
    },
}
TEXTS_SHOWN = 5


@routes.route(
    "GET",
    "/api/softphone/texts",
    summary="Text messages the built-in local carrier delivered to my number, or to one I am verifying (newest "
    "first): with no real phone, this is where the verification code arrives",
    tag="softphone",
    query={"phone": {"type": "string", "minLength": 1, "maxLength": 32}},
    responses={
        200: ("Texts", TEXTS),
        400: ("Missing or invalid phone", ERROR_SCHEMA),
        404: ("Not my number", ERROR_SCHEMA),
        409: ("No local carrier: texts go through Twilio", ERROR_SCHEMA),
    },
)
async def softphone_texts(req: ApiRequest) -> web.Response:
    if CARRIER not in req.app:
        raise ApiError(409, "softphone_unavailable", "texts go through Twilio to your real phone")
    if "phone" not in req.query:
        raise ApiError(400, "missing_field", "phone is required", field="phone")
    phone = normalise(req.query["phone"], req.app[SETTINGS].telephony.default_region)
    mine = req.user["phone"] == phone and req.user["phone_verified_at"] is not None
    # Only a number this account verified or is verifying: nobody reads another account's codes.
    if not mine and await phone_verifications.latest_pending(req.app[POOL], req.user["id"], phone) is None:
        raise ApiError(404, "not_found", "no verification of this number is pending for you", field="phone")
    newest = sorted(req.app[CARRIER].messages(to=phone), key=lambda text: text.date_created, reverse=True)
    texts = [{"body": text.body, "sent_at": text.date_created.isoformat()} for text in newest[:TEXTS_SHOWN]]
    return web.json_response({"texts": texts})


async def softphone_ws(request: web.Request) -> web.StreamResponse:
    app, pool = request.app, request.app[POOL]
    ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE_BYTES, autoping=True, compress=False, heartbeat=30)
    if not ws.can_prepare(request).ok:  # checked first: a plain GET must not use up the ticket
        raise ApiError(400, "websocket_required", "this endpoint only accepts a websocket upgrade")
    if CARRIER not in app:
        raise ApiError(409, "softphone_unavailable", "the softphone is not available: calls go through Twilio")
    ticket = request.query.get("ticket", "")
    user_id = await redeem_ticket(pool, app[SETTINGS].auth, ticket, _PURPOSE) if ticket else None
    if user_id is None:
        raise ApiError(403, "invalid_ticket", "ticket missing, forged, expired or already used", field="ticket")
    user = await users.get_user(pool, user_id)
    if user is None or _unavailable(app, user) is not None:
        raise ApiError(403, "phone_not_verified", "verify your phone number first", field="ticket")
    await ws.prepare(request)
    carrier = app[CARRIER]
    line = carrier.attach_line(user["phone"])
    settings = app[SETTINGS].call
    guard = StreamGuard(
        max_violations=settings.max_stream_violations, max_messages_per_s=settings.max_stream_messages_per_s
    )
    log.info("softphone attached")
    try:
        await SoftphoneBridge(ws, line, pool, guard).run()
    finally:
        carrier.detach_line(line)
        await ws.close()
        log.info("softphone detached (%d frames in, %d malformed)", guard.stats.frames_in, guard.stats.violations)
    return ws


routes.route(
    "GET",
    "/api/softphone/ws",
    summary="The softphone websocket: PCM16 16 kHz both ways; JSON ready, ringing, answered, ended / answer, "
    "decline, hangup",
    tag="softphone",
    query={"ticket": {"type": "string"}},
    responses={
        101: ("Switching to the websocket", None),
        400: ("Not a websocket upgrade", ERROR_SCHEMA),
        403: ("Ticket missing, forged, expired or used; or phone not verified", ERROR_SCHEMA),
        409: ("No softphone: calls go through Twilio", ERROR_SCHEMA),
    },
    auth=False,
    raw=True,
)(softphone_ws)
