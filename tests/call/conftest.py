"""The conversation tests run on the telephony harness: a real server and its in-process local carrier."""

from tests.telephony.conftest import make_phone_server

__all__ = ["make_phone_server"]
