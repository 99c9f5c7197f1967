"""The language model contract, and its one implementation over the `openai` SDK.

One code path serves production OpenAI, any OpenAI-compatible endpoint (vLLM, Groq, ...) and the
embedded llama.cpp server (`personas/local_llm.py`): only `base_url`, `api_key` and `model` differ.
A reply is a stream of small events: text as it comes (so TTS can start on the first sentence),
tool calls once complete, then Done. Any transport or API failure surfaces as LanguageModelError,
the one thing a caller catches to speak its fallback line.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import openai

from media.backoff import Backoff
from personas.tool_call_text import ContentToolCallScanner

_log = logging.getLogger(__name__)

Message = Mapping[str, Any]
"""An OpenAI chat message: {"role": ..., "content": ...} (plus tool fields)."""

ToolSpec = Mapping[str, Any]
"""An OpenAI tool: {"type": "function", "function": {"name", "description", "parameters"}}."""


class LanguageModelError(Exception):
    """The model could not produce a reply (network, timeout, HTTP status, bad stream)."""


@dataclass(frozen=True)
class TextDelta:
    """A piece of the spoken reply, in order."""

    text: str


@dataclass(frozen=True)
class ToolCall:
    """A complete tool call. `source` says whether the server parsed it or we recovered it from text."""

    id: str
    name: str
    arguments: Mapping[str, Any]
    source: Literal["native", "content"] = "native"


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    cached_prompt_tokens: int | None = None


@dataclass(frozen=True)
class Done:
    """End of one reply; usage is None when the server does not report it."""

    finish_reason: str | None
    usage: Usage | None = None


LlmEvent = TextDelta | ToolCall | Done


class LanguageModel(Protocol):
    """Streams one reply. Cancelling the iteration (barge-in) closes the request."""

    def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] = (),
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> AsyncIterator[LlmEvent]: ...

    async def prefill(self, messages: Sequence[Message], tools: Sequence[ToolSpec] = ()) -> None:
        """Have the provider read `messages` now, so a later reply that extends them starts from its
        prompt cache. Best effort: never raises for the provider's failures."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class OpenAiLlmSettings:
    """Where to send chat completions and how.

    `timeout_s` bounds connect and each read, i.e. a stall, not the whole reply. `max_retries` is the
    SDK's: only failures before any token (connect, 429, 5xx), so a retry never repeats speech.
    `reuse_connections` False sends `Connection: close`: llama.cpp's server sometimes drops a kept-alive
    connection right after a streamed reply (seen here as "Server disconnected without sending a
    response" on the next turn); on loopback a fresh connection costs well under a millisecond.
    `prefill` lets `prefill()` send its one-token request: for a server whose prompt cache we own (the
    embedded llama.cpp); hosted providers cache prefixes by themselves and would bill the request.
    """

    base_url: str
    api_key: str = field(repr=False)
    model: str
    temperature: float
    max_tokens: int
    timeout_s: float
    max_retries: int
    reuse_connections: bool
    prefill: bool = False


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class OpenAiLanguageModel:
    """LanguageModel over `AsyncOpenAI` streaming chat completions."""

    def __init__(self, settings: OpenAiLlmSettings) -> None:
        self._settings = settings
        self._client = openai.AsyncOpenAI(
            base_url=settings.base_url,
            api_key=settings.api_key,
            timeout=settings.timeout_s,
            max_retries=settings.max_retries,
            default_headers=None if settings.reuse_connections else {"Connection": "close"},
        )
        self.backoff = Backoff(f"language model at {settings.base_url}")

    async def aclose(self) -> None:
        await self._client.close()

    async def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] = (),
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> AsyncIterator[LlmEvent]:
        request: dict[str, Any] = {
            "model": self._settings.model,
            "messages": list(messages),
            "stream": True,
            "stream_options": {"include_usage": True},
            # a number, always: a string here was a shipped bug in this product's ancestor
            "temperature": float(self._settings.temperature if temperature is None else temperature),
            "max_tokens": int(self._settings.max_tokens if max_tokens is None else max_tokens),
        }
        if tools:
            request["tools"] = list(tools)
        tool_names = [t["function"]["name"] for t in tools if "function" in t]
        scanner = ContentToolCallScanner(tool_names) if tools else None
        partial: dict[int, _PartialCall] = {}
        finish_reason: str | None = None
        usage: Usage | None = None
        content_calls = 0
        if refusal := self.backoff.refusal():
            raise LanguageModelError(refusal)
        try:
            stream = await self._client.chat.completions.create(**request)
            self.backoff.succeeded()  # it answered: a stream that breaks later is not the provider being down
            async with stream:
                async for chunk in stream:
                    if chunk.usage is not None:
                        usage = _usage(chunk.usage)
                    if not chunk.choices:
                        continue
                    choice = chunk.choices[0]
                    finish_reason = choice.finish_reason or finish_reason
                    delta = choice.delta
                    for fragment in delta.tool_calls or ():
                        call = partial.setdefault(fragment.index, _PartialCall())
                        call.id = fragment.id or call.id
                        if fragment.function is not None:
                            call.name += fragment.function.name or ""
                            call.arguments.append(fragment.function.arguments or "")
                    if not delta.content:
                        continue
                    if scanner is None:
                        yield TextDelta(delta.content)
                        continue
                    scan = scanner.feed(delta.content)
                    if scan.text:
                        yield TextDelta(scan.text)
                    for found in scan.calls:
                        content_calls += 1
                        yield ToolCall(f"content-{content_calls}", found.name, found.arguments, "content")
        except openai.OpenAIError as error:  # the SDK wraps transport errors, mid-stream too
            self.backoff.failed()
            raise LanguageModelError(f"{type(error).__name__}: {error}") from error
        if scanner is not None:
            scan = scanner.finish()
            if scan.text:
                yield TextDelta(scan.text)
        for index in sorted(partial):
            yield _assembled(partial[index], index)
        yield Done(finish_reason, usage)

    async def prefill(self, messages: Sequence[Message], tools: Sequence[ToolSpec] = ()) -> None:
        """A one-token request the caller never hears: the server reads the prompt into its cache."""
        if not self._settings.prefill or self.backoff.refusal():
            return
        request: dict[str, Any] = {
            "model": self._settings.model,
            "messages": list(messages),
            "temperature": 0.0,
            "max_tokens": 1,
        }
        if tools:
            request["tools"] = list(tools)
        try:
            await self._client.chat.completions.create(**request)
        except openai.OpenAIError as error:  # the reply itself will meet (and report) the same failure
            _log.info("prefill failed: %s", type(error).__name__)


def _assembled(call: _PartialCall, index: int) -> ToolCall:
    """Join streamed argument fragments; a model that writes broken JSON gets empty arguments."""
    raw = "".join(call.arguments).strip()
    try:
        arguments = json.loads(raw) if raw else {}
    except ValueError:
        _log.warning("tool %s: unparsable arguments %.120s", call.name, raw)
        arguments = {}
    if not isinstance(arguments, dict):
        arguments = {}
    return ToolCall(call.id or f"call-{index}", call.name, arguments, "native")


def _usage(raw: Any) -> Usage:
    details = getattr(raw, "prompt_tokens_details", None)
    return Usage(
        prompt_tokens=int(raw.prompt_tokens or 0),
        completion_tokens=int(raw.completion_tokens or 0),
        cached_prompt_tokens=getattr(details, "cached_tokens", None),
    )
