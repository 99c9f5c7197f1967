"""Secrets and phone numbers out of the logs, whoever logs them (our code, aiohttp, the twilio SDK, openai).

`Redactor` is a logging filter: it renders a record's message with its args, masks it, and stores the
result back on the record with no args, so every handler after it (and every formatter) sees only the
masked text. A phone number keeps its last four digits (`***1234`, as `phones.masked`), enough to tell
calls apart in a log without identifying anyone.
"""

from __future__ import annotations

import logging
import re

_MASK = "***"
# Order matters: whole tokens first, so a JWT inside "Bearer ..." or "token=..." is masked in one piece.
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE), rf"\1 {_MASK}"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), f"{_MASK}jwt"),
    # token=..., "password": "...", api_key: ..., X-Twilio-Signature: ..., in URLs, reprs, JSON and headers.
    (
        re.compile(
            r"""([A-Za-z_-]*(?:token|secret|password|passwd|api[_-]?key|signature|authorization)[A-Za-z_-]*)"""
            r"""(['"]?\s*[:=]\s*['"]?)([^\s'"&,;)}\]]+)""",
            re.IGNORECASE,
        ),
        rf"\1\2{_MASK}",
    ),
    # The verification SMS ("Your code is 123456") and a code field in a request.
    (re.compile(r"\b(code(?:\s+is)?\s*[:=]?\s*['\"]?)\d{4,8}\b", re.IGNORECASE), rf"\1{_MASK}"),
)
# E.164 numbers, also URL-encoded (%2B...) as in webhook form bodies and SDK request logs.
_PHONE = re.compile(r"(\+|%2B)(\d{3,11})(\d{4})(?!\d)", re.IGNORECASE)


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return _PHONE.sub(lambda match: f"{_MASK}{match[3]}", text)


class Redactor(logging.Filter):
    """Mask the rendered message (and a traceback's text) before any formatter sees the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep the template, drop the args
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
