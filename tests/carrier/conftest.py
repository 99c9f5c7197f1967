"""Fixtures for the carrier tests; the harness itself lives in harness.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from orchestrator.carrier import CARRIER_KEY, CarrierSettings, create_carrier_app

from .harness import AppSide, CarrierUnderTest, build_app_side, make_settings


@pytest.fixture
async def app_side() -> AsyncIterator[AppSide]:
    app, bind = build_app_side()
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    side = bind(server)
    try:
        yield side
    finally:
        await server.close()
    assert side.stream_errors == [], "a stream handler failed"


@pytest.fixture
def carrier_settings(tmp_path: Path) -> CarrierSettings:
    return make_settings(tmp_path)


@pytest.fixture
async def carrier(carrier_settings: CarrierSettings) -> AsyncIterator[CarrierUnderTest]:
    app = create_carrier_app(carrier_settings)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield CarrierUnderTest(app[CARRIER_KEY], str(server.make_url("")).rstrip("/"), server)
    finally:
        await server.close()
