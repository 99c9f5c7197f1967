"""Ids arriving on the wire (query strings, stream parameters), where a malformed one is a refusal, not an error."""

from __future__ import annotations

import uuid


def parse_uuid(value: str) -> uuid.UUID | None:
    """The UUID `value` names, or None when it names none."""
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
