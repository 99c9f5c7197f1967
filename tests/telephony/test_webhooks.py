"""Webhook signatures and status callbacks: forged or unsigned requests change nothing."""

from __future__ import annotations

import asyncio
import random
import uuid

from db import calls as call_queries
from orchestrator.keys import POOL

SID = "CA" + "0" * 31 + "1"


async def _new_call(server, user_id) -> uuid.UUID:
    pool = server.client.app[POOL]
    row = await call_queries.insert_call(
        pool, user_id=uuid.UUID(user_id), persona_id="brad", direction="outbound", to_number="+14155550123"
    )
    return row["id"]


def _status(call_sid: str, status: str, seq: int, **extra: str) -> dict[str, str]:
    return {
        "CallSid": call_sid,
        "AccountSid": "AC" + "1" * 32,
        "CallStatus": status,
        "SequenceNumber": str(seq),
        "Direction": "outbound-api",
        "CallbackSource": "call-progress-events",
        "Timestamp": f"Wed, 25 Nov 2026 22:00:0{min(seq, 9)} +0000",
        **extra,
    }


async def _state(server, call_id: uuid.UUID):
    pool = server.client.app[POOL]
    call = await pool.fetchrow("SELECT status, ended_at, duration_s, end_reason FROM calls WHERE id = $1", call_id)
    events = await pool.fetchval("SELECT count(*) FROM call_events WHERE call_id = $1", call_id)
    return call, events


async def test_forged_unsigned_and_tampered_webhooks_are_403(phone_server) -> None:
    user = await phone_server.verified_user("+14155550111")
    call_id = await _new_call(phone_server, user.user["id"])
    path = f"/twilio/status?call={call_id}"
    params = _status(SID, "completed", 5, CallDuration="30")
    before = await _state(phone_server, call_id)
    cases = {
        "unsigned": await phone_server.client.post(path, data=params),
        "forged": await phone_server.post_signed(path, params, signature="bm90IGEgc2lnbmF0dXJl"),
        "other key": await phone_server.client.post(
            path,
            data=params,
            headers={"X-Twilio-Signature": _sign_with("another-token", phone_server, path, params)},
        ),
        "replayed with changed params": await phone_server.client.post(
            path,
            data={**params, "CallDuration": "9999"},
            headers={"X-Twilio-Signature": phone_server.sign(path, params)},
        ),
        "signed for another call": await phone_server.client.post(
            f"/twilio/status?call={uuid.uuid4()}",
            data=params,
            headers={"X-Twilio-Signature": phone_server.sign(path, params)},
        ),
    }
    for label, response in cases.items():
        assert response.status == 403, label
        assert (await response.json())["error"]["code"] == "invalid_signature", label
    voice = await phone_server.client.post(f"/twilio/voice?call={call_id}", data={"CallSid": SID})
    assert voice.status == 403
    assert await _state(phone_server, call_id) == before
    tokens = await phone_server.client.app[POOL].fetchval(
        "SELECT count(*) FROM stream_tokens WHERE call_id = $1", call_id
    )
    assert tokens == 0
    # The genuine request goes through.
    response = await phone_server.post_signed(path, params)
    assert response.status == 204
    call, events = await _state(phone_server, call_id)
    assert call["status"] == "completed" and call["duration_s"] == 30 and events == 1


def _sign_with(token: str, server, path: str, params: dict[str, str]) -> str:
    from twilio.request_validator import RequestValidator

    return RequestValidator(token).compute_signature(server.base_url + path, params)


async def test_malformed_webhook_forms_are_4xx(phone_server) -> None:
    path = "/twilio/status"
    bad = [
        ({"CallSid": "nope", "CallStatus": "ringing"}, 400),
        ({"CallSid": SID, "CallStatus": "exploded"}, 400),
        ({"CallSid": SID, "CallStatus": "ringing", "SequenceNumber": "-1"}, 400),
        ({"CallStatus": "ringing"}, 400),
    ]
    for params, status in bad:
        response = await phone_server.post_signed(path, params)
        assert response.status == status, params
    response = await phone_server.client.post(
        path, data=b'{"json": true}', headers={"Content-Type": "application/json"}
    )
    assert response.status == 415
    response = await phone_server.client.post(
        path, data=b"x=" + b"a" * 100_000, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status == 413


FULL_ORDER = ["initiated", "ringing", "in-progress", "completed"]


async def test_status_chaos_always_reaches_the_right_final_state(phone_server) -> None:
    """1,000 calls, each fed its callbacks in a random order with random duplicates."""
    user = await phone_server.verified_user("+14155550112")
    rng = random.Random(20261125)
    finals = ["completed", "busy", "no-answer", "failed", "canceled"]
    expectations = []
    for index in range(1000):
        call_id = await _new_call(phone_server, user.user["id"])
        final = rng.choice(finals)
        steps = (FULL_ORDER[:3] if final == "completed" else FULL_ORDER[:2]) + [final]
        sid = "CA" + f"{0xC4A05 * 10**6 + index:032x}"
        events = [(status, seq) for seq, status in enumerate(steps)]
        deliveries = events + [rng.choice(events) for _ in range(rng.randint(0, 4))]
        rng.shuffle(deliveries)
        expectations.append((call_id, sid, final, len(events), deliveries))

    async def deliver(call_id, sid, final, deliveries) -> None:
        for status, seq in deliveries:
            extra = {"CallDuration": "42"} if status in finals else {}
            response = await phone_server.post_signed(
                f"/twilio/status?call={call_id}", _status(sid, status, seq, **extra)
            )
            assert response.status == 204

    for start in range(0, 1000, 50):
        await asyncio.gather(*(deliver(c, s, f, d) for c, s, f, _, d in expectations[start : start + 50]))
    pool = phone_server.client.app[POOL]
    rows = await pool.fetch(
        """SELECT c.id, c.status, c.end_reason, c.duration_s, c.ended_at IS NOT NULL AS ended,
                  c.provider_call_id, (SELECT count(*) FROM call_events e WHERE e.call_id = c.id) AS events
           FROM calls c WHERE c.id = any($1::uuid[])""",
        [e[0] for e in expectations],
    )
    by_id = {row["id"]: row for row in rows}
    for call_id, sid, final, event_count, _ in expectations:
        row = by_id[call_id]
        assert row["status"] == final and row["end_reason"] == final and row["ended"], row
        assert row["duration_s"] == 42 and row["provider_call_id"] == sid
        assert row["events"] == event_count  # every callback stored once, duplicates dropped
