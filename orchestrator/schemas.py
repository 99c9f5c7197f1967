"""JSON schemas shared by the API's declarations (requests are validated with them; OpenAPI shows them)."""

from __future__ import annotations

from typing import Any

PERSONA_ID: dict[str, Any] = {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{1,62}$"}
TIMESTAMP: dict[str, Any] = {"type": "string", "format": "date-time"}
NULLABLE_TIMESTAMP: dict[str, Any] = {"type": ["string", "null"], "format": "date-time"}

USER: dict[str, Any] = {
    "type": "object",
    "required": ["id", "email", "name", "phone", "phone_verified_at", "timezone", "quiet_hours", "created_at"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "email": {"type": "string"},
        "name": {"type": "string"},
        "phone": {"type": ["string", "null"]},
        "phone_verified_at": NULLABLE_TIMESTAMP,
        "timezone": {"type": "string"},
        "quiet_hours": {
            "type": ["object", "null"],
            "description": "local times when no scheduled call rings; start > end wraps midnight",
            "properties": {"start": {"type": "string"}, "end": {"type": "string"}},
        },
        "created_at": TIMESTAMP,
    },
}
AUTH_RESULT: dict[str, Any] = {
    "type": "object",
    "required": ["token", "user"],
    "properties": {"token": {"type": "string"}, "user": USER},
}

_PIPER_VOICE = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "length_scale": {"type": "number", "minimum": 0.5, "maximum": 2.0},
        "pitch_semitones": {"type": "number", "minimum": -12, "maximum": 12},
        "noise_scale": {"type": "number", "minimum": 0, "maximum": 1.5},
        "noise_w": {"type": "number", "minimum": 0, "maximum": 1.5},
        "volume": {"type": "number", "minimum": 0.1, "maximum": 2.0},
    },
}
_OPENAI_VOICE = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "voice": {
            "type": "string",
            "enum": [
                "alloy",
                "ash",
                "ballad",
                "coral",
                "echo",
                "fable",
                "nova",
                "onyx",
                "sage",
                "shimmer",
                "verse",
            ],
        },
        "instructions": {"type": "string", "maxLength": 500},
    },
}
VOICE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"piper": _PIPER_VOICE, "openai": _OPENAI_VOICE},
}
_PERSONA_FIELDS: dict[str, Any] = {
    "name": {"type": "string", "minLength": 1, "maxLength": 60, "pattern": r"\S"},
    "tagline": {"type": "string", "maxLength": 200},
    "core_prompt": {"type": "string", "minLength": 1, "maxLength": 8000, "pattern": r"\S"},
    # The first words when a call connects; "{name}" is the user's name. Empty: the model writes them.
    "greeting": {"type": "string", "maxLength": 300},
    "voice": VOICE,
    "temperature": {"type": "number", "minimum": 0, "maximum": 2},
    "reply_max_tokens": {"type": "integer", "minimum": 16, "maximum": 1024},
    "max_call_minutes": {"type": "integer", "minimum": 1, "maximum": 120},
    "end_of_turn_silence_ms": {"type": ["integer", "null"], "minimum": 200, "maximum": 3000},
}
PERSONA_CREATE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "core_prompt"],
    "properties": _PERSONA_FIELDS,
}
PERSONA_UPDATE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "properties": _PERSONA_FIELDS,
}
PERSONA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "builtin", "favorite", *_PERSONA_FIELDS, "created_at", "updated_at"],
    "properties": {
        "id": PERSONA_ID,
        "builtin": {"type": "boolean"},
        "favorite": {"type": "boolean"},
        **_PERSONA_FIELDS,
        "name": {"type": "string"},
        "core_prompt": {"type": "string"},
        "created_at": TIMESTAMP,
        "updated_at": TIMESTAMP,
    },
}
PERSONA_LIST: dict[str, Any] = {
    "type": "object",
    "required": ["personas"],
    "properties": {"personas": {"type": "array", "items": PERSONA}},
}

