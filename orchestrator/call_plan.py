"""From the call's database context to the CallPlan a live call runs with."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import asyncpg

from media.call import CallPlan
from personas.prompt import compile_prompt
from personas.tools import END_CALL


def call_plan(context: asyncpg.Record) -> CallPlan:
    timezone = context["timezone"] or "UTC"
    prompt = compile_prompt(
        persona_name=context["persona_name"],
        core_prompt=context["core_prompt"],
        user_name=context["user_name"] or "",
        call_context=context["context"],
        direction=context["direction"],
        now_local=datetime.now(UTC).astimezone(ZoneInfo(timezone)),
        timezone=timezone,
    )
    time_limit_s = context["time_limit_s"] or context["max_call_minutes"] * 60
    return CallPlan(
        system_prompt=prompt.system,
        opening_instruction=prompt.opening_instruction,
        opening_fallback=prompt.opening_fallback,
        voice=context["voice"],
        temperature=float(context["temperature"]),
        max_tokens=context["reply_max_tokens"],
        time_limit_s=float(time_limit_s),
        end_silence_ms=context["end_of_turn_silence_ms"],
        tools=(END_CALL,),
    )
