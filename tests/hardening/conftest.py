"""The telephony harness (a server wired to its local carrier), shared with tests/telephony."""

from tests.telephony.conftest import make_phone_server

__all__ = ["make_phone_server"]
