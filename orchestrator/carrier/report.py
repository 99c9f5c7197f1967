"""What happened on a call, as the carrier saw it: the evidence tests assert on.

Times are milliseconds on the monotonic clock, relative to the start of the stream (marks, clears)
or of the call's answer (everything else). Audio is kept as 8 kHz PCM16 so tests can measure or
transcribe it; `to_json()` leaves the audio out unless asked.
"""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class CallbackDelivery:
    """One status-callback request as it went on the wire (duplicates and reordering included)."""

    sequence_number: int
    call_status: str
    http_status: int | None  # None: the request failed (recorded as error 11200)


@dataclass
class MarkEcho:
    name: str
    echoed_at_ms: float
    played_ms: float  # stream audio played when the echo was sent
    flushed: bool  # echoed because of a `clear`, not because its audio played


@dataclass
class ClearEvent:
    at_ms: float
    dropped_ms: float  # queued audio thrown away
    flushed_marks: list[str]


@dataclass
class StreamReport:
    url: str
    stream_sid: str
    custom_parameters: dict[str, str]
    ended_by: str = ""  # "server" (websocket closed) | "phone" (hung up) | "call" (REST/time limit) | "error"
    frames_sent: int = 0
    dtmf_sent: list[str] = field(default_factory=list)
    media_received: int = 0
    played_ms: float = 0.0
    dry_ticks: int = 0  # 20 ms ticks the ear's buffer ran short while a mark was pending: a gap mid-sentence
    late_ticks: int = 0  # ticks the ear's own clock ran over 10 ms late (a loaded event loop, not the server)
    max_tick_late_ms: float = 0.0
    marks: list[MarkEcho] = field(default_factory=list)
    clears: list[ClearEvent] = field(default_factory=list)
    invalid_messages: int = 0
    invalid_reasons: list[str] = field(default_factory=list)


@dataclass
class CarrierErrorRecord:
    code: int
    message: str


@dataclass
class CallReport:
    call_sid: str
    direction: str
    to: str
    from_: str
    status: str = "queued"
    answered_by: str | None = None
    duration_s: int | None = None
    callbacks: list[CallbackDelivery] = field(default_factory=list)
    twiml: list[str] = field(default_factory=list)  # every document fetched, in order
    said: list[str] = field(default_factory=list)  # text of each <Say>
    unsupported_verbs: list[str] = field(default_factory=list)
    streams: list[StreamReport] = field(default_factory=list)
    errors: list[CarrierErrorRecord] = field(default_factory=list)
    heard_ms: float = 0.0  # audio (not silence) that reached the phone's ear: streams + <Say>
    heard_pcm: bytes = b""  # the ear's track: 8 kHz PCM16, silence where nothing played
    caller_pcm: bytes = b""  # the mouth's track: what the phone sent
    recordings: dict[str, Path] = field(default_factory=dict)
    finished: bool = False

    def error(self, code: int, message: str) -> None:
        """Log a Twilio debugger-style error against the call."""
        self.errors.append(CarrierErrorRecord(code, message))

    def to_json(self, *, audio: bool = False) -> dict[str, Any]:
        data = asdict(self)
        data["from"] = data.pop("from_")
        data["recordings"] = {track: str(path) for track, path in self.recordings.items()}
        data.pop("heard_pcm")
        data.pop("caller_pcm")
        if audio:
            data["heard_pcm_b64"] = base64.b64encode(self.heard_pcm).decode()
            data["caller_pcm_b64"] = base64.b64encode(self.caller_pcm).decode()
        return data
