"""Run a `Call` for a call row over any transport: the part Twilio's media stream and the browser share.

Both build the same CallPlan (prompt, voice, limits), records, tools and metrics from the call's
context, count it among the live calls (so shutdown says goodbye to it too), and hand the call to
memory extraction when it ends; only authentication and the wire format differ.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import asyncpg
from aiohttp import web

from media.call import Call, Utterance
from media.realtime_call import RealtimeCall
from media.stream_guard import StreamStats
from media.transport import Transport
from orchestrator.call_plan import call_plan
from orchestrator.call_records import CallRecords
from orchestrator.call_tools import call_tools
from orchestrator.engines import realtime_session
from orchestrator.keys import CALL_SETTINGS, ENGINES, LIVE_CALLS, METRICS, POOL, RECORDER, SETTINGS
from orchestrator.logs import call_id_var
from orchestrator.memory_worker import call_ended
from orchestrator.metrics import current_metrics

log = logging.getLogger(__name__)


async def run_call(
    app: web.Application,
    transport: Transport,
    context: asyncpg.Record,
    stats: StreamStats,
    *,
    kind: str = "media stream",
    on_utterance: Callable[[Utterance], None] | None = None,
) -> Call | RealtimeCall:
    """Hold the conversation until it ends; returns the finished call (every task of it ended)."""
    settings, metrics, call_id = app[SETTINGS], app[METRICS], context["id"]
    plan = call_plan(context, settings.memory.prompt_budget_tokens)
    records = CallRecords(app[RECORDER], call_id, metrics, on_utterance)
    tools = call_tools(app[POOL], settings.schedules, context)
    call: Call | RealtimeCall
    if settings.engines.mode == "realtime":  # speech to speech: the model listens and speaks itself
        session = realtime_session(settings, plan)
        call = RealtimeCall(transport, session, app[CALL_SETTINGS], plan, records, tool_handler=tools)
    else:
        call = Call(transport, app[ENGINES], app[CALL_SETTINGS], plan, records, tool_handler=tools)
    live = app[LIVE_CALLS]
    token_var = call_id_var.set(str(call_id))
    metrics_token = current_metrics.set(metrics)  # the engine-error count is this app's
    live.add(call)
    try:
        log.info("call %s: %s started", call_id, kind)
        await call.run()
        if isinstance(call, RealtimeCall) and call.session_lost:
            # The speech-to-speech model is gone mid-call: the pipeline engines carry the call on (an
            # apology first), with the same records, tools and time limit, rather than hanging up on the caller.
            log.warning("call %s: realtime session lost; the call goes on with the pipeline engines", call_id)
            handover = call.handover(app[CALL_SETTINGS].lines.fallback)
            live.discard(call)
            call = Call(
                transport, app[ENGINES], app[CALL_SETTINGS], plan, records, tool_handler=tools, handover=handover
            )
            live.add(call)
            await call.run()
    finally:
        live.discard(call)
        log.info(
            "call %s: %s ended (by %s; %d frames in, %d malformed, %d barge-ins, jitter p99 %.1f ms)",
            call_id,
            kind,
            call.ended_by,
            stats.frames_in,
            stats.violations,
            call.barge_ins,
            call.pacer.jitter().p99_ms,
        )
        metrics.call_ended(call.barge_ins, call.pacer.jitter().p99_ms)
        current_metrics.reset(metrics_token)
        call_id_var.reset(token_var)
        await call_ended(app, call_id)  # memory extraction
    return call
