"""The local carrier: an offline stand-in for Twilio that speaks its protocol to the letter.

REST (Calls, Messages) for the official SDK, signed webhooks and status callbacks, TwiML, and a
scripted phone on a real media-stream websocket. See app.py for running it and carrier.py for
driving it from Python.
"""

from .app import RunningCarrier, create_carrier_app, running_carrier, serve
from .calls import Call, CallRequest, CallStatus, Direction
from .carrier import CARRIER_KEY, Carrier, Message
from .errors import CarrierError, RestError, ScriptError, TwimlError
from .flow import TextToSpeech
from .report import CallReport, ClearEvent, MarkEcho, StreamReport
from .scenarios import Outcome, Scenario
from .script import Dtmf, HangUp, PlayPcm, PlayWav, Step, Wait, parse_script
from .settings import CarrierNumber, CarrierSettings, SettingsError
from .softphone import Answered, Ended, Heard, LineEvent, LiveLine, Replaced, Ringing
from .webhooks import Chaos

__all__ = [
    "CARRIER_KEY",
    "Answered",
    "Call",
    "CallReport",
    "CallRequest",
    "CallStatus",
    "Carrier",
    "CarrierError",
    "CarrierNumber",
    "CarrierSettings",
    "Chaos",
    "ClearEvent",
    "Direction",
    "Dtmf",
    "Ended",
    "HangUp",
    "Heard",
    "LineEvent",
    "LiveLine",
    "MarkEcho",
    "Message",
    "Outcome",
    "PlayPcm",
    "PlayWav",
    "Replaced",
    "RestError",
    "Ringing",
    "RunningCarrier",
    "Scenario",
    "ScriptError",
    "SettingsError",
    "Step",
    "StreamReport",
    "TextToSpeech",
    "TwimlError",
    "Wait",
    "create_carrier_app",
    "parse_script",
    "running_carrier",
    "serve",
]
