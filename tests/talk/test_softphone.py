"""The browser softphone through real sockets: the page (aiohttp's websocket client) attaches to the local
carrier's line for its verified number, "call me now" rings it, answering bridges its audio both ways into
the same phone path a real call takes (carrier media stream -> Call), and the call is recorded as usual."""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import replace
from typing import Any

import aiohttp

from orchestrator.config import Secret
from tests.api.users import sign_up
from tests.phone_server import PhoneServer
from tests.talk.test_talk import RATE, FakePage, scripted, speech_16k
from tests.telephony.test_outbound_call import wait_for_call_end


class Softphone(FakePage):
    """The softphone page: counts audio heard, keeps control messages."""

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [n for n in self.notes if n["type"] == kind]


async def attach(server: PhoneServer, user) -> tuple[Softphone, asyncio.Task]:
    status = await (await user.request("GET", "/api/softphone")).json()
    assert status == {"available": True, "number": user.user["phone"]}
    response = await user.request("POST", "/api/softphone/ticket")
    assert response.status == 201, await response.text()
    ws = await server.client.ws_connect((await response.json())["ws_path"])
    phone = Softphone(ws)
    task = asyncio.create_task(phone.run())
    await phone.wait_for(lambda: bool(phone.of_type("ready")))
    return phone, task


def a_number() -> str:
    return f"+1415555{random.randrange(10**4):04d}"


async def test_call_me_now_rings_the_softphone_and_bridges_audio_both_ways(talk_server) -> None:
    stt, llm = scripted(talk_server)
    stt.transcripts.extend(["I am answering from the browser."])
    llm.replies.extend([["Great, let us get going then."]])  # Brad greets in his own fixed words
    user = await talk_server.verified_user(a_number())
    phone, reader = await attach(talk_server, user)
    response = await user.request("POST", "/api/calls", json={"persona_id": "brad"})
    assert response.status == 202, await response.text()
    call_id = (await response.json())["id"]

    await phone.wait_for(lambda: bool(phone.of_type("ringing")))
    ringing = phone.of_type("ringing")[0]
    assert ringing["persona"] == "Brad" and ringing["from"] == talk_server.settings.carrier.from_number
    assert phone.audio_bytes == 0
    await phone.ws.send_str(json.dumps({"type": "answer"}))
    await phone.wait_for(lambda: bool(phone.of_type("answered")))
    await phone.wait_for(lambda: phone.audio_bytes > RATE * 2 * 2.4, timeout_s=20)  # Brad's 2.5 s greeting, at 16 kHz
    await phone.say(speech_16k())  # the browser's microphone becomes the phone's mouth
    await phone.wait_for(
        lambda: llm.requests and any(m.get("content") == "I am answering from the browser." for m in llm.requests[-1]),
        timeout_s=20,
    )
    await phone.ws.send_str(json.dumps({"type": "hangup"}))
    await phone.wait_for(lambda: bool(phone.of_type("ended")))
    assert phone.of_type("ended")[0]["status"] == "completed"

    call = await wait_for_call_end(talk_server, user, call_id)
    assert call["status"] == "completed" and call["direction"] == "outbound"
    said = [(turn["role"], turn["text"]) for turn in call["transcript"]]
    assert said[:2] == [
        ("persona", "Hey Jordan, it's Brad! Ready to get after it today?"),
        ("caller", "I am answering from the browser."),
    ], said
    await phone.ws.close()
    await reader
    async with asyncio.timeout(5):  # detached once the server sees the page go away
        while True:
            if user.user["phone"] not in talk_server.carrier.lines():
                break
            await asyncio.sleep(0.05)


async def test_declining_is_busy_and_the_line_rings_again(talk_server) -> None:
    user = await talk_server.verified_user(a_number())
    phone, reader = await attach(talk_server, user)
    response = await user.request("POST", "/api/calls", json={"persona_id": "sarah"})
    call_id = (await response.json())["id"]
    await phone.wait_for(lambda: bool(phone.of_type("ringing")))
    await phone.ws.send_str(json.dumps({"type": "decline"}))
    await phone.wait_for(lambda: bool(phone.of_type("ended")))
    assert phone.of_type("ended")[0]["status"] == "busy"
    call = await wait_for_call_end(talk_server, user, call_id)
    assert call["status"] == "busy" and not call["transcript"]
    await phone.ws.close()
    await reader


async def test_softphone_tickets_are_single_use_and_need_a_verified_phone(talk_server) -> None:
    unverified = await sign_up(talk_server.client, name="Kim")
    status = await (await unverified.request("GET", "/api/softphone")).json()
    assert status["available"] is False and "verify" in status["reason"]
    refused = await unverified.request("POST", "/api/softphone/ticket")
    assert refused.status == 403 and (await refused.json())["error"]["code"] == "phone_not_verified"

    user = await talk_server.verified_user(a_number())
    path = (await (await user.request("POST", "/api/softphone/ticket")).json())["ws_path"]
    plain = await talk_server.client.get(path)
    assert plain.status == 400
    ws = await talk_server.client.ws_connect(path)
    for bad in (path, "/api/softphone/ws", "/api/softphone/ws?ticket=forged"):
        try:
            await talk_server.client.ws_connect(bad)
        except aiohttp.WSServerHandshakeError as error:
            assert error.status == 403, bad
        else:
            raise AssertionError(f"{bad} was accepted")
    await ws.close()


