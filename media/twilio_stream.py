"""Twilio Media Streams, the wire protocol: JSON text frames in, media/mark/clear out.

This is the only module that knows Twilio's field names. Incoming frames become small event dataclasses;
anything malformed (bad JSON, wrong types, invalid base64, oversized or out-of-order audio) raises
`ProtocolViolation` with a reason, which the caller counts, drops, or closes the stream on.
Numeric-looking fields (sequenceNumber, chunk, timestamp) are strings on the wire.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

MAX_MEDIA_PAYLOAD_BYTES = 8000
"""One second of 8 kHz mu-law: Twilio sends 20 ms (160 bytes); anything far larger is not a phone."""
_DTMF_DIGITS = frozenset("0123456789*#ABCD")


class ProtocolViolation(Exception):
    """A frame that does not follow the Media Streams protocol; the message says how."""


@dataclass(frozen=True, slots=True)
class Connected:
    pass


@dataclass(frozen=True, slots=True)
class StreamStarted:
    stream_sid: str
    call_sid: str
    account_sid: str
    custom_parameters: dict[str, str]
    encoding: str
    sample_rate: int


@dataclass(frozen=True, slots=True)
class MediaReceived:
    ulaw: bytes
    sequence_number: int
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class MarkPlayed:
    name: str


@dataclass(frozen=True, slots=True)
class DtmfPressed:
    digit: str


@dataclass(frozen=True, slots=True)
class StreamStopped:
    pass


StreamEvent = Connected | StreamStarted | MediaReceived | MarkPlayed | DtmfPressed | StreamStopped


def _field(obj: Any, key: str, kind: type) -> Any:
    value = obj.get(key) if isinstance(obj, dict) else None
    if not isinstance(value, kind):
        raise ProtocolViolation(f"{key} missing or not a {kind.__name__}")
    return value


def _numeric_string(obj: Any, key: str) -> int:
    value = _field(obj, key, str)
    if not value.isdigit() or len(value) > 12:
        raise ProtocolViolation(f"{key} is not a numeric string")
    return int(value)


class StreamDecoder:
    """Decodes one stream's frames in order, checking they belong to it and arrive in sequence."""

    def __init__(self) -> None:
        self.stream_sid: str | None = None
        self._last_sequence = 0

    def decode(self, text: str) -> StreamEvent:
        try:
            message = json.loads(text)
        except (ValueError, RecursionError):
            raise ProtocolViolation("not valid JSON") from None
        event = _field(message, "event", str)
        if event == "connected":
            return Connected()
        if event == "start":
            return self._start(message)
        if self.stream_sid is None:
            raise ProtocolViolation(f"{event} before start")
        if _field(message, "streamSid", str) != self.stream_sid:
            raise ProtocolViolation("streamSid does not match this stream")
        self._check_sequence(message)
        if event == "media":
            return self._media(message)
        if event == "mark":
            return MarkPlayed(_field(_field(message, "mark", dict), "name", str))
        if event == "dtmf":
            digit = _field(_field(message, "dtmf", dict), "digit", str)
            if digit not in _DTMF_DIGITS:
                raise ProtocolViolation("dtmf digit is not a key")
            return DtmfPressed(digit)
        if event == "stop":
            return StreamStopped()
        raise ProtocolViolation(f"unknown event {event[:32]!r}")

    def _check_sequence(self, message: dict) -> None:
        if "sequenceNumber" not in message:
            return
        number = _numeric_string(message, "sequenceNumber")
        if number <= self._last_sequence:
            raise ProtocolViolation("sequenceNumber out of order")
        self._last_sequence = number

    def _start(self, message: dict) -> StreamStarted:
        if self.stream_sid is not None:
            raise ProtocolViolation("second start on one stream")
        start = _field(message, "start", dict)
        media_format = _field(start, "mediaFormat", dict)
        parameters = start.get("customParameters", {})
        if not isinstance(parameters, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in parameters.items()
        ):
            raise ProtocolViolation("customParameters must map strings to strings")
        started = StreamStarted(
            stream_sid=_field(start, "streamSid", str),
            call_sid=_field(start, "callSid", str),
            account_sid=_field(start, "accountSid", str),
            custom_parameters=parameters,
            encoding=_field(media_format, "encoding", str),
            sample_rate=_field(media_format, "sampleRate", int),
        )
        if started.encoding != "audio/x-mulaw" or started.sample_rate != 8000:
            raise ProtocolViolation("only audio/x-mulaw at 8000 Hz is supported")
        if "streamSid" in message and message["streamSid"] != started.stream_sid:
            raise ProtocolViolation("start.streamSid differs from streamSid")
        self._check_sequence(message)
        self.stream_sid = started.stream_sid
        return started

    def _media(self, message: dict) -> MediaReceived:
        media = _field(message, "media", dict)
        track = media.get("track", "inbound")
        if track not in ("inbound", "inbound_track"):
            raise ProtocolViolation("media from an unexpected track")
        payload = _field(media, "payload", str)
        if len(payload) > MAX_MEDIA_PAYLOAD_BYTES * 4 // 3 + 4:
            raise ProtocolViolation("media payload too large")
        try:
            ulaw = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise ProtocolViolation("media payload is not base64") from None
        timestamp = _numeric_string(media, "timestamp") if "timestamp" in media else 0
        return MediaReceived(ulaw, self._last_sequence, timestamp)


def media_message(stream_sid: str, ulaw: bytes) -> str:
    return json.dumps(
        {"event": "media", "streamSid": stream_sid, "media": {"payload": base64.b64encode(ulaw).decode()}}
    )


def mark_message(stream_sid: str, name: str) -> str:
    return json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def clear_message(stream_sid: str) -> str:
    return json.dumps({"event": "clear", "streamSid": stream_sid})
