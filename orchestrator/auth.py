"""Who is calling: bearer-token authentication and the client's address."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from aiohttp import web

from db import revoked_tokens, users
from orchestrator.errors import unauthorized
from orchestrator.keys import POOL, SETTINGS, TOKENS
from orchestrator.tokens import InvalidToken, TokenClaims


@dataclass(frozen=True)
class Identity:
    user: asyncpg.Record
    token: TokenClaims


async def authenticate(request: web.Request) -> Identity:
    """Resolve the bearer token to a live user, or refuse with 401."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise unauthorized("missing Authorization header")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("expected 'Authorization: Bearer <token>'")
    try:
        claims = request.app[TOKENS].verify(token.strip())
    except InvalidToken as exc:
        raise unauthorized(str(exc)) from None
    pool = request.app[POOL]
    if await revoked_tokens.is_revoked(pool, claims.jti):
        raise unauthorized("token has been revoked")
    user = await users.get_user(pool, claims.user_id)
    if user is None:
        raise unauthorized("token's user no longer exists")
    return Identity(user, claims)


def client_address(request: web.Request) -> str:
    """The client's IP; X-Forwarded-For is believed only when configured (behind a trusted proxy)."""
    if request.app[SETTINGS].server.trust_forwarded_for:
        forwarded = request.headers.get("X-Forwarded-For", "").split(",")[0].strip()
        if forwarded:
            return forwarded
    return request.remote or "unknown"
