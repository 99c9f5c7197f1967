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
