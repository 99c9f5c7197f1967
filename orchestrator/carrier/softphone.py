"""A live line: a number answered by a person somewhere else (the browser softphone) instead of a script.

While a line is attached to a number, an outbound call to that number rings it: the person answers
(the phone's mouth then speaks what they send, its ear hands them what it plays) or declines (busy);
no answer within the call's timeout is no-answer. The carrier's `Phone` stays the one phone: only its
mouth (`LiveVoice`, in place of the script) and an ear tap differ. Audio here is what the phone line
carries, 20 ms frames of 8 kHz mu-law; converting to the browser's format is the server's business.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

from .audio import FRAME_BYTES, SILENCE_BYTE
from .script import Dtmf, HangUp

log = logging.getLogger(__name__)

SILENT_FRAME = bytes([SILENCE_BYTE]) * FRAME_BYTES
MAX_MOUTH_FRAMES = 15
"""Caller audio buffered ahead of the phone's clock (300 ms); beyond it the oldest frames are dropped, so a
browser whose clock runs fast cannot build up delay."""


@dataclass(frozen=True, slots=True)
class Ringing:
    call_sid: str
    from_: str


@dataclass(frozen=True, slots=True)
class Answered:
    call_sid: str


@dataclass(frozen=True, slots=True)
class Heard:
    ulaw: bytes  # one frame the phone's ear played


@dataclass(frozen=True, slots=True)
class Ended:
    call_sid: str
    status: str


@dataclass(frozen=True, slots=True)
class Replaced:
    """The number was attached again elsewhere (another tab): this line will not ring any more."""


LineEvent = Ringing | Answered | Heard | Ended | Replaced


class LiveLine:
    """One attached number. The person's side calls answer/decline/hang_up/speak and reads `events`."""

    def __init__(self, number: str) -> None:
        self.number = number
        self.events: asyncio.Queue[LineEvent] = asyncio.Queue()
        self.call_sid: str | None = None  # the call ringing or in progress
        self._answer: asyncio.Future[bool] | None = None
        self._mouth: deque[bytes] = deque(maxlen=MAX_MOUTH_FRAMES)
        self._partial = b""
        self._hung_up = False

    # the person's side ------------------------------------------------------------------------------
    def answer(self) -> bool:
        return self._settle(True)

    def decline(self) -> bool:
        return self._settle(False)

    def hang_up(self) -> None:
        """End the call in progress (or decline one that is ringing)."""
        if not self._settle(False):
            self._hung_up = True

    def speak(self, ulaw: bytes) -> None:
        """Caller audio, any length: cut into line frames for the phone's mouth."""
        if self.call_sid is None or self._answer is not None:
            return  # nothing to speak into (idle, or still ringing)
        data = self._partial + ulaw
        whole = len(data) - len(data) % FRAME_BYTES
        self._mouth.extend(data[i : i + FRAME_BYTES] for i in range(0, whole, FRAME_BYTES))
        self._partial = data[whole:]

    def _settle(self, answered: bool) -> bool:
        if self._answer is None or self._answer.done():
            return False
        self._answer.set_result(answered)
        return True

    # the carrier's side -----------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self.call_sid is not None

    async def ring(self, call_sid: str, from_: str) -> bool:
        """Ring until the person answers (True) or declines (False); the caller's timeout cancels it."""
        self.call_sid = call_sid
        self._hung_up = False
        self._mouth.clear()
        self._answer = asyncio.get_running_loop().create_future()
        self.events.put_nowait(Ringing(call_sid, from_))
        try:
            answered = await self._answer
        finally:
            self._answer = None
        if answered:
            self.events.put_nowait(Answered(call_sid))
        return answered

    async def voice(self) -> AsyncIterator[bytes | Dtmf | HangUp]:
        """The phone's mouth: the person's frames as they come, silence when none is waiting, then HangUp."""
        while not self._hung_up:
            yield self._mouth.popleft() if self._mouth else SILENT_FRAME
        yield HangUp()

    def replaced(self) -> None:
        self.hang_up()
        self.events.put_nowait(Replaced())

    def heard(self, ulaw: bytes) -> None:
        self.events.put_nowait(Heard(ulaw))

    def ended(self, call_sid: str, status: str) -> None:
        if self.call_sid != call_sid:
            return  # a call this line never took (it was busy)
        self.call_sid = None
        self._hung_up = False
        self._mouth.clear()
        self._partial = b""
        self.events.put_nowait(Ended(call_sid, status))
