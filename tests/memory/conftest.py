"""Memory tests: a telephony server with scripted engines (calls through the local carrier), plus the
real embedded model and Piper, each loaded once per session, for extraction and the voice sample."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from pathlib import Path

from orchestrator.carrier import HangUp, PlayWav, Scenario, Wait
from orchestrator.config import Settings
from orchestrator.keys import POOL, RECORDER
from tests.engines.conftest import local_llm_server, local_model, piper_8k  # noqa: F401 (session fixtures)
from tests.telephony.conftest import PhoneServer, make_phone_server  # noqa: F401 (session fixture)
from tests.telephony.test_outbound_call import wait_for_call_end

FIXTURES = Path(__file__).resolve().parent.parent / "media" / "fixtures"
SAID = FIXTURES / "call_me_back.wav"


def quick_memory(settings: Settings) -> Settings:
    """Jobs due as soon as the call ends; retries after one second."""
    return replace(settings, memory=replace(settings.memory, start_delay_s=0.0, backoff_s=1.0, max_attempts=3))


def talk(utterances: int) -> Scenario:
    """The phone answers, lets the greeting play, says `utterances` things, then hangs up."""
    script: list[object] = [Wait(3.0)]
    for _ in range(utterances):
        script += [PlayWav(SAID), Wait(3.0)]
    return Scenario(ring_s=0.2, script=(*script, HangUp()))


async def place_call(server: PhoneServer, user, phone: str, scenario: Scenario, context: str = "") -> dict:
    server.carrier.set_scenario(phone, scenario)
    response = await user.request("POST", "/api/calls", json={"persona_id": "brad", "context": context})
    assert response.status == 202, await response.text()
    call = await wait_for_call_end(server, user, (await response.json())["id"])
    await server.client.app[RECORDER].flush()
    return call


async def job_of(server: PhoneServer, call_id: str) -> dict:
    """The call's memory job, once the media stream's end has enqueued it."""
    async with asyncio.timeout(20):
        while True:
            row = await server.client.app[POOL].fetchrow(
                "SELECT * FROM memory_jobs WHERE call_id = $1", uuid.UUID(call_id)
            )
            if row is not None:
                return dict(row)
            await asyncio.sleep(0.05)
