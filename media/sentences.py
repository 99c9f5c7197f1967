"""Cut a streamed reply into sentences, so speech starts after the first one instead of the whole reply.

A sentence ends at . ! ? (or a newline) followed by a space; a very long run is cut at a comma so the
first audio never waits on a rambling sentence. The first piece of a reply may be a clause: once it is
long enough to sound natural on its own, a comma ends it, so the caller hears the persona sooner (the
model is still writing the rest); without a comma, a long enough first piece may end before a word that
opens a phrase ("That sounds like a great opportunity | for a nursing job."), where a speaker could pause.
Abbreviations like "Dr." and numbers like "3.5" do not end a sentence.
"""

from __future__ import annotations

import re

_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n+")
_ABBREVIATIONS = ("mr.", "mrs.", "ms.", "dr.", "st.", "vs.", "e.g.", "i.e.", "etc.", "a.m.", "p.m.")
_SOFT_LIMIT = 160  # characters before a comma is good enough
_CLAUSE = re.compile(r"[,;:]\s+")
_PHRASE = re.compile(
    r"\s+(?=(?:and|but|so|because|since|when|while|if|for|with|about|which|who|at|in|on|to)\s)", re.IGNORECASE
)


class SentenceSplitter:
    def __init__(self, first_clause_chars: int = 0, first_phrase_words: int = 0) -> None:
        """`first_clause_chars` > 0: the first piece may end at a comma once it is at least that long.
        `first_phrase_words` > 0: with no comma, it may end before a phrase once it has that many words."""
        self._buffer = ""
        self._first_clause_chars = first_clause_chars
        self._first_phrase_words = first_phrase_words
        self._emitted = False

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
        if not sentences and not self._emitted and self._first_clause_chars:
            for match in _CLAUSE.finditer(self._buffer):
                if match.start() >= self._first_clause_chars:
                    sentences.append(self._buffer[: match.start() + 1].strip())
                    self._buffer = self._buffer[match.end() :]
                    break
        if not sentences and not self._emitted and self._first_phrase_words:
            for match in _PHRASE.finditer(self._buffer):
                head = self._buffer[: match.start()].strip()
                if len(head.split()) >= self._first_phrase_words and not _CLAUSE.search(head):
                    sentences.append(head)
                    self._buffer = self._buffer[match.end() :]
                    break
        if len(self._buffer) > _SOFT_LIMIT and ", " in self._buffer:
            cut = self._buffer.rindex(", ") + 1
            sentences.append(self._buffer[:cut].strip())
            self._buffer = self._buffer[cut:]
        self._emitted = self._emitted or bool(sentences)
        return sentences

    @property
    def pending(self) -> str:
        """Text written but not yet part of a piece."""
        return self._buffer

    def split(self, text: str) -> list[str]:
        """A whole text at once."""
        return self.push(text) + self.flush()

    def flush(self) -> list[str]:
        rest, self._buffer = self._buffer.strip(), ""
        return [rest] if rest else []
