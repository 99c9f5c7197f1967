"""From the call's database context to the CallPlan a live call runs with.

`call_prompt` is the one way a prompt is compiled from a context row (`db.calls.call_context` for a live
call, `db.calls.draft_context` for the designer), so what the designer shows is what the call is told.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import asyncpg

from db import memory
from media.call import CallPlan
from personas.prompt import CompiledPrompt, compile_prompt
from personas.tools import END_CALL, SCHEDULE_CALLBACK


def call_prompt(context: asyncpg.Record, memory_budget_tokens: int, now: datetime | None = None) -> CompiledPrompt:
    timezone = context["timezone"] or "UTC"
    return compile_prompt(
        persona_name=context["persona_name"],
        core_prompt=context["core_prompt"],
        user_name=context["user_name"] or "",
        call_context=context["context"],
        direction=context["direction"],
        now_local=(now or datetime.now(UTC)).astimezone(ZoneInfo(timezone)),
        timezone=timezone,
        relationship=memory.relationship(context),
        facts=memory.prompt_facts(context),
        memory_budget_tokens=memory_budget_tokens,
        summaries=memory.prompt_summaries(context),
        greeting=context["greeting"],
    )


def call_plan(context: asyncpg.Record, memory_budget_tokens: int) -> CallPlan:
    prompt = call_prompt(context, memory_budget_tokens)
    time_limit_s = context["time_limit_s"] or context["max_call_minutes"] * 60
    return CallPlan(
        system_prompt=prompt.system,
        opening_instruction=prompt.opening_instruction,
        opening_fallback=prompt.opening_fallback,
        greeting=prompt.greeting,
        example=prompt.example,
        voice=context["voice"],
        temperature=round(float(context["temperature"]), 3),  # a real column: 0.7 reads back as 0.69999...
        max_tokens=context["reply_max_tokens"],
        time_limit_s=float(time_limit_s),
        end_silence_ms=context["end_of_turn_silence_ms"],
        # A call with a user can book the next one; an unknown caller has nobody to schedule for.
        tools=(END_CALL, SCHEDULE_CALLBACK) if context["user_id"] is not None else (END_CALL,),
        persona_name=_own_name(context["persona_name"], context["user_name"]),
    )


def _own_name(persona_name: str, user_name: str | None) -> str:
    """The name only the persona goes by: a Sarah calling a Sarah may well say "Hi Sarah!"."""
    return "" if (user_name or "").strip().casefold() == persona_name.strip().casefold() else persona_name
