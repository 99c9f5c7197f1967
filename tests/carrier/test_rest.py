"""The official twilio SDK against the carrier: the same code path the server uses in production."""

from __future__ import annotations

import asyncio
import re

import aiohttp
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient

from orchestrator.twilio_client import TWILIO_API_BASE, twilio_client

from .harness import ACCOUNT_SID, AUTH_TOKEN, CALLEE, OUR_NUMBER, AppSide, CarrierUnderTest

SID = re.compile(r"^CA[0-9a-f]{32}$")
HANGUP = "<Response><Pause length='30'/></Response>"


def test_twilio_client_points_the_api_domain_at_the_base_url() -> None:
    real = twilio_client(TWILIO_API_BASE, ACCOUNT_SID, AUTH_TOKEN)
    local = twilio_client("http://127.0.0.1:9/", ACCOUNT_SID, AUTH_TOKEN)
    assert real.api.base_url == "https://api.twilio.com"
    assert local.calls._uri.startswith(f"/Accounts/{ACCOUNT_SID}")
    assert local.api.v2010.absolute_url("Accounts/x.json") == "http://127.0.0.1:9/2010-04-01/Accounts/x.json"


async def test_sdk_creates_fetches_and_hangs_up_a_call(carrier: CarrierUnderTest, app_side: AppSide) -> None:
    app_side.twiml["/answer"] = HANGUP
    client = carrier.sdk()
    call = await asyncio.to_thread(
        client.calls.create,
        to=CALLEE,
        from_=OUR_NUMBER,
        url=app_side.url("/answer"),
        status_callback=app_side.url("/status"),
        status_callback_event=["initiated", "ringing", "answered", "completed"],
        timeout=5,
    )
    assert SID.match(call.sid)
    assert (call.status, call.to, call._from) == ("queued", CALLEE, OUR_NUMBER)
    assert call.direction == "outbound-api"
    assert call.date_created is not None and call.date_created.tzinfo is not None

    statuses = lambda: [h.params["CallStatus"] for h in app_side.on("/status")]  # noqa: E731
    await app_side.wait_for(lambda: "in-progress" in statuses())
    live = await asyncio.to_thread(client.calls(call.sid).fetch)
    assert live.status == "in-progress" and live.start_time is not None

    ended = await asyncio.to_thread(client.calls(call.sid).update, status="completed")
    assert ended.status == "completed"
    report = await carrier.carrier.wait_finished(call.sid, 5)
    assert report.status == "completed"
    fetched = await asyncio.to_thread(client.calls(call.sid).fetch)
    assert fetched.status == "completed" and fetched.duration is not None and fetched.end_time is not None


async def test_sdk_sends_a_message_into_the_outbox(carrier: CarrierUnderTest) -> None:
    sdk = carrier.sdk()
    message = await asyncio.to_thread(sdk.messages.create, to=CALLEE, from_=OUR_NUMBER, body="Call you at 6?")
    assert message.sid.startswith("SM") and message.status == "queued" and message.body == "Call you at 6?"
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{carrier.base_url}/_carrier/messages", params={"to": CALLEE}) as response,
    ):
        outbox = await response.json()
    assert [(m["sid"], m["body"], m["from"]) for m in outbox] == [(message.sid, "Call you at 6?", OUR_NUMBER)]
    assert carrier.carrier.messages(to="+15559999999") == []


async def test_async_http_client_works_too(carrier: CarrierUnderTest, app_side: AppSide) -> None:
    """The server's path: AsyncTwilioHttpClient and the *_async methods, on the carrier's own loop."""
    app_side.twiml["/answer"] = HANGUP
    http = AsyncTwilioHttpClient(timeout=10)
    try:
        client = twilio_client(carrier.base_url, ACCOUNT_SID, AUTH_TOKEN, http_client=http)
        call = await client.calls.create_async(
            to=CALLEE,
            from_=OUR_NUMBER,
            url=app_side.url("/answer"),
            status_callback=app_side.url("/status"),
            status_callback_event=["initiated", "ringing", "answered", "completed"],
            timeout=5,
            time_limit=60,
        )
        message = await client.messages.create_async(to=CALLEE, from_=OUR_NUMBER, body="hi")
        await app_side.wait_for(lambda: len(app_side.on("/answer")) == 1)
        fetched = await client.calls(call.sid).fetch_async()
        ended = await client.calls(call.sid).update_async(status="completed")
    finally:
        await http.close()
    assert fetched.sid == call.sid and fetched.status == "in-progress" and message.body == "hi"
    assert ended.status == "completed"
    assert (await carrier.carrier.wait_finished(call.sid, 5)).status == "completed"
    await app_side.wait_for(lambda: len(app_side.on("/status")) == 4)
    assert [h.params["CallStatus"] for h in app_side.on("/status")] == [
        "initiated",
        "ringing",
        "in-progress",
        "completed",
    ]


async def test_wrong_credentials_raise_401(carrier: CarrierUnderTest) -> None:
    client = carrier.sdk(auth_token="wrong-token")
    with pytest.raises(TwilioRestException) as caught:
        await asyncio.to_thread(client.messages.create, to=CALLEE, from_=OUR_NUMBER, body="x")
    assert (caught.value.status, caught.value.code) == (401, 20003)


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"to": "not-a-number", "from_": OUR_NUMBER, "url": "http://127.0.0.1/a"}, 21211),
        ({"to": CALLEE, "from_": "+15557770000", "url": "http://127.0.0.1/a"}, 21210),
        ({"to": CALLEE, "from_": OUR_NUMBER, "url": "ftp://x/a"}, 21205),
        ({"to": CALLEE, "from_": OUR_NUMBER}, 21205),
    ],
)
async def test_invalid_calls_are_refused_with_twilio_codes(
    carrier: CarrierUnderTest, kwargs: dict[str, str], code: int
) -> None:
    with pytest.raises(TwilioRestException) as caught:
        await asyncio.to_thread(carrier.sdk().calls.create, **kwargs)
    assert (caught.value.status, caught.value.code) == (400, code)


async def test_missing_to_and_unknown_call(carrier: CarrierUnderTest) -> None:
    auth = {"Authorization": aiohttp.encode_basic_auth(ACCOUNT_SID, AUTH_TOKEN)}
    url = f"{carrier.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
    async with aiohttp.ClientSession(headers=auth) as session:
        async with session.post(url, data={"From": OUR_NUMBER, "Url": "http://x/a"}) as response:
            body = await response.json()
        assert response.status == 400
        assert body["code"] == 21201 and set(body) == {"code", "message", "more_info", "status"}
    with pytest.raises(TwilioRestException) as caught:
        await asyncio.to_thread(carrier.sdk().calls("CA" + "0" * 32).fetch)
    assert (caught.value.status, caught.value.code) == (404, 20404)
