"""Tools the persona may call during a conversation (OpenAI function-tool format)."""

from __future__ import annotations

from typing import Any

END_CALL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "end_call",
        "description": (
            "Hang up the phone after your reply. Use it only when the conversation is clearly over: the "
            "caller said goodbye or asked to end the call."
        ),
        "parameters": {"type": "object", "properties": {}, "additionalProperties": False},
    },
}

SCHEDULE_CALLBACK: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "schedule_callback",
        "description": (
            'Schedule a call back to the caller at a time they asked for ("call me tomorrow at seven"). Use '
            "it only when the caller clearly asks to be called again at a particular time. Work the time out "
            "from the caller's local date and time you were given. After it, say nothing about the time: the "
            "confirmation is spoken for you."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "when": {
                    "type": "string",
                    "description": "the caller's local date and time, as YYYY-MM-DDTHH:MM (e.g. 2026-03-08T07:00)",
                },
                "purpose": {
                    "type": "string",
                    "description": "a few words on what the call is for (e.g. wake-up, check-in), if they said",
                },
            },
            "required": ["when"],
            "additionalProperties": False,
        },
    },
}
