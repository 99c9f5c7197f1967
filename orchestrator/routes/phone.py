"""Phone verification: a 6-digit code by SMS proves the user owns the number we will call."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets

from aiohttp import web

from db import phone_verifications, rate_limits
from orchestrator.api import ERROR_SCHEMA, ApiRequest, ApiRoutes
from orchestrator.errors import ApiError, too_many_requests
from orchestrator.keys import POOL, SETTINGS, TELEPHONY
from orchestrator.phones import check_destination, masked, normalise
from orchestrator.schemas import TIMESTAMP, USER
from orchestrator.serialize import user_json
from orchestrator.telephony import ProviderError

log = logging.getLogger(__name__)
routes = ApiRoutes()

_PHONE = {"type": "string", "minLength": 3, "maxLength": 32}
VERIFY_BODY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["phone"],
    "properties": {"phone": _PHONE},
}
CHECK_BODY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["phone", "code"],
    "properties": {"phone": _PHONE, "code": {"type": "string", "pattern": "^[0-9]{6}$"}},
}
VERIFICATION_SENT = {
    "type": "object",
    "required": ["phone", "expires_at", "resend_after_s"],
    "properties": {
        "phone": {"type": "string"},
        "expires_at": TIMESTAMP,
        "resend_after_s": {"type": "integer"},
    },
}


def _code_hash(req: ApiRequest, phone: str, code: str) -> str:
    """Keyed hash: six digits are easy to brute-force from a plain hash if the table ever leaks."""
    key = req.app[SETTINGS].auth.jwt_secret.reveal().encode()
    return hmac.new(key, f"{req.user['id']}|{phone}|{code}".encode(), hashlib.sha256).hexdigest()


@routes.route(
    "POST",
    "/api/phone/verify",
    summary="Send a verification code by SMS",
    tag="phone",
    body=VERIFY_BODY,
    responses={
        202: ("Code sent", VERIFICATION_SENT),
        403: ("Destination not allowed", ERROR_SCHEMA),
        409: ("Number verified by another account", ERROR_SCHEMA),
        502: ("The SMS could not be sent", ERROR_SCHEMA),
    },
)
async def send_code(req: ApiRequest) -> web.Response:
    telephony_settings, pool = req.app[SETTINGS].telephony, req.app[POOL]
    phone = normalise(req.body["phone"], telephony_settings.default_region)
    check_destination(phone, telephony_settings.allowed_countries)
    user_id = req.user["id"]
    if await phone_verifications.verified_elsewhere(pool, user_id, phone):
        raise ApiError(409, "phone_taken", "this number is verified by another account", field="phone")
    since = await phone_verifications.seconds_since_last_send(pool, user_id, phone)
    wait = telephony_settings.sms_resend_interval_s
    if since is not None and since < wait:
        raise too_many_requests(int(wait - since) + 1, "a code was just sent; wait before asking again")
    window = await rate_limits.hit(pool, f"sms:user:{user_id}", 3600)
    if window.hits > telephony_settings.sms_per_hour:
        raise too_many_requests(window.retry_after_s, "too many codes requested; try again later")
    code = f"{secrets.randbelow(1_000_000):06d}"
    row = await phone_verifications.create(
        pool, user_id, phone, _code_hash(req, phone, code), telephony_settings.sms_code_ttl_s
    )
    try:
        await req.app[TELEPHONY].send_sms(
            phone,
            f"Your Call Me Back code is {code}. It expires in {telephony_settings.sms_code_ttl_s // 60} minutes.",
        )
    except ProviderError as exc:
        await phone_verifications.delete(pool, row["id"])
        raise ApiError(502, "sms_failed", str(exc)) from None
    log.info("verification code sent to %s", masked(phone))
    return web.json_response(
        {"phone": phone, "expires_at": row["expires_at"].isoformat(), "resend_after_s": wait}, status=202
    )


@routes.route(
    "POST",
    "/api/phone/verify/check",
    summary="Check the code and verify the number",
    tag="phone",
    body=CHECK_BODY,
    responses={
        200: ("Verified; the user now has this phone", USER),
        409: ("Number verified by another account", ERROR_SCHEMA),
        422: ("Wrong, expired or used-up code", ERROR_SCHEMA),
    },
)
async def check_code(req: ApiRequest) -> web.Response:
    telephony_settings, pool = req.app[SETTINGS].telephony, req.app[POOL]
    phone = normalise(req.body["phone"], telephony_settings.default_region)
    user_id = req.user["id"]
    pending = await phone_verifications.latest_pending(pool, user_id, phone)
    if pending is None:
        raise ApiError(422, "no_code", "no code was sent to this number; request one first", field="phone")
    if pending["expired"]:
        raise ApiError(422, "code_expired", "this code has expired; request a new one", field="code")
    attempts = await phone_verifications.count_attempt(pool, pending["id"], telephony_settings.sms_max_attempts)
    if attempts is None:
        raise ApiError(422, "too_many_attempts", "too many wrong codes; request a new one", field="code")
    if not hmac.compare_digest(pending["code_hash"], _code_hash(req, phone, req.body["code"])):
        left = telephony_settings.sms_max_attempts - attempts
        raise ApiError(422, "wrong_code", f"wrong code; {left} attempt(s) left", field="code")
    try:
        user = await phone_verifications.confirm(pool, pending["id"], user_id, phone)
    except phone_verifications.PhoneTaken:
        raise ApiError(409, "phone_taken", "this number is verified by another account", field="phone") from None
    log.info("phone %s verified", masked(phone))
    return web.json_response(user_json(user))
