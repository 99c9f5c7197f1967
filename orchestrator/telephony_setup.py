"""Which telephony the server talks to: Twilio when credentials are set, else the built-in local carrier.

Both go through the same `Telephony` (the official SDK); only the API base and credentials differ. The
local carrier runs inside this process on loopback and owns the configured from-number, whose inbound
calls reach this server's answer webhook.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from orchestrator.carrier import Carrier, CarrierNumber, CarrierSettings, running_carrier
from orchestrator.config import Settings
from orchestrator.keys import SETTINGS, TELEPHONY
from orchestrator.telephony import Telephony

log = logging.getLogger(__name__)

CARRIER = web.AppKey("carrier", Carrier)


def carrier_settings(settings: Settings) -> CarrierSettings:
    section = settings.carrier
    return CarrierSettings(
        account_sid=section.account_sid,
        auth_token=section.auth_token.reveal(),
        host=section.host,
        port=section.port,
        numbers=(
            CarrierNumber(
                number=section.from_number,
                voice_url=f"{settings.base_url}/twilio/voice",
                voice_method="POST",
                status_callback=f"{settings.base_url}/twilio/status",
            ),
        ),
        recordings_dir=Path(section.recordings_dir) if section.recordings_dir else None,
        allow_insecure_ws=section.allow_insecure_ws,
        answer_delay_s=section.answer_delay_s,
        progress_step_s=section.progress_step_s,
        calls_per_second=section.calls_per_second,
        say_words_per_minute=section.say_words_per_minute,
        webhook_timeout_s=section.webhook_timeout_s,
    )


async def telephony(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    twilio = settings.twilio
    if twilio.account_sid and twilio.auth_token is not None:
        client = Telephony(twilio.api_base, twilio.account_sid, twilio.auth_token, twilio.from_number)
        app[TELEPHONY] = client
        log.info("telephony: Twilio at %s", twilio.api_base)
        try:
            yield
        finally:
            await client.aclose()
        return
    local = carrier_settings(settings)
    async with running_carrier(local) as running:
        client = Telephony(
            running.base_url, local.account_sid, settings.carrier.auth_token, settings.carrier.from_number
        )
        app[TELEPHONY] = client
        app[CARRIER] = running.carrier
        log.info("telephony: local carrier at %s (no Twilio credentials set)", running.base_url)
        try:
            yield
        finally:
            await client.aclose()
