"""The media-stream websocket: authenticate the stream, then hand it to a Call until it ends.

A stream is accepted only with a valid X-Twilio-Signature on the upgrade AND a one-time token (issued
with the answer TwiML, bound to the call and its CallSid) in `start.customParameters`. Anything else is
closed with a policy code and a log line saying why.
"""

from __future__ import annotations

import logging
import uuid

from aiohttp import web

from db import calls, stream_tokens
from db.recorder import CallFieldsRow
from media.call import Call
from media.twilio_transport import MAX_MESSAGE_BYTES, HandshakeFailed, TwilioTransport
from orchestrator.call_plan import call_plan
from orchestrator.call_records import CallRecords
from orchestrator.call_tools import call_tools
from orchestrator.errors import ApiError
from orchestrator.keys import CALL_SETTINGS, ENGINES, LIVE_CALLS, METRICS, POOL, RECORDER, SETTINGS, TELEPHONY
from orchestrator.logs import call_id_var
from orchestrator.memory_worker import call_ended
from orchestrator.metrics import current_metrics

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
    call_id = _uuid(started.custom_parameters.get("call_id", ""))
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
    recorder, metrics = request.app[RECORDER], request.app[METRICS]
    recorder.add(CallFieldsRow(call_id, {"stream_sid": started.stream_sid}))
    call = Call(
        transport,
        request.app[ENGINES],
        request.app[CALL_SETTINGS],
        call_plan(context, settings.memory.prompt_budget_tokens),
        CallRecords(recorder, call_id, metrics),
        tool_handler=call_tools(pool, settings.schedules, context),
    )
    live = request.app[LIVE_CALLS]
    token_var = call_id_var.set(str(call_id))
    metrics_token = current_metrics.set(metrics)  # the engine-error count is this app's
    live.add(call)
    try:
        log.info("call %s: media stream started", call_id)
        await call.run()
    finally:
        live.discard(call)
        log.info(
            "call %s: media stream ended (by %s; %d frames in, %d malformed, %d barge-ins, jitter p99 %.1f ms)",
            call_id,
            call.ended_by,
            transport.stats.frames_in,
            transport.stats.violations,
            call.barge_ins,
            call.pacer.jitter().p99_ms,
        )
        metrics.call_ended(call.barge_ins, call.pacer.jitter().p99_ms)
        current_metrics.reset(metrics_token)
        call_id_var.reset(token_var)
        await call_ended(request.app, call_id)  # memory extraction (browser calls have no status webhook)
        if not ws.closed:
            await ws.close()
    return ws


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
