"""The fuzz tests run against the telephony harness: a real server with its local carrier."""

from tests.telephony.conftest import make_phone_server, phone_server

__all__ = ["make_phone_server", "phone_server"]
