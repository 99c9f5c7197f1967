"""Phone verification by SMS: codes go out through the carrier's Messages API and are checked, throttled and guarded."""

from __future__ import annotations

import re

from orchestrator.keys import POOL
from tests.api.users import sign_up


def _sent_code(server, phone: str) -> str:
    body = server.carrier.messages(to=phone)[-1].body
    match = re.search(r"code is (\d{6})", body)
    assert match, body
    return match.group(1)


async def _send(user, phone: str):
    return await user.request("POST", "/api/phone/verify", json={"phone": phone})


async def _check(user, phone: str, code: str):
    return await user.request("POST", "/api/phone/verify/check", json={"phone": phone, "code": code})


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def test_code_sent_by_sms_stored_hashed_and_verifies(phone_server) -> None:
    phone = "+14155550201"
    user = await sign_up(phone_server.client, name="Ana")
    response = await _send(user, phone)
    assert response.status == 202, await response.text()
    sent = await response.json()
    assert sent["phone"] == phone and sent["resend_after_s"] == 60
    message = phone_server.carrier.messages(to=phone)[-1]
    assert message.from_ == phone_server.settings.carrier.from_number
    code = _sent_code(phone_server, phone)

    rows = await phone_server.client.app[POOL].fetch(
        "SELECT code_hash, phone_verifications::text AS whole FROM phone_verifications WHERE phone = $1", phone
    )
    assert len(rows) == 1
    assert code not in rows[0]["whole"] and len(rows[0]["code_hash"]) == 64

    response = await _check(user, phone, _wrong(code))
    assert response.status == 422
    error = (await response.json())["error"]
    assert error["code"] == "wrong_code" and "4 attempt(s) left" in error["message"]

    response = await _check(user, phone, code)
    assert response.status == 200, await response.text()
    verified = await response.json()
    assert verified["phone"] == phone and verified["phone_verified_at"] is not None
    # A used code cannot be replayed.
    response = await _check(user, phone, code)
    assert response.status == 422 and (await response.json())["error"]["code"] == "no_code"


async def test_five_wrong_codes_lock_out_even_the_right_one(phone_server) -> None:
    phone = "+14155550202"
    user = await sign_up(phone_server.client)
    assert (await _send(user, phone)).status == 202
    code = _sent_code(phone_server, phone)
    lefts = []
    for _ in range(5):
        response = await _check(user, phone, _wrong(code))
        assert response.status == 422
        error = (await response.json())["error"]
        assert error["code"] == "wrong_code"
        lefts.append(int(re.search(r"(\d+) attempt", error["message"]).group(1)))
    assert lefts == [4, 3, 2, 1, 0]
    response = await _check(user, phone, code)
    assert response.status == 422 and (await response.json())["error"]["code"] == "too_many_attempts"
    me = await (await user.request("GET", "/api/me")).json()
    assert me.get("phone_verified_at") is None


async def test_expired_code_is_refused(phone_server) -> None:
    phone = "+14155550203"
    user = await sign_up(phone_server.client)
    assert (await _send(user, phone)).status == 202
    code = _sent_code(phone_server, phone)
    await phone_server.client.app[POOL].execute(
        "UPDATE phone_verifications SET expires_at = now() - interval '1 second' WHERE phone = $1", phone
    )
    response = await _check(user, phone, code)
    assert response.status == 422 and (await response.json())["error"]["code"] == "code_expired"


async def test_resend_is_throttled_with_retry_after(phone_server) -> None:
    phone = "+14155550204"
    user = await sign_up(phone_server.client)
    assert (await _send(user, phone)).status == 202
    first = _sent_code(phone_server, phone)
    response = await _send(user, phone)
    assert response.status == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 61
    assert (await response.json())["error"]["code"] == "rate_limited"
    assert len(phone_server.carrier.messages(to=phone)) == 1
    # Once the interval has passed a new code goes out and replaces the old one.
    await phone_server.client.app[POOL].execute(
        "UPDATE phone_verifications SET sent_at = sent_at - interval '2 minutes' WHERE phone = $1", phone
    )
    assert (await _send(user, phone)).status == 202
    second = _sent_code(phone_server, phone)
    if second != first:
        response = await _check(user, phone, first)
        assert response.status == 422
    assert (await _check(user, phone, second)).status == 200


async def test_number_of_another_account_cannot_be_claimed(phone_server) -> None:
    phone = "+14155550205"
    owner = await phone_server.verified_user(phone)
    assert owner.user["phone"] == phone
    other = await sign_up(phone_server.client)
    response = await _send(other, phone)
    assert response.status == 409 and (await response.json())["error"]["code"] == "phone_taken"
    assert len(phone_server.carrier.messages(to=phone)) == 1  # only the owner's code went out
    # Even with a code sent before the owner verified, the claim fails at check time.
    phone2 = "+14155550206"
    late = await sign_up(phone_server.client)
    assert (await _send(late, phone2)).status == 202
    late_code = _sent_code(phone_server, phone2)
    await phone_server.verified_user(phone2)
    response = await _check(late, phone2, late_code)
    assert response.status == 409 and (await response.json())["error"]["code"] == "phone_taken"


async def test_invalid_foreign_and_premium_numbers_are_refused(phone_server) -> None:
    user = await sign_up(phone_server.client)
    before = len(phone_server.carrier.messages())
    for raw in ("123", "not a number", "+1415555"):
        response = await _send(user, raw)
        assert response.status == 400, raw
        assert (await response.json())["error"]["code"] == "invalid_phone"
    response = await _send(user, "+8613800138000")  # China is not an allowed country
    assert response.status == 403 and (await response.json())["error"]["code"] == "country_not_allowed"
    response = await _send(user, "+19002345678")  # US 900: premium rate
    assert response.status == 403 and (await response.json())["error"]["code"] == "number_not_allowed"
    assert len(phone_server.carrier.messages()) == before


async def test_national_format_uses_the_default_region(phone_server) -> None:
    user = await sign_up(phone_server.client)
    response = await _send(user, "(415) 555-0207")
    assert response.status == 202
    assert (await response.json())["phone"] == "+14155550207"
    code = _sent_code(phone_server, "+14155550207")
    response = await _check(user, "415-555-0207", code)
    assert response.status == 200
    assert (await response.json())["phone"] == "+14155550207"
