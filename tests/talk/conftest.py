"""The talk and softphone tests' server: tests/phone_server.py (the app with scripted engines and its local
carrier), one for this folder; tests queue the transcripts and replies they need on its scripted engines."""

from __future__ import annotations

import pytest

from tests.phone_server import PhoneServer, make_phone_server
from tests.scripted_engines import scripted_engines

__all__ = ["make_phone_server"]


@pytest.fixture(scope="package")
async def talk_server(make_phone_server) -> PhoneServer:
    return await make_phone_server(engines=scripted_engines()[0])
