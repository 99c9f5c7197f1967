"""Accounts over a real server and database: sign-up, login, logout, token checks, throttling."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import jwt

from tests.api.users import PASSWORD, sign_up
from tests.conftest import JWT_SECRET


async def test_register_login_me_logout(client, unique_email) -> None:
    response = await client.post(
        "/api/auth/register",
        json={"email": unique_email, "password": PASSWORD, "name": " Jo ", "timezone": "Europe/Paris"},
    )
    assert response.status == 201
    registered = await response.json()
    assert registered["user"]["email"] == unique_email
    assert registered["user"]["name"] == "Jo" and registered["user"]["timezone"] == "Europe/Paris"
    assert registered["user"]["phone"] is None

    response = await client.post("/api/auth/login", json={"email": unique_email.upper(), "password": PASSWORD})
    assert response.status == 200
    token = (await response.json())["token"]
    headers = {"Authorization": f"Bearer {token}"}

    response = await client.get("/api/me", headers=headers)
    assert response.status == 200
    assert (await response.json())["id"] == registered["user"]["id"]

    response = await client.post("/api/auth/logout", headers=headers)
    assert response.status == 204
    response = await client.get("/api/me", headers=headers)
    assert response.status == 401
    assert (await response.json())["error"]["message"] == "token has been revoked"
    # The other token (from registration) is still good: logout revokes one session only.
    response = await client.get("/api/me", headers={"Authorization": f"Bearer {registered['token']}"})
    assert response.status == 200


async def test_duplicate_email_any_case_is_409(client, unique_email) -> None:
    first = await client.post("/api/auth/register", json={"email": unique_email, "password": PASSWORD})
    assert first.status == 201
    again = await client.post("/api/auth/register", json={"email": unique_email.upper(), "password": PASSWORD})
    assert again.status == 409
    assert (await again.json())["error"] == {
        "code": "email_taken",
        "message": "an account with this email already exists",
        "field": "email",
    }


async def test_wrong_password_and_unknown_email_look_the_same(client) -> None:
    user = await sign_up(client)
    wrong = await client.post("/api/auth/login", json={"email": user.user["email"], "password": "not it at all"})
    unknown = await client.post("/api/auth/login", json={"email": "nobody@example.test", "password": PASSWORD})
    assert wrong.status == unknown.status == 401
    assert (await wrong.json()) == (await unknown.json())


async def test_register_validation(client) -> None:
    cases = [
        ({"email": "not-an-email", "password": PASSWORD}, "email"),
        ({"email": "a@b.example", "password": "short"}, "password"),
        ({"email": "a@b.example", "password": PASSWORD, "timezone": "Mars/Olympus"}, "timezone"),
        ({"email": "a@b.example", "password": 12345678}, "password"),
        ({"password": PASSWORD}, "email"),
        ({"email": "a@b.example", "password": PASSWORD, "admin": True}, "admin"),
    ]
    for body, field in cases:
        response = await client.post("/api/auth/register", json=body)
        assert response.status == 400, body
        error = (await response.json())["error"]
        assert error["field"] == field, error
        assert PASSWORD not in error["message"]


def _forge(user_id: str, *, secret: str = JWT_SECRET, **overrides: object) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": user_id,
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + timedelta(hours=1),
        "iss": "callmeback",
        "aud": "callmeback-api",
        **overrides,
    }
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, secret, algorithm="HS256")


async def test_bad_tokens_are_401(client) -> None:
    user = await sign_up(client)
    uid = user.user["id"]
    good = _forge(uid)
    assert (await client.get("/api/me", headers={"Authorization": f"Bearer {good}"})).status == 200
    bad_tokens = {
        "expired": _forge(uid, iat=datetime.now(UTC) - timedelta(hours=3), exp=datetime.now(UTC) - timedelta(hours=1)),
        "forged": _forge(uid, secret="another secret entirely, long enough!!"),
        "wrong audience": _forge(uid, aud="someone-else"),
        "wrong issuer": _forge(uid, iss="evil"),
        "no jti": _forge(uid, jti=None),
        "no exp": _forge(uid, exp=None),
        "unknown user": _forge(str(uuid.uuid4())),
        "garbage": "not.a.jwt",
        "none alg": jwt.encode({"sub": uid}, None, algorithm="none"),
    }
    for label, token in bad_tokens.items():
        response = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status == 401, label
        assert (await response.json())["error"]["code"] == "unauthorized", label
    for header in ("", "Bearer", "Basic abc", f"Token {good}"):
        response = await client.get("/api/me", headers={"Authorization": header} if header else {})
        assert response.status == 401, header


async def test_login_throttled_per_email(make_client) -> None:
    client = await make_client(lambda s: replace(s, auth=replace(s.auth, login_failures_per_email=3)))
    user = await sign_up(client)
    email = user.user["email"]
    for _ in range(3):
        response = await client.post("/api/auth/login", json={"email": email, "password": "wrong password"})
        assert response.status == 401
    # Locked now, even with the right password and a different case.
    response = await client.post("/api/auth/login", json={"email": email.upper(), "password": PASSWORD})
    assert response.status == 429
    assert 0 < int(response.headers["Retry-After"]) <= 900
    assert (await response.json())["error"]["code"] == "rate_limited"
    # Other accounts are unaffected.
    other = await sign_up(client)
    response = await client.post("/api/auth/login", json={"email": other.user["email"], "password": PASSWORD})
    assert response.status == 200


async def test_login_throttled_per_address(make_client) -> None:
    client = await make_client(lambda s: replace(s, auth=replace(s.auth, login_attempts_per_address=4)))
    user = await sign_up(client)
    statuses = []
    for _ in range(6):
        response = await client.post("/api/auth/login", json={"email": user.user["email"], "password": PASSWORD})
        statuses.append(response.status)
    assert statuses[:4] == [200] * 4
    assert statuses[4:] == [429, 429]
    assert int(response.headers["Retry-After"]) <= 60
