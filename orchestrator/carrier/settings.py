"""Typed `[carrier]` configuration, validated once at startup.

Every tunable lives in config.toml; the dataclasses only carry and check it, so a test or the
in-process server states every value it depends on instead of inheriting a hidden default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
ACCOUNT_SID = re.compile(r"^AC[0-9a-f]{32}$")


class SettingsError(ValueError):
    """A `[carrier]` value is missing or malformed; raised at startup, never mid-call."""


@dataclass(frozen=True)
class CarrierNumber:
    """A phone number the carrier owns: calls from it are allowed, calls to it go to `voice_url`."""

    number: str
    voice_url: str | None
    voice_method: str
    status_callback: str | None

    def __post_init__(self) -> None:
        if not E164.match(self.number):
            raise SettingsError(f"carrier number {self.number!r} is not E.164")
        if self.voice_method not in ("GET", "POST"):
            raise SettingsError(f"voice_method of {self.number} must be GET or POST")
        for url in (self.voice_url, self.status_callback):
            if url is not None and urlsplit(url).scheme not in ("http", "https"):
                raise SettingsError(f"webhook URL {url!r} of {self.number} must be http(s)")


@dataclass(frozen=True)
class CarrierSettings:
    """What the local carrier needs to impersonate Twilio for one account."""

    account_sid: str
    auth_token: str
    host: str
    port: int
    numbers: tuple[CarrierNumber, ...]
    recordings_dir: Path | None
    allow_insecure_ws: bool
    answer_delay_s: float
    progress_step_s: float
    calls_per_second: float
    say_words_per_minute: float
    webhook_timeout_s: float

    def __post_init__(self) -> None:
        if not ACCOUNT_SID.match(self.account_sid):
            raise SettingsError("carrier.account_sid must be 'AC' followed by 32 lowercase hex digits")
        if not self.auth_token:
            raise SettingsError("carrier.auth_token must not be empty")
        if not 0 <= self.port <= 65535:
            raise SettingsError("carrier.port must be 0..65535")
        for name in ("answer_delay_s", "progress_step_s", "calls_per_second"):
            if getattr(self, name) < 0:
                raise SettingsError(f"carrier.{name} must be >= 0")
        for name in ("say_words_per_minute", "webhook_timeout_s"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"carrier.{name} must be > 0")
        seen = [n.number for n in self.numbers]
        if len(seen) != len(set(seen)):
            raise SettingsError("carrier.numbers lists a number twice")

    def number(self, number: str) -> CarrierNumber | None:
        """The owned number's configuration, or None when the carrier does not own it."""
        return next((n for n in self.numbers if n.number == number), None)
