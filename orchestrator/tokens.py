"""Login tokens: HS256 JWTs with sub, jti, iat, exp, issuer and audience, all checked on every request.

Revocation (logout) is a row in token_blacklist keyed by jti, kept until the token would have expired.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from orchestrator.config import AuthSettings

_ALGORITHM = "HS256"


class InvalidToken(Exception):
    """The token is malformed, forged, expired or not meant for us."""


@dataclass(frozen=True)
class TokenClaims:
    user_id: uuid.UUID
    jti: str
    expires_at: datetime


class TokenService:
    def __init__(self, settings: AuthSettings) -> None:
        self._settings = settings

    def issue(self, user_id: uuid.UUID) -> tuple[str, TokenClaims]:
        now = datetime.now(UTC).replace(microsecond=0)
        claims = TokenClaims(
            user_id, secrets.token_urlsafe(16), now + timedelta(seconds=self._settings.token_lifetime_s)
        )
        payload = {
            "sub": str(user_id),
            "jti": claims.jti,
            "iat": now,
            "exp": claims.expires_at,
            "iss": self._settings.issuer,
            "aud": self._settings.audience,
        }
        return jwt.encode(payload, self._settings.jwt_secret.reveal(), algorithm=_ALGORITHM), claims

    def verify(self, token: str) -> TokenClaims:
        try:
            payload = jwt.decode(
                token,
                self._settings.jwt_secret.reveal(),
                algorithms=[_ALGORITHM],
                issuer=self._settings.issuer,
                audience=self._settings.audience,
                options={"require": ["sub", "jti", "iat", "exp", "iss", "aud"]},
            )
            user_id = uuid.UUID(str(payload["sub"]))
            jti = payload["jti"]
            if not isinstance(jti, str) or not jti:
                raise InvalidToken("token has no usable jti")
        except jwt.ExpiredSignatureError:
            raise InvalidToken("token has expired") from None
        except (jwt.InvalidTokenError, ValueError, TypeError):
            raise InvalidToken("token is invalid") from None
        return TokenClaims(user_id, jti, datetime.fromtimestamp(payload["exp"], UTC))
