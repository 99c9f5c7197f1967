"""Placing and ending outbound calls: the guards, the call record, and the provider request."""

from __future__ import annotations

import logging
import uuid

import asyncpg
from aiohttp import web

from db import calls
from orchestrator.errors import ApiError, too_many_requests
from orchestrator.keys import DRAINING, POOL, SETTINGS, TELEPHONY
from orchestrator.phones import check_destination, masked
from orchestrator.telephony import ProviderError
from orchestrator.usage import minutes_left

log = logging.getLogger(__name__)


async def place_call(
    app: web.Application, user: asyncpg.Record, persona: asyncpg.Record, context: str
) -> asyncpg.Record:
    """Record the call, then ask the provider to ring the user's verified phone.

    The row is committed before the provider is asked, so the one-live-call guard sees it; a provider
    failure ends the call as `failed` with the reason, never as an error response. With a monthly minute
    allowance, a user with none left is refused (402) and the call's time limit is cut to what is left:
    the persona says its time-limit goodbye when the minutes run out.
    """
    settings, pool, telephony = app[SETTINGS], app[POOL], app[TELEPHONY]
    policy = settings.telephony
    refuse_while_draining(app)
    if user["phone"] is None or user["phone_verified_at"] is None:
        raise ApiError(403, "phone_not_verified", "verify your phone number before asking for a call")
    check_destination(user["phone"], policy.allowed_countries)
    async with pool.acquire() as conn, conn.transaction():
        time_limit_s = await admit_call(app, conn, user, persona)
        call = await calls.insert_call(
            conn,
            user_id=user["id"],
            persona_id=persona["id"],
            direction="outbound",
            from_number=telephony.from_number,
            to_number=user["phone"],
            context=context,
            time_limit_s=time_limit_s,
        )
    base = settings.base_url
    try:
        placed = await telephony.place_call(
            to=user["phone"],
            answer_url=f"{base}/twilio/voice?call={call['id']}",
            status_url=f"{base}/twilio/status?call={call['id']}",
            ring_timeout_s=policy.ring_timeout_s,
            time_limit_s=call["time_limit_s"],
        )
    except ProviderError as exc:
        await calls.fail_call(pool, call["id"], str(exc))
        log.warning("call %s to %s failed to start", call["id"], masked(user["phone"]))
    else:
        await calls.set_provider_call(pool, call["id"], placed.sid, placed.status)
        log.info("call %s placed to %s", call["id"], masked(user["phone"]))
    return await calls.get_call(pool, user["id"], call["id"])


def refuse_while_draining(app: web.Application) -> None:
    """A draining server (SIGTERM) starts no new call; the client retries on another process."""
    if app[DRAINING].is_set():
        raise ApiError(503, "shutting_down", "the server is shutting down; retry shortly", headers={"Retry-After": "5"})


async def admit_call(
    app: web.Application, conn: asyncpg.Connection, user: asyncpg.Record, persona: asyncpg.Record
) -> int:
    """The guards every new call passes, phone or browser: one live call, the request rate, the daily
    cap and the monthly minute allowance. Run in the transaction that inserts the call; returns its
    time limit in seconds (the persona's, cut to the minutes left)."""
    settings = app[SETTINGS]
    policy = settings.telephony
    # A browser call whose websocket never opened (tab closed) must not count as live for hours.
    await calls.expire_unopened_browser_calls(conn, user["id"], policy.stream_token_ttl_s)
    guard = await calls.guard_counts(conn, user["id"], policy.calls_window_s)
    if guard.live_calls >= policy.max_live_calls_per_user:
        raise ApiError(409, "call_in_progress", "you already have a call in progress")
    if guard.recent_calls >= policy.calls_per_window:
        raise too_many_requests(policy.calls_window_s, "too many calls requested recently; try again later")
    if guard.calls_today >= policy.daily_call_cap:
        raise too_many_requests(3600, "daily call limit reached; try again tomorrow")
    time_limit_s = persona["max_call_minutes"] * 60
    left = await minutes_left(conn, user["id"], user["timezone"], settings.pricing)
    if left is not None:
        if left == 0:
            allowance = settings.pricing.monthly_minutes_allowance
            message = f"you have used all {allowance} call minutes for this month; more come on the 1st"
            raise ApiError(402, "minutes_used_up", message)
        time_limit_s = min(time_limit_s, left * 60)
    return time_limit_s


async def hang_up(app: web.Application, user_id: uuid.UUID, call: asyncpg.Record) -> asyncpg.Record:
    """Ask the provider to end a live call; its status callback then records the end."""
    pool = app[POOL]
    if call["ended_at"] is not None:
        raise ApiError(409, "call_ended", "this call has already ended")
    if call["provider_call_id"] is None:
        await calls.fail_call(pool, call["id"], "canceled before the provider accepted it")
    else:
        try:
            await app[TELEPHONY].hang_up(call["provider_call_id"])
        except ProviderError as exc:
            raise ApiError(502, "provider_error", str(exc)) from None
    return await calls.get_call(pool, user_id, call["id"])
