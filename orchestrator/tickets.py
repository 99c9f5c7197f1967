"""One-time websocket tickets for a user (the softphone): browsers cannot set an Authorization header
on a websocket, and a login token must not travel in a URL (logs, history).

A ticket is a short-lived HS256 JWT with its own audience (so it is never accepted as a login token,
nor a login token as a ticket), and it is single use: redeeming it revokes its jti in token_blacklist.
Call-bound tickets (talking to a persona) use db/stream_tokens instead.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import jwt

from db import revoked_tokens
from orchestrator.config import AuthSettings

_ALGORITHM = "HS256"


def issue_ticket(settings: AuthSettings, user_id: uuid.UUID, purpose: str, ttl_s: int) -> str:
    now = datetime.now(UTC).replace(microsecond=0)
    payload = {
        "sub": str(user_id),
        "jti": secrets.token_urlsafe(16),
        "iat": now,
        "exp": now + timedelta(seconds=ttl_s),
        "iss": settings.issuer,
        "aud": f"{settings.audience}:{purpose}",
    }
    return jwt.encode(payload, settings.jwt_secret.reveal(), algorithm=_ALGORITHM)


async def redeem_ticket(pool: asyncpg.Pool, settings: AuthSettings, ticket: str, purpose: str) -> uuid.UUID | None:
    """The ticket's user, once; None if it is forged, expired, for another purpose or already used."""
    try:
        payload = jwt.decode(
            ticket,
            settings.jwt_secret.reveal(),
            algorithms=[_ALGORITHM],
            issuer=settings.issuer,
            audience=f"{settings.audience}:{purpose}",
            options={"require": ["sub", "jti", "exp", "iss", "aud"]},
        )
        user_id = uuid.UUID(str(payload["sub"]))
        jti = str(payload["jti"])
    except (jwt.InvalidTokenError, ValueError, TypeError):
        return None
    expires_at = datetime.fromtimestamp(payload["exp"], UTC)
    return user_id if await revoked_tokens.revoke_once(pool, jti, user_id, expires_at) else None
