"""The telephony tests' server: see tests/phone_server.py (shared with the other suites that place calls)."""

from __future__ import annotations

import pytest

from tests.phone_server import LoopbackPort, PhoneServer, make_phone_server

__all__ = ["LoopbackPort", "PhoneServer", "make_phone_server"]


@pytest.fixture(scope="session")
async def phone_server(make_phone_server) -> PhoneServer:
    """The shared telephony server (scripted engines; per-user guards keep tests apart)."""
    return await make_phone_server()
