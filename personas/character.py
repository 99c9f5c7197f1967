"""Is this sentence something the persona would say? Catches the language model falling out of character.

Small local models fall back on their training as a help-desk assistant: the 0.5B default answered about
one reply in five with a refusal ("I'm sorry, but I can't assist with that.") or help-desk talk ("How can I
assist you today?"), greeted 12 calls in 12 that way, and sometimes greeted the caller with its own name
("Hello Sarah!"). Said aloud, one such reply also primes the next: a refusal in the history was followed
by refusals. The call checks each sentence before it is spoken (media/call.py): the reply is asked for
again, or ends before the sentence.

Only these patterns: a persona that is asked whether it is an AI may say so, and a friend may say "I'm
sorry" or "I can't wait"; a false alarm costs one more request, never a wrong word.
"""

from __future__ import annotations

import re

_APOSTROPHE = "['\u2019]?"  # straight, curly or left out
_I_AM = rf"(I{_APOSTROPHE}m|I\s+am)"
# "I can't", "I'm not able", "we are unable": what a refusal turns on, and the verbs it refuses.
_CANNOT = (
    rf"(I|we)(\s+(can{_APOSTROPHE}t|cannot|won{_APOSTROPHE}t|am\s+(not\s+able|unable)|are\s+(not\s+able|unable))"
    rf"|{_APOSTROPHE}(m|re)\s+(not\s+able|unable))"
)
_REFUSED = rf"{_CANNOT}(\s+to)?\s+(assist|help|provide|comply|fulfil+|engage|answer|discuss)"
_REFUSAL = re.compile(
    rf"\bsorry,?\s+but\s+{_CANNOT}\b|\b{_REFUSED}\b[^.!?]*\bwith\s+(that|this|your\s+request)\b",
    re.IGNORECASE,
)
_HELP_DESK = re.compile(
    rf"\bhow\s+(can|may|could)\s+I\s+(assist|help)\s+you\b|\b{_I_AM}\s+(here|happy|glad)\s+to\s+assist\b"
    r"|\bassist\s+you\b|\b(any|further|additional)\s+assistance\b"
    r"|\bfeel\s+free\s+to\s+(ask|reach\s+out)\b|\bif\s+you\s+have\s+any\s+(more\s+|other\s+|further\s+)?questions\b",
    re.IGNORECASE,
)
# A first piece that may be the start of a refusal or a help-desk greeting: wait for what follows before
# saying it ("I'm sorry," then "but I can't ..."; "I can't help" then "with that." when the splitter cuts
# before "with").
_MAY_OPEN_OFF = re.compile(
    rf"^((oh|well),?\s+)?({_I_AM}\s+)?((so|really|very)\s+)?sorry[,.!]?$|^(hello|hi|hey)(\s+there)?[,.!]?$"
    rf"|\b{_REFUSED}(\s+you)?$",
    re.IGNORECASE,
)
# What follows a held first piece when it may still turn into a refusal or help-desk talk; judged on its
# first words, so "I'm sorry," is said as soon as "but I'm not sure" shows it is not "but I can't".
_OFF_START = re.compile(
    rf"^(but\s+)?{_CANNOT}\b|^how\s+(can|may|could)\s+I\b|^{_I_AM}\s+(here|happy|glad)\s+to\b",
    re.IGNORECASE,
)
_START_WORDS = 4


def breaks_character(sentence: str, persona_name: str) -> bool:
    """A refusal, help-desk talk, or the persona calling the caller by its own name ("Hello Sarah!",
    "That's a great point, Brad!"; "it's Brad" and "Brad here" are fine)."""
    if _REFUSAL.search(sentence) or _HELP_DESK.search(sentence):
        return True
    name = re.escape(persona_name.strip())
    if not name:
        return False
    greeted = rf"^\W*(hi|hello|hey|dear|thanks|thank\s+you)(\s+there)?[\s,]*{name}\b"
    addressed = rf",\s*{name}\s*[.!?]"
    return re.search(f"{greeted}|{addressed}", sentence, re.IGNORECASE) is not None


class CharacterCheck:
    """Between the sentence splitter and the voice, for one reply's text.

    `push` takes the splitter's pieces and returns those that may be spoken; a first piece that may open
    a refusal is held until the next one arrives. `broken` turns true at the first piece that breaks
    character: it and everything after it are withheld (the reply ends there, or is asked for again when
    nothing was said yet)."""

    def __init__(self, persona_name: str) -> None:
        self._persona_name = persona_name
        self._held = ""
        self._spoke = False  # only a reply's first piece is ever held
        self.broken = False

    def push(self, pieces: list[str]) -> list[str]:
        speak: list[str] = []
        for piece in pieces:
            if self.broken:
                break
            if self._held:
                piece, self._held = f"{self._held} {piece}", ""
            if breaks_character(piece, self._persona_name):
                self.broken = True
            elif not self._spoke and not speak and _MAY_OPEN_OFF.search(piece):
                self._held = piece
            else:
                speak.append(piece)
        self._spoke = self._spoke or bool(speak)
        return speak

    def release(self, pending: str) -> list[str]:
        """The held first piece, once the text after it (`pending`: written, not yet a piece) has enough
        words to show it does not open a refusal; else nothing yet."""
        if not self._held or self.broken:
            return []  # the usual case, on every token: nothing to look at
        words = pending.split()
        if len(words) < _START_WORDS or _OFF_START.search(" ".join(words[:_START_WORDS])):
            return []  # not yet, or the sentence's end decides
        speak, self._held, self._spoke = [self._held], "", True
        return speak

    def flush(self, pieces: list[str]) -> list[str]:
        """The last pieces of the reply: a held piece is spoken if nothing off followed it."""
        speak = self.push(pieces)
        if self._held and not self.broken:
            speak.append(self._held)
            self._held, self._spoke = "", True
        return speak
