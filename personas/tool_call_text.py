"""Pull JSON tool calls out of a streamed reply so they are acted on, never spoken.

Small local models (Qwen2.5-Coder 0.5B/1.5B behind llama.cpp) choose tools sensibly but write the
call as message content (`{"name": "end_call", "arguments": {...}}`, sometimes inside ```json
fences or <tool_call> tags) instead of `tool_calls`. Spoken replies never contain braces, so a `{`
starts capture: text before it flows on to TTS at once, the JSON is held until its braces balance
and then becomes a tool call (known tool names only) or is dropped. Fence and tag wrappers are held
while they could still be a wrapper, and released as text as soon as they cannot.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

_log = logging.getLogger(__name__)

_OPENERS = ("```json", "```", "<tool_call>")
_CLOSERS = ("```", "</tool_call>")


@dataclass(frozen=True)
class ContentCall:
    """A tool call recovered from content; `arguments` is already a dict."""

    name: str
    arguments: Mapping[str, Any]


@dataclass
class Scan:
    """What one `feed` released: text to speak now and any completed calls, in that order."""

    text: str = ""
    calls: list[ContentCall] = field(default_factory=list)


class ContentToolCallScanner:
    """Incremental splitter of content into speakable text and JSON tool calls."""

    def __init__(self, tool_names: Collection[str]) -> None:
        self._tool_names = frozenset(tool_names)
        self._held = ""  # a possible wrapper opener/closer, not yet decided
        self._json: list[str] = []
        self._depth = 0
        self._in_string = False
        self._escaped = False

    def feed(self, delta: str) -> Scan:
        scan = Scan()
        out: list[str] = []
        for char in delta:
            self._feed_char(char, out, scan)
        scan.text = "".join(out)
        return scan

    def finish(self) -> Scan:
        """Flush at end of stream: an unfinished JSON object is dropped, never spoken."""
        scan = Scan()
        if self._depth:
            _log.warning("dropping unterminated JSON in reply: %.120s", "".join(self._json))
        elif self._held and self._held.strip() not in _OPENERS + _CLOSERS:
            scan.text = self._held
        self._held = ""
        self._json = []
        self._depth = 0
        return scan

    def _feed_char(self, char: str, out: list[str], scan: Scan) -> None:
        if self._depth:
            if self._feed_json(char, scan):
                out.append(scan.text)  # keep text order: a {"response": ...} answer speaks here
                scan.text = ""
            return
        if not self._held and char not in "`<":
            if char == "{":
                self._start_json()
            else:
                out.append(char)
            return
        if char == "{" and self._held.strip() in _OPENERS:
            self._held = ""
            self._start_json()
            return
        self._held += char
        if self._held in _CLOSERS and not any(o.startswith(self._held) and o != self._held for o in _OPENERS):
            self._held = ""  # a stray closer after a call
        elif self._held.rstrip() in _OPENERS or any(w.startswith(self._held) for w in _OPENERS + _CLOSERS):
            pass  # could still be a wrapper: keep holding
        else:
            released, self._held = self._held[:-1], ""
            out.append(released)
            self._feed_char(char, out, scan)

    def _start_json(self) -> None:
        self._json = ["{"]
        self._depth = 1
        self._in_string = False
        self._escaped = False

    def _feed_json(self, char: str, scan: Scan) -> bool:
        """Return True when the object closed and produced speakable text."""
        self._json.append(char)
        if self._in_string:
            if self._escaped:
                self._escaped = False
            elif char == "\\":
                self._escaped = True
            elif char == '"':
                self._in_string = False
            return False
        if char == '"':
            self._in_string = True
        elif char == "{":
            self._depth += 1
        elif char == "}":
            self._depth -= 1
            if self._depth == 0:
                return self._close_json(scan)
        return False

    def _close_json(self, scan: Scan) -> bool:
        raw = "".join(self._json)
        self._json = []
        try:
            obj = json.loads(raw)
        except ValueError:
            _log.warning("dropping malformed JSON in reply: %.120s", raw)
            return False
        call = self._as_call(obj)
        if call is not None:
            scan.calls.append(call)
            return False
        if isinstance(obj, dict) and isinstance(obj.get("response"), str):
            scan.text = obj["response"]  # llama.cpp's generic tool format wraps plain answers
            return True
        _log.warning("dropping JSON that is not a known tool call: %.120s", raw)
        return False

    def _as_call(self, obj: Any) -> ContentCall | None:
        if not isinstance(obj, dict):
            return None
        for key in ("tool_call", "function"):
            if isinstance(obj.get(key), dict):
                return self._as_call(obj[key])
        calls = obj.get("tool_calls")
        if isinstance(calls, list) and calls:
            return self._as_call(calls[0])
        name = obj.get("name")
        if not isinstance(name, str) or name not in self._tool_names:
            return None
        arguments = obj.get("arguments", obj.get("parameters", {}))
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except ValueError:
                return None
        if not isinstance(arguments, dict):
            return None
        return ContentCall(name=name, arguments=arguments)
