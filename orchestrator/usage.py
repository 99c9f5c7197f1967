"""Usage and cost: pricing a call's usage, the month's minutes, and the monthly minute allowance.

The cost is an estimate at the current `[pricing]` table, computed when read (changing a price re-prices
history); minutes are whole billed minutes. A user's month is the calendar month in their own time zone.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from db import usage
from orchestrator.config import PricingSection
from orchestrator.schedule_times import resolve_local

USAGE_FIELDS = ("minutes_billed", "stt_seconds", "llm_tokens_in", "llm_tokens_out", "tts_chars")


def cost_usd(amounts: dict[str, Any], pricing: PricingSection) -> float:
    cost = (
        amounts["minutes_billed"] * pricing.telephony_per_minute
        + amounts["stt_seconds"] / 60 * pricing.stt_per_minute
        + amounts["llm_tokens_in"] / 1000 * pricing.llm_per_1k_input_tokens
        + amounts["llm_tokens_out"] / 1000 * pricing.llm_per_1k_output_tokens
        + amounts["tts_chars"] / 1000 * pricing.tts_per_1k_chars
    )
    return round(cost, 6)


def usage_json(row: asyncpg.Record, pricing: PricingSection, prefix: str = "") -> dict[str, Any]:
    amounts = {name: row[prefix + name] for name in USAGE_FIELDS}
    amounts["stt_seconds"] = round(float(amounts["stt_seconds"]), 1)
    amounts = {name: value if name == "stt_seconds" else int(value) for name, value in amounts.items()}
    return {**amounts, "estimated_cost_usd": cost_usd(amounts, pricing)}


def month_start(timezone: str, now: datetime) -> datetime:
    """The instant the user's current calendar month began, where they are."""
    zone = ZoneInfo(timezone)
    first = now.astimezone(zone).date().replace(day=1)
    return resolve_local(first, time(0, 0), zone)


async def minutes_left(
    conn: asyncpg.Connection | asyncpg.Pool, user_id: uuid.UUID, timezone: str, pricing: PricingSection
) -> int | None:
    """Minutes of this month's allowance not yet used (never negative), or None when unlimited."""
    if pricing.monthly_minutes_allowance == 0:
        return None
    used = await usage.minutes_since(conn, user_id, month_start(timezone, datetime.now(UTC)))
    return max(0, pricing.monthly_minutes_allowance - used)


async def allowed_time_limit(
    conn: asyncpg.Connection | asyncpg.Pool, user: asyncpg.Record, persona_limit_s: int | None, pricing: PricingSection
) -> int | None:
    """A call's time limit in seconds: the persona's (None: read when the call starts), cut to the minutes left
    this month; 0 when none are left (an incoming call then hears [telephony] inbound_no_minutes_message)."""
    left = await minutes_left(conn, user["id"], user["timezone"], pricing)
    if left is None:
        return persona_limit_s
    return left * 60 if persona_limit_s is None else min(persona_limit_s, left * 60)