async def test_hanging_up_from_the_server_side_ends_the_softphone_call(talk_server) -> None:
    user = await talk_server.verified_user(a_number())
    phone, reader = await attach(talk_server, user)
    call_id = (await (await user.request("POST", "/api/calls", json={"persona_id": "alex"})).json())["id"]
    await phone.wait_for(lambda: bool(phone.of_type("ringing")))
    await phone.ws.send_str(json.dumps({"type": "answer"}))
    await phone.wait_for(lambda: phone.audio_bytes > 0, timeout_s=20)
    hangup = await user.request("POST", f"/api/calls/{call_id}/hangup")
    assert hangup.status == 202, await hangup.text()
    await phone.wait_for(lambda: bool(phone.of_type("ended")))
    assert phone.of_type("ended")[0]["status"] == "completed"
    assert (await wait_for_call_end(talk_server, user, call_id))["status"] == "completed"
    await phone.ws.close()
    await reader


async def test_a_softphone_sending_garbage_is_closed_and_detached(talk_server) -> None:
    user = await talk_server.verified_user(a_number())
    phone, reader = await attach(talk_server, user)
    await phone.ws.send_bytes(b"\x00\x01\x02")  # odd length: counted, not fatal
    await phone.ws.send_str(json.dumps({"type": "answer"}))  # nothing ringing: ignored
    assert not phone.ws.closed
    for _ in range(60):  # over [call] max_stream_violations (50)
        await phone.ws.send_str("{not json")
    await reader
    assert phone.close_code == aiohttp.WSCloseCode.POLICY_VIOLATION
    async with asyncio.timeout(5):
        while True:
            if user.user["phone"] not in talk_server.carrier.lines():
                break
            await asyncio.sleep(0.05)


async def test_the_newest_softphone_tab_is_the_one_that_rings(talk_server) -> None:
    user = await talk_server.verified_user(a_number())
    old, old_reader = await attach(talk_server, user)
    new, new_reader = await attach(talk_server, user)
    await old_reader
    assert old.of_type("replaced") and old.close_code == 4000
    call_id = (await (await user.request("POST", "/api/calls", json={"persona_id": "sarah"})).json())["id"]
    await new.wait_for(lambda: bool(new.of_type("ringing")))
    await new.ws.send_str(json.dumps({"type": "decline"}))
    assert (await wait_for_call_end(talk_server, user, call_id))["status"] == "busy"
    await new.ws.close()
    await new_reader


async def test_with_twilio_configured_the_softphone_says_it_is_unavailable(make_client) -> None:
    def twilio(settings):
        account = "AC" + "0" * 32
        telephony = replace(settings.twilio, account_sid=account, auth_token=Secret("0" * 32))
        return replace(settings, twilio=telephony)

    client = await make_client(twilio)
    user = await sign_up(client, name="Kim")
    status = await (await user.request("GET", "/api/softphone")).json()
    assert status["available"] is False and "Twilio" in status["reason"]
    refused = await user.request("POST", "/api/softphone/ticket")
    assert refused.status == 409 and (await refused.json())["error"]["code"] == "softphone_unavailable"
    texts = await user.request("GET", "/api/softphone/texts?phone=%2B14155550123")
    assert texts.status == 409 and (await texts.json())["error"]["code"] == "softphone_unavailable"
    try:
        await client.ws_connect("/api/softphone/ws?ticket=anything")
    except aiohttp.WSServerHandshakeError as error:
        assert error.status == 409
    else:
        raise AssertionError("the softphone websocket opened under Twilio")


async def test_the_local_carriers_texts_show_the_verification_code_to_its_account_only(talk_server) -> None:
    """No real phone receives the SMS with the local carrier: the page reads what it delivered."""
    user = await sign_up(talk_server.client, name="Lee")
    other = await sign_up(talk_server.client, name="Max")
    phone = "+14155550188"
    assert (await user.request("POST", "/api/phone/verify", json={"phone": phone})).status == 202
    response = await user.request("GET", "/api/softphone/texts?phone=(415)%20555-0188")  # as a person types it
    assert response.status == 200, await response.text()
    texts = (await response.json())["texts"]
    assert [text["body"] for text in texts] == [talk_server.carrier.messages(to=phone)[-1].body]
    code = texts[0]["body"].split("code is ")[1][:6]
    # Another account cannot read this number's codes; a malformed number is a 400.
    refused = await other.request("GET", "/api/softphone/texts?phone=%2B14155550188")
    assert refused.status == 404 and (await refused.json())["error"]["field"] == "phone"
    assert (await user.request("GET", "/api/softphone/texts?phone=not-a-number")).status == 400
    assert (await user.request("GET", "/api/softphone/texts")).status == 400
    checked = await user.request("POST", "/api/phone/verify/check", json={"phone": phone, "code": code})
    assert checked.status == 200, await checked.text()
    still = await user.request("GET", "/api/softphone/texts?phone=%2B14155550188")  # my verified number
    assert still.status == 200 and len((await still.json())["texts"]) == 1
