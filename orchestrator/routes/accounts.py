"""Sign-up, login, logout and the current user."""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC, datetime, time
from functools import cache

from aiohttp import web

from db import rate_limits, revoked_tokens, users
from orchestrator.api import ERROR_SCHEMA, ApiRequest, ApiRoutes
from orchestrator.auth import client_address
from orchestrator.errors import ApiError, too_many_requests
from orchestrator.keys import POOL, SETTINGS, TOKENS
from orchestrator.passwords import hash_password, verify_password
from orchestrator.schedules import follow_timezone
from orchestrator.schemas import AUTH_RESULT, USER
from orchestrator.serialize import user_json

routes = ApiRoutes()

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
_ERROR = ERROR_SCHEMA
REGISTER_BODY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["email", "password"],
    "properties": {
        "email": {"type": "string", "minLength": 3, "maxLength": 254},
        "password": {"type": "string", "minLength": 1, "maxLength": 256},
        "name": {"type": "string", "maxLength": 100},
        "timezone": {"type": "string", "minLength": 1, "maxLength": 64},
    },
}
LOGIN_BODY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["email", "password"],
    "properties": {
        "email": {"type": "string", "minLength": 1, "maxLength": 254},
        "password": {"type": "string", "minLength": 1, "maxLength": 256},
    },
}


@cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@routes.route(
    "POST",
    "/api/auth/register",
    summary="Create an account and log in",
    tag="accounts",
    auth=False,
    body=REGISTER_BODY,
    responses={
        201: ("Account created", AUTH_RESULT),
        409: ("Email already registered", _ERROR),
        429: ("Too many accounts created from this address; see Retry-After", _ERROR),
    },
)
async def register(req: ApiRequest) -> web.Response:
    settings = req.app[SETTINGS].auth
    window = await rate_limits.hit(
        req.app[POOL], f"register:addr:{client_address(req.http)}", settings.registration_window_s
    )
    if window.hits > settings.registrations_per_address:
        raise too_many_requests(window.retry_after_s, "too many accounts created from this address; try later")
    email = req.body["email"].strip()
    if not _EMAIL.match(email):
        raise ApiError(400, "invalid_field", "email is not a valid email address", field="email")
    password = req.body["password"]
    if len(password) < settings.password_min_length:
        raise ApiError(
            400,
            "invalid_field",
            f"password must be at least {settings.password_min_length} characters",
            field="password",
        )
    timezone = req.body.get("timezone", "UTC")
    if timezone not in _timezones():
        raise ApiError(400, "invalid_field", "timezone is not an IANA time zone name", field="timezone")
    name = req.body.get("name", "").strip()
    try:
        user = await users.create_user(
            req.app[POOL],
            email=email,
            password_hash=await hash_password(password),
            name=name,
            timezone=timezone,
        )
    except users.EmailTaken:
        raise ApiError(409, "email_taken", "an account with this email already exists", field="email") from None
    token, _ = req.app[TOKENS].issue(user["id"])
    return web.json_response({"token": token, "user": user_json(user)}, status=201)


@routes.route(
    "POST",
    "/api/auth/login",
    summary="Log in with email and password",
    tag="accounts",
    auth=False,
    body=LOGIN_BODY,
    responses={200: ("Logged in", AUTH_RESULT), 401: ("Wrong email or password", _ERROR)},
)
async def login(req: ApiRequest) -> web.Response:
    settings, pool = req.app[SETTINGS].auth, req.app[POOL]
    address = await rate_limits.hit(pool, f"login:addr:{client_address(req.http)}", settings.login_attempt_window_s)
    if address.hits > settings.login_attempts_per_address:
        raise too_many_requests(address.retry_after_s, "too many login attempts from this address; try later")
    email = req.body["email"].strip().lower()
    email_bucket = f"login:email:{email}"
    failures = await rate_limits.peek(pool, email_bucket, settings.login_failure_window_s)
    if failures.hits >= settings.login_failures_per_email:
        raise too_many_requests(failures.retry_after_s, "too many failed logins for this account; try later")
    account = await users.get_login(pool, email)
    if not await verify_password(account["password_hash"] if account else None, req.body["password"]):
        await rate_limits.hit(pool, email_bucket, settings.login_failure_window_s)
        raise ApiError(401, "invalid_credentials", "wrong email or password")
    await rate_limits.reset(pool, email_bucket)
    token, _ = req.app[TOKENS].issue(account["id"])
    return web.json_response({"token": token, "user": user_json(account)})


@routes.route(
    "POST",
    "/api/auth/logout",
    summary="Revoke the token used for this request",
    tag="accounts",
    responses={204: ("Logged out; this token is refused from now on", None)},
)
async def logout(req: ApiRequest) -> web.Response:
    token = req.identity.token
    await revoked_tokens.revoke(req.app[POOL], token.jti, token.user_id, token.expires_at)
    return web.Response(status=204)


@routes.route("GET", "/api/me", summary="The logged-in user", tag="accounts", responses={200: ("Me", USER)})
async def me(req: ApiRequest) -> web.Response:
    return web.json_response(user_json(req.user))


_LOCAL_TIME = {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"}
UPDATE_ME_BODY = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "properties": {
        "name": {"type": "string", "maxLength": 100},
        "timezone": {"type": "string", "minLength": 1, "maxLength": 64},
        "quiet_hours": {
            "type": ["object", "null"],
            "additionalProperties": False,
            "required": ["start", "end"],
            "properties": {"start": _LOCAL_TIME, "end": _LOCAL_TIME},
        },
    },
}


@routes.route(
    "PATCH",
    "/api/me",
    summary="Change my name, time zone (my schedules follow it) or quiet hours (null: none)",
    tag="accounts",
    body=UPDATE_ME_BODY,
    responses={200: ("Me", USER)},
)
async def update_me(req: ApiRequest) -> web.Response:
    body, changes = req.body, {}
    if "name" in body:
        changes["name"] = body["name"].strip()
    if "timezone" in body:
        if body["timezone"] not in _timezones():
            raise ApiError(400, "invalid_field", "timezone is not an IANA time zone name", field="timezone")
        changes["timezone"] = body["timezone"]
    if "quiet_hours" in body:
        window = body["quiet_hours"] or {}
        start, end = (_clock(window[key]) if window else None for key in ("start", "end"))
        if start is not None and start == end:
            raise ApiError(400, "invalid_field", "quiet hours must not start and end at once", field="quiet_hours")
        changes.update(quiet_hours_start=start, quiet_hours_end=end)
    async with req.app[POOL].acquire() as conn, conn.transaction():
        user = await users.update_profile(conn, req.user["id"], changes)
        if changes.get("timezone", req.user["timezone"]) != req.user["timezone"]:
            await follow_timezone(conn, user["id"], user["timezone"], datetime.now(UTC))
    return web.json_response(user_json(user))


def _clock(value: str) -> time:
    hour, minute = map(int, value.split(":"))
    return time(hour, minute)