_NULLABLE_STRING: dict[str, Any] = {"type": ["string", "null"]}
CALL: dict[str, Any] = {
    "type": "object",
    "required": [
        "id",
        "persona_id",
        "direction",
        "from",
        "to",
        "status",
        "context",
        "requested_at",
        "answered_at",
        "ended_at",
        "duration_s",
        "end_reason",
        "answered_by",
        "error",
        "time_limit_s",
    ],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "persona_id": _NULLABLE_STRING,
        "direction": {"type": "string", "enum": ["outbound", "inbound", "browser"]},
        "from": _NULLABLE_STRING,
        "to": _NULLABLE_STRING,
        "status": {"type": "string"},
        "context": {"type": "string"},
        "requested_at": TIMESTAMP,
        "answered_at": NULLABLE_TIMESTAMP,
        "ended_at": NULLABLE_TIMESTAMP,
        "duration_s": {"type": ["integer", "null"]},
        "end_reason": _NULLABLE_STRING,
        "answered_by": _NULLABLE_STRING,
        "error": _NULLABLE_STRING,
        "time_limit_s": {"type": ["integer", "null"]},
    },
}
USAGE: dict[str, Any] = {
    "type": "object",
    "description": "what was used; the cost is an estimate at the server's current [pricing] table",
    "required": [
        "minutes_billed",
        "stt_seconds",
        "llm_tokens_in",
        "llm_tokens_out",
        "tts_chars",
        "estimated_cost_usd",
    ],
    "properties": {
        "minutes_billed": {"type": "integer", "description": "call duration rounded up to whole minutes"},
        "stt_seconds": {"type": "number", "description": "caller speech sent to speech-to-text"},
        "llm_tokens_in": {"type": "integer", "description": "as reported by the model (0 if it reports none)"},
        "llm_tokens_out": {"type": "integer"},
        "tts_chars": {"type": "integer", "description": "text sent to text-to-speech"},
        "estimated_cost_usd": {"type": "number"},
    },
}
USAGE_TOTALS: dict[str, Any] = {
    "type": "object",
    "required": [*USAGE["required"], "calls"],
    "properties": {**USAGE["properties"], "calls": {"type": "integer"}},
}
MY_USAGE: dict[str, Any] = {
    "type": "object",
    "required": ["month", "all_time", "allowance"],
    "properties": {
        "month": {
            "type": "object",
            "required": [*USAGE_TOTALS["required"], "start"],
            "properties": {
                **USAGE_TOTALS["properties"],
                "start": {**TIMESTAMP, "description": "the 1st, 00:00 in your time zone"},
            },
        },
        "all_time": USAGE_TOTALS,
        "allowance": {
            "type": "object",
            "required": ["monthly_minutes", "minutes_left"],
            "properties": {
                "monthly_minutes": {"type": ["integer", "null"], "description": "null: unlimited"},
                "minutes_left": {"type": ["integer", "null"], "description": "null: unlimited"},
            },
        },
    },
}
CALL_DETAIL: dict[str, Any] = {
    "type": "object",
    "required": [*CALL["required"], "events", "transcript", "usage"],
    "properties": {
        **CALL["properties"],
        "usage": USAGE,
        "events": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["status", "sequence_number", "at"],
                "properties": {
                    "status": {"type": "string"},
                    "sequence_number": {"type": ["integer", "null"]},
                    "at": TIMESTAMP,
                },
            },
        },
        "transcript": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["seq", "role", "text", "heard_text", "interrupted", "started_at", "ended_at"],
                "properties": {
                    "seq": {"type": "integer"},
                    "role": {"type": "string", "enum": ["caller", "persona", "system"]},
                    "text": {"type": "string"},
                    "heard_text": _NULLABLE_STRING,
                    "interrupted": {"type": "boolean"},
                    "started_at": TIMESTAMP,
                    "ended_at": NULLABLE_TIMESTAMP,
                    "latency_ms": {"type": "object", "additionalProperties": {"type": ["number", "null"]}},
                },
            },
        },
    },
}
CALL_PAGE: dict[str, Any] = {
    "type": "object",
    "required": ["calls", "next"],
    "properties": {
        "calls": {"type": "array", "items": CALL},
        "next": {"type": ["string", "null"], "description": "pass as ?before= for the next page"},
    },
}
