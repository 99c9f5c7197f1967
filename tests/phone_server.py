"""A real server wired to its in-process local carrier, with scripted engines, on a known loopback port.

Shared by the telephony, call, memory, schedule, hardening, fuzz and browser tests: a conftest imports
`make_phone_server` (a session fixture) from here.

The public base URL must be known before the app starts (webhook signatures cover it), so a free port
is picked first and the server is bound to it.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from twilio.request_validator import RequestValidator

from media.call import Engines
from orchestrator.app import create_app
from orchestrator.carrier import Carrier
from orchestrator.config import Settings
from orchestrator.keys import ENGINES
from orchestrator.telephony_setup import CARRIER
from tests.api.users import ApiUser, sign_up
from tests.scripted_engines import scripted_engines


class LoopbackPort:
    """A loopback port bound now and kept until the test server starts on it: probing for a free port and
    binding it later races every other socket on a busy machine (CI saw EADDRINUSE)."""

    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.number: int = self._socket.getsockname()[1]

    def server(self, app: web.Application) -> TestServer:
        return TestServer(app, host="127.0.0.1", socket_factory=lambda *_: self._socket)


@dataclass
class PhoneServer:
    client: TestClient
    settings: Settings
    engines: Engines

    @property
    def carrier(self) -> Carrier:
        return self.client.app[CARRIER]

    @property
    def base_url(self) -> str:
        return self.settings.base_url

    def sign(self, path: str, params: dict[str, str]) -> str:
        token = self.settings.carrier.auth_token.reveal()
        return RequestValidator(token).compute_signature(self.base_url + path, params)

    async def post_signed(self, path: str, params: dict[str, str], *, signature: str | None = None):
        headers = {"X-Twilio-Signature": self.sign(path, params) if signature is None else signature}
        return await self.client.post(path, data=params, headers=headers)

    async def verified_user(self, phone: str = "+14155550123") -> ApiUser:
        user = await sign_up(self.client, name="Jordan")
        response = await user.request("POST", "/api/phone/verify", json={"phone": phone})
        assert response.status == 202, await response.text()
        code = self.carrier.messages(to=phone)[-1].body.split("code is ")[1][:6]
        response = await user.request("POST", "/api/phone/verify/check", json={"phone": phone, "code": code})
        assert response.status == 200, await response.text()
        user.user = await response.json()
        return user


@pytest.fixture(scope="session")
async def make_phone_server(
    make_database, make_settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Callable[..., Awaitable[PhoneServer]]]:
    servers: list[TestClient] = []

    async def make(
        engines: Engines | Literal["configured"] | None = None,
        tune: Callable[[Settings], Settings] = lambda s: s,
    ) -> PhoneServer:
        """`engines`: given ones, "configured" (what config.toml [engines] names, e.g. the real Whisper, Piper
        and local model), else scripted ones."""
        port = LoopbackPort()
        settings = make_settings(await make_database(), PUBLIC_BASE_URL=f"http://127.0.0.1:{port.number}")
        recordings: Path = tmp_path_factory.mktemp("recordings")
        settings = replace(
            settings,
            auth=replace(settings.auth, login_attempts_per_address=100_000, registrations_per_address=100_000),
            carrier=replace(
                settings.carrier,
                answer_delay_s=0.2,
                progress_step_s=0.05,
                calls_per_second=0.0,
                recordings_dir=str(recordings),
            ),
        )
        settings = tune(settings)
        engines = engines or scripted_engines()[0]
        app = create_app(settings, engines=None if engines == "configured" else engines)
        client = TestClient(port.server(app))
        await client.start_server()
        servers.append(client)
        return PhoneServer(client, settings, app[ENGINES])

    yield make
    for client in servers:
        await client.close()
