"""The media-stream websocket: authenticate the stream, then hand it to a Call until it ends.

A stream is accepted only with a valid X-Twilio-Signature on the upgrade AND a one-time token (issued
with the answer TwiML, bound to the call and its CallSid) in `start.customParameters`. Anything else is
closed with a policy code and a log line saying why.
"""

from __future__ import annotations

import logging

from aiohttp import web

from db import calls, stream_tokens
from db.recorder import CallFieldsRow
from media.twilio_transport import MAX_MESSAGE_BYTES, HandshakeFailed, TwilioTransport
from orchestrator.call_runner import run_call
from orchestrator.errors import ApiError
from orchestrator.ids import parse_uuid
from orchestrator.keys import POOL, RECORDER, SETTINGS, TELEPHONY

log = logging.getLogger(__name__)


async def media_stream(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    url = "ws" + settings.base_url.removeprefix("http") + request.raw_path
    if not request.app[TELEPHONY].signature_valid(url, {}, request.headers.get("X-Twilio-Signature", "")):
        log.warning("media stream refused: bad or missing signature on the upgrade")
        raise ApiError(403, "invalid_signature", "missing or invalid X-Twilio-Signature")
    ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE_BYTES, autoping=True)
    await ws.prepare(request)
    transport = TwilioTransport(
        ws,
        max_violations=settings.call.max_stream_violations,
        max_messages_per_s=settings.call.max_stream_messages_per_s,
    )
    try:
        started = await transport.handshake(settings.call.stream_start_timeout_s)
    except HandshakeFailed:
        return ws
    call_id = parse_uuid(started.custom_parameters.get("call_id", ""))
    token = started.custom_parameters.get("token", "")
    if call_id is None or not token:
        await transport.refuse("missing call_id or token parameter")
        return ws
    pool = request.app[POOL]
    refusal = await stream_tokens.redeem(pool, token, call_id, started.call_sid)
    if refusal is not None:
        await transport.refuse(refusal)
        return ws
    context = await calls.call_context(pool, call_id)
    if context is None:
        await transport.refuse("call not found")
        return ws
    request.app[RECORDER].add(CallFieldsRow(call_id, {"stream_sid": started.stream_sid}))
    try:
        await run_call(request.app, transport, context, transport.stats)
    finally:
        if not ws.closed:
            await ws.close()
    return ws
