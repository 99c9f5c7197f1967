"""Webhook forms that are not one flat UTF-8 urlencoded form: refused with 4xx, never 5xx."""

from __future__ import annotations

import aiohttp

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
SID = "CA" + "0" * 32


async def test_repeated_non_utf8_and_multipart_forms_are_4xx(phone_server) -> None:
    client, path = phone_server.client, "/twilio/status"
    repeated = f"CallSid={SID}&CallSid={SID}&CallStatus=ringing".encode()
    signature = phone_server.sign(path, {"CallSid": SID, "CallStatus": "ringing"})
    response = await client.post(path, data=repeated, headers={**FORM, "X-Twilio-Signature": signature})
    assert response.status == 400, await response.text()
    for body in (b"CallSid=\xff\xfe&CallStatus=ringing", b"%ff%fe=1&CallStatus=\xc3(", b"\x00\x01\x02"):
        response = await client.post(path, data=body, headers=FORM)
        assert 400 <= response.status < 500, (body, response.status)
    multipart = aiohttp.FormData({"CallSid": SID, "CallStatus": "ringing"})
    multipart.add_field("file", b"\x00" * 10, filename="x.bin")
    response = await client.post(path, data=multipart)
    assert response.status == 415, await response.text()
    response = await client.post("/twilio/voice", data=b"CallSid=" + b"%41" * 60_000, headers=FORM)
    assert 400 <= response.status < 500
    assert (await client.get("/healthz")).status == 200
