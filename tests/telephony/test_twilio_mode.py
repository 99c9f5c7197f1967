"""Production wiring by configuration alone: TWILIO_* pointing at a separately running carrier.

With credentials set the server builds the same Telephony (official SDK, async HTTP client) it uses
against api.twilio.com; only TWILIO_API_BASE differs. The carrier here runs on its own port, exactly
as `callmeback carrier` does.
"""

from __future__ import annotations

from dataclasses import replace

from orchestrator.carrier import HangUp, Scenario, Wait, running_carrier
from orchestrator.keys import ENGINES, TELEPHONY
from orchestrator.telephony_setup import CARRIER, carrier_settings
from tests.telephony.conftest import LoopbackPort, PhoneServer
from tests.telephony.test_outbound_call import wait_for_call_end


async def test_twilio_credentials_switch_to_the_configured_api(make_database, make_settings) -> None:
    from aiohttp.test_utils import TestClient

    from orchestrator.app import create_app
    from tests.scripted_engines import scripted_engines

    port = LoopbackPort()
    base = make_settings(await make_database(), PUBLIC_BASE_URL=f"http://127.0.0.1:{port.number}")
    local = replace(carrier_settings(base), answer_delay_s=0.2, progress_step_s=0.05, calls_per_second=0.0)
    async with running_carrier(local) as carrier:
        settings = make_settings(
            base.database.url,
            PUBLIC_BASE_URL=f"http://127.0.0.1:{port.number}",
            TWILIO_ACCOUNT_SID=local.account_sid,
            TWILIO_AUTH_TOKEN=local.auth_token,
            TWILIO_FROM_NUMBER=base.carrier.from_number,
            TWILIO_API_BASE=carrier.base_url,
        )
        app = create_app(settings, engines=scripted_engines()[0])
        client = TestClient(port.server(app))
        await client.start_server()
        try:
            assert CARRIER not in app  # no in-process carrier: the configured API is used
            assert app[TELEPHONY].from_number == base.carrier.from_number
            server = PhoneServer(client, settings, app[ENGINES])
            user = await _verified(client, carrier.carrier)
            carrier.carrier.set_scenario("+14155550151", Scenario(ring_s=0.1, script=(Wait(4.0), HangUp())))
            response = await user.request("POST", "/api/calls", json={"persona_id": "alex"})
            assert response.status == 202
            call = await wait_for_call_end(server, user, (await response.json())["id"])
            assert call["status"] == "completed"
            greeting = call["transcript"][0]  # Alex's own, to a user who gave no name
            assert greeting["text"] == "Hey there, Alex here! Got a minute to dream up something big?"
            assert greeting["heard_text"] == greeting["text"]
        finally:
            await client.close()


async def _verified(client, carrier):
    from tests.api.users import sign_up

    user = await sign_up(client)
    response = await user.request("POST", "/api/phone/verify", json={"phone": "+14155550151"})
    assert response.status == 202
    code = carrier.messages(to="+14155550151")[-1].body.split("code is ")[1][:6]
    response = await user.request("POST", "/api/phone/verify/check", json={"phone": "+14155550151", "code": code})
    assert response.status == 200
    return user
