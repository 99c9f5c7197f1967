"""Errors of the local carrier.

    CarrierError                 base; `code` is the Twilio error code the real service would log
    ├── RestError                a REST request Twilio would refuse; rendered as Twilio's error JSON
    ├── TwimlError               a TwiML document Twilio could not fetch or parse (11200, 12100)
    └── ScriptError              a phone script or scenario that cannot be played (control API input)

Call-flow code catches these only at a call's edge, records them in the call's report and ends the
call the way Twilio would; they never escape into the event loop.
"""

from __future__ import annotations

from typing import Any

MORE_INFO = "https://www.twilio.com/docs/errors/{code}"

# Twilio error codes the carrier reproduces (numbers from Twilio's public error dictionary).
AUTHENTICATE = 20003
NOT_FOUND = 20404
INVALID_PARAMETER = 20001
NO_TO = 21201
INVALID_URL = 21205
FROM_NOT_OWNED = 21210
INVALID_TO = 21211
INVALID_FROM = 21212
NO_FROM = 21213
INVALID_APPLICATION = 21218
CALL_NOT_IN_PROGRESS = 21220
SMS_NO_BODY = 21602
SMS_NO_FROM = 21603
SMS_NO_TO = 21604
SMS_FROM_NOT_OWNED = 21606
SMS_TOO_LONG = 21617
HTTP_RETRIEVAL_FAILURE = 11200
DOCUMENT_PARSE_FAILURE = 12100
STREAM_HANDSHAKE = 31920
STREAM_URL_SCHEME = 31922
STREAM_PROTOCOL = 31924


class CarrierError(Exception):
    """Base of every carrier error; `code` is Twilio's error code for the same failure."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class RestError(CarrierError):
    """A REST request Twilio would reject, with the HTTP status it would use."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(code, message)
        self.status = status

    def body(self) -> dict[str, Any]:
        """Twilio's legacy error shape, which the SDK turns into TwilioRestException."""
        return {
            "code": self.code,
            "message": self.message,
            "more_info": MORE_INFO.format(code=self.code),
            "status": self.status,
        }


class TwimlError(CarrierError):
    """The answer URL could not be fetched or did not return valid TwiML."""


class ScriptError(CarrierError):
    """A scenario or phone script given to the control API is malformed."""

    def __init__(self, message: str) -> None:
        super().__init__(INVALID_PARAMETER, message)
