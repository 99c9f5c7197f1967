"""Talk to a persona from the browser: the same Call as a phone call, over the page's websocket.

`POST /api/talk` records a call with direction `browser` (through the same guards and minute allowance
as "call me now") and returns a one-time ticket: browsers cannot set an Authorization header on a
websocket, so `GET /api/talk/ws?call=…&ticket=…` is authorised by the ticket alone (db/stream_tokens:
hashed, single use, short-lived, bound to the call). A browser call has no provider, so the server
records its in-progress and completed statuses itself.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from db import calls, personas, stream_tokens
from media.browser_transport import MAX_MESSAGE_BYTES, SAMPLE_RATE, BrowserTransport
from media.call import Utterance
from orchestrator.api import ERROR_SCHEMA, ApiRequest, ApiRoutes
from orchestrator.call_runner import run_call
from orchestrator.calls import admit_call, refuse_while_draining
from orchestrator.errors import ApiError
from orchestrator.ids import parse_uuid
from orchestrator.keys import POOL, SETTINGS
from orchestrator.routes.calls import PLACE_BODY

log = logging.getLogger(__name__)

routes = ApiRoutes()
BROWSER_SID = "browser"
"""What stream tokens of browser calls are bound to, in place of a provider's CallSid."""
TALK: dict[str, Any] = {
    "type": "object",
    "required": ["call_id", "ws_url", "ws_path", "expires_in_s"],
    "properties": {
        "call_id": {"type": "string", "format": "uuid"},
        "ws_url": {"type": "string", "description": "absolute, from the server's public base URL"},
        "ws_path": {"type": "string", "description": "the same, relative to this server (for the page)"},
        "expires_in_s": {"type": "integer", "description": "open the websocket before the ticket expires"},
    },
}


@routes.route(
    "POST",
    "/api/talk",
    summary="Talk to a persona from the browser: a call with direction browser, and its websocket ticket",
    tag="talk",
    body=PLACE_BODY,
    responses={
        201: ("Call recorded; open ws_path within expires_in_s", TALK),
        402: ("This month's call minutes are used up", ERROR_SCHEMA),
        404: ("No such persona (persona_id)", ERROR_SCHEMA),
        409: ("A call is already in progress", ERROR_SCHEMA),
        503: ("The server is shutting down", ERROR_SCHEMA),
    },
)
async def start_talk(req: ApiRequest) -> web.Response:
    app, pool, user = req.app, req.app[POOL], req.user
    refuse_while_draining(app)
    persona = await personas.get_persona(pool, user["id"], req.body["persona_id"])
    if persona is None:
        raise ApiError(404, "not_found", "persona not found", field="persona_id")
    async with pool.acquire() as conn, conn.transaction():
        time_limit_s = await admit_call(app, conn, user, persona)
        call = await calls.insert_call(
            conn,
            user_id=user["id"],
            persona_id=persona["id"],
            direction="browser",
            context=req.body.get("context", "").strip(),
            time_limit_s=time_limit_s,
        )
    ttl_s = app[SETTINGS].telephony.stream_token_ttl_s
    ticket = await stream_tokens.issue(pool, call["id"], BROWSER_SID, ttl_s)
    path = f"/api/talk/ws?call={call['id']}&ticket={ticket}"
    base = app[SETTINGS].base_url
    body = {"call_id": str(call["id"]), "ws_url": "ws" + base.removeprefix("http") + path, "ws_path": path}
    return web.json_response({**body, "expires_in_s": ttl_s}, status=201)


async def talk_ws(request: web.Request) -> web.StreamResponse:
    app, pool = request.app, request.app[POOL]
    ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE_BYTES, autoping=True, compress=False)
    if not ws.can_prepare(request).ok:  # checked first: a plain GET must not use up the ticket
        raise ApiError(400, "websocket_required", "this endpoint only accepts a websocket upgrade")
    call_id = parse_uuid(request.query.get("call", ""))
    ticket = request.query.get("ticket", "")
    if call_id is None or not ticket:
        raise ApiError(400, "invalid_query", "call (a call id) and ticket are required", field="ticket")
    refusal = await stream_tokens.redeem(pool, ticket, call_id, BROWSER_SID)
    if refusal is not None:
        log.warning("talk websocket refused: %s", refusal)
        raise ApiError(403, "invalid_ticket", f"ticket refused: {refusal}", field="ticket")
    context = await calls.call_context(pool, call_id)
    if context is None or context["direction"] != "browser":
        raise ApiError(404, "not_found", "call not found")
    await ws.prepare(request)
    settings = app[SETTINGS].call
    transport = BrowserTransport(
        ws, max_violations=settings.max_stream_violations, max_messages_per_s=settings.max_stream_messages_per_s
    )
    await calls.browser_call_status(pool, call_id, "in-progress")
    try:
        await transport.send_note({"type": "hello", "call_id": str(call_id), "sample_rate": SAMPLE_RATE})
        async with asyncio.TaskGroup() as tg:
            forwarder = tg.create_task(transport.forward_notes(), name="talk-notes")
            await run_call(
                app,
                transport,
                context,
                transport.stats,
                kind="browser talk",
                on_utterance=lambda utterance: transport.notify(utterance_note(utterance)),
            )
            forwarder.cancel()
    finally:
        await calls.browser_call_status(pool, call_id, "completed")
        await transport.close()
    return ws


def utterance_note(utterance: Utterance) -> dict[str, Any]:
    """A transcript line for the page, as it is recorded (the caller's after STT, the persona's once played)."""
    return {
        "type": "transcript",
        "seq": utterance.seq,
        "role": utterance.role,
        "text": utterance.text,
        "heard_text": utterance.heard_text,
        "interrupted": utterance.interrupted,
    }


routes.route(
    "GET",
    "/api/talk/ws",
    summary="The talk websocket: binary PCM16 16 kHz both ways; JSON mark, clear, text, dtmf, hangup, transcript",
    tag="talk",
    query={"call": {"type": "string", "format": "uuid"}, "ticket": {"type": "string"}},
    responses={
        101: ("Switching to the websocket", None),
        400: ("Not a websocket upgrade, or call/ticket missing", ERROR_SCHEMA),
        403: ("Ticket unknown, expired, used or for another call", ERROR_SCHEMA),
        404: ("No such browser call", ERROR_SCHEMA),
    },
    auth=False,
    raw=True,
)(talk_ws)
