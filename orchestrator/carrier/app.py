"""The carrier as an aiohttp application, and ways to run it (standalone or inside the server).

`create_carrier_app()` wires the REST API and the control API around one Carrier held in a cleanup
context: the carrier starts with the app and every call task is cancelled and awaited at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web

from .carrier import CARRIER_KEY, Carrier
from .control import setup_control
from .flow import TextToSpeech
from .rest import setup_rest
from .settings import CarrierSettings

log = logging.getLogger(__name__)


def create_carrier_app(settings: CarrierSettings, *, text_to_speech: TextToSpeech | None = None) -> web.Application:
    """An app serving Twilio's REST API and `/_carrier/...`; `app[CARRIER_KEY]` is its Carrier."""
    app = web.Application()
    carrier = Carrier(settings, text_to_speech=text_to_speech)
    app[CARRIER_KEY] = carrier

    async def carrier_lifetime(_: web.Application) -> AsyncIterator[None]:
        await carrier.start()
        yield
        await carrier.aclose()

    app.cleanup_ctx.append(carrier_lifetime)
    setup_rest(app)
    setup_control(app)
    return app


@dataclass(frozen=True)
class RunningCarrier:
    carrier: Carrier
    base_url: str  # give this to twilio_client() as api_base


@asynccontextmanager
async def running_carrier(
    settings: CarrierSettings, *, port: int | None = None, text_to_speech: TextToSpeech | None = None
) -> AsyncIterator[RunningCarrier]:
    """Serve the carrier on `settings.host` (port: `port`, else settings.port; 0 = any free one).

    The server uses this when no Twilio credentials are configured. Note the SDK is synchronous:
    call it through `asyncio.to_thread` (or give it an async http client), never on the event loop
    that also serves this carrier.
    """
    app = create_carrier_app(settings, text_to_speech=text_to_speech)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.port if port is None else port)
        await site.start()
        bound_port = runner.addresses[0][1]
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        yield RunningCarrier(app[CARRIER_KEY], f"http://{host}:{bound_port}")
    finally:
        await runner.cleanup()


async def serve(settings: CarrierSettings) -> None:
    """Run the carrier until cancelled (`callmeback carrier`)."""
    async with running_carrier(settings) as running:
        log.info("local carrier for %s listening on %s", settings.account_sid, running.base_url)
        await asyncio.Event().wait()
