"""Cut a streamed reply into sentences, so speech starts after the first one instead of the whole reply.

A sentence ends at . ! ? (or a newline) followed by a space; a very long run is cut at a comma so the
first audio never waits on a rambling sentence. Abbreviations like "Dr." and numbers like "3.5" do not
end a sentence.
"""

from __future__ import annotations

import re

_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n+")
_ABBREVIATIONS = ("mr.", "mrs.", "ms.", "dr.", "st.", "vs.", "e.g.", "i.e.", "etc.", "a.m.", "p.m.")
_SOFT_LIMIT = 160  # characters before a comma is good enough


class SentenceSplitter:
    def __init__(self) -> None:
        self._buffer = ""

    def push(self, text: str) -> list[str]:
        self._buffer += text
        sentences = []
        start = 0
        for match in _END.finditer(self._buffer):
            candidate = self._buffer[start : match.start()].strip()
            if candidate.lower().endswith(_ABBREVIATIONS) or not candidate:
                continue
            sentences.append(candidate)
            start = match.end()
        self._buffer = self._buffer[start:]
        if len(self._buffer) > _SOFT_LIMIT and ", " in self._buffer:
            cut = self._buffer.rindex(", ") + 1
            sentences.append(self._buffer[:cut].strip())
            self._buffer = self._buffer[cut:]
        return sentences

    def flush(self) -> list[str]:
        rest, self._buffer = self._buffer.strip(), ""
        return [rest] if rest else []
