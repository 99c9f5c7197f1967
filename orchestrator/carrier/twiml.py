"""TwiML documents -> verb dataclasses, for the verbs our server uses.

Supported: Say, Pause, Hangup, Reject, Redirect, Connect/Stream/Parameter. Any other verb parses
to `Unsupported` so the call flow can record it instead of silently pretending to run it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from .errors import DOCUMENT_PARSE_FAILURE, TwimlError

PARAMETER_MAX_CHARS = 500  # Twilio: name + value of a <Parameter> stay under 500 characters


@dataclass(frozen=True)
class Say:
    text: str
    loop: int


@dataclass(frozen=True)
class Pause:
    length_s: float


@dataclass(frozen=True)
class Hangup:
    pass


@dataclass(frozen=True)
class Reject:
    reason: str  # "rejected" | "busy": decides the call's final status (no-answer | busy)


@dataclass(frozen=True)
class Redirect:
    url: str
    method: str


@dataclass(frozen=True)
class Stream:
    url: str
    name: str | None
    parameters: dict[str, str]
    status_callback: str | None
    status_callback_method: str


@dataclass(frozen=True)
class Connect:
    """`<Connect>` blocks the document until its stream's websocket closes, then goes on (or to `action`)."""

    stream: Stream | None
    action: str | None
    method: str


@dataclass(frozen=True)
class Unsupported:
    name: str


Verb = Say | Pause | Hangup | Reject | Redirect | Connect | Unsupported


def parse_twiml(document: str) -> list[Verb]:
    """Parse a `<Response>` document; raises TwimlError(12100) when Twilio could not run it either."""
    try:
        root = ET.fromstring(document.strip())
    except ET.ParseError as exc:
        raise TwimlError(DOCUMENT_PARSE_FAILURE, f"Document parse failure: {exc}") from exc
    if root.tag != "Response":
        raise TwimlError(DOCUMENT_PARSE_FAILURE, f"root element is <{root.tag}>, not <Response>")
    return [_verb(element) for element in root]


def _method(element: ET.Element, attribute: str = "method") -> str:
    method = element.get(attribute, "POST").upper()
    if method not in ("GET", "POST"):
        raise TwimlError(DOCUMENT_PARSE_FAILURE, f"<{element.tag}> {attribute}={method!r} is not GET/POST")
    return method


def _number(element: ET.Element, attribute: str, default: float) -> float:
    raw = element.get(attribute)
    try:
        return default if raw is None else float(raw)
    except ValueError as exc:
        raise TwimlError(DOCUMENT_PARSE_FAILURE, f"<{element.tag}> {attribute}={raw!r}") from exc


def _verb(element: ET.Element) -> Verb:
    match element.tag:
        case "Say":
            return Say(text=(element.text or "").strip(), loop=int(_number(element, "loop", 1)))
        case "Pause":
            return Pause(length_s=max(0.0, _number(element, "length", 1)))
        case "Hangup":
            return Hangup()
        case "Reject":
            reason = element.get("reason", "rejected")
            if reason not in ("rejected", "busy"):
                raise TwimlError(DOCUMENT_PARSE_FAILURE, f"<Reject reason={reason!r}>")
            return Reject(reason=reason)
        case "Redirect":
            url = (element.text or "").strip()
            if not url:
                raise TwimlError(DOCUMENT_PARSE_FAILURE, "<Redirect> needs a URL")
            return Redirect(url=url, method=_method(element))
        case "Connect":
            streams = [_stream(child) for child in element if child.tag == "Stream"]
            if len(streams) > 1:
                raise TwimlError(DOCUMENT_PARSE_FAILURE, "only one bidirectional <Stream> per call")
            return Connect(
                stream=streams[0] if streams else None, action=element.get("action"), method=_method(element)
            )
        case other:
            return Unsupported(name=other)


def _stream(element: ET.Element) -> Stream:
    url = element.get("url")
    if not url:
        raise TwimlError(DOCUMENT_PARSE_FAILURE, "<Stream> needs a url")
    parameters: dict[str, str] = {}
    for child in element:
        if child.tag != "Parameter":
            continue
        name, value = child.get("name"), child.get("value", "")
        if not name or len(name) + len(value) >= PARAMETER_MAX_CHARS:
            raise TwimlError(DOCUMENT_PARSE_FAILURE, f"<Parameter name={name!r}> is empty or too long")
        parameters[name] = value
    return Stream(
        url=url,
        name=element.get("name"),
        parameters=parameters,
        status_callback=element.get("statusCallback"),
        status_callback_method=_method(element, "statusCallbackMethod"),
    )
