"""OpenAiLanguageModel against a scripted OpenAI-compatible SSE server on loopback (no model needed).

The local Qwen only ever emits tool calls as content, so the native `delta.tool_calls` path, the
request body and the error mapping are checked here, through the real SDK and a real socket.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from personas.llm import (
    Done,
    LanguageModelError,
    LlmEvent,
    OpenAiLanguageModel,
    TextDelta,
    ToolCall,
    Usage,
)
from personas.tool_call_text import ContentToolCallScanner
from tests.engines.settings import LOCAL_REQUESTS

Script = Callable[[web.Request, dict[str, Any]], Any]
TOOLS = [{"type": "function", "function": {"name": "end_call", "parameters": {"type": "object"}}}]


def _chunk(delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None) -> bytes:
    body = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage is not None:
        body["choices"], body["usage"] = [], usage
    return b"data: " + json.dumps(body).encode() + b"\n\n"


@pytest.fixture
async def scripted() -> AsyncIterator[Callable[[Script], Any]]:
    """Start a server whose completions handler is the given script; yields (model, requests)."""
    servers: list[TestServer] = []
    models: list[OpenAiLanguageModel] = []

    async def make(script: Script) -> tuple[OpenAiLanguageModel, list[dict[str, Any]]]:
        received: list[dict[str, Any]] = []

        async def completions(request: web.Request) -> web.StreamResponse:
            received.append(await request.json())
            return await script(request, received[-1])

        app = web.Application()
        app.router.add_post("/v1/chat/completions", completions)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        settings = replace(LOCAL_REQUESTS, base_url=str(server.make_url("/v1")), api_key="k", model="m")
        models.append(OpenAiLanguageModel(settings))
        return models[-1], received

    yield make
    for model in models:
        await model.aclose()
    for server in servers:
        await server.close()


async def _sse(request: web.Request, chunks: list[bytes], cut: bool = False) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for chunk in chunks:
        await response.write(chunk)
    if cut:
        assert request.transport is not None
        request.transport.close()
        return response
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


async def _events(model: OpenAiLanguageModel, **kwargs: Any) -> list[LlmEvent]:
    async with aclosing(model.complete([{"role": "user", "content": "hi"}], **kwargs)) as events:
        return [event async for event in events]


async def test_native_tool_call_fragments_are_assembled(scripted: Callable[[Script], Any]) -> None:
    async def script(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        call = {
            "index": 0,
            "id": "call_1",
            "type": "function",
            "function": {"name": "end_call", "arguments": ""},
        }
        return await _sse(
            request,
            [
                _chunk({"role": "assistant", "content": "Bye "}),
                _chunk({"content": "for now."}),
                _chunk({"tool_calls": [call]}),
                _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"rea'}}]}),
                _chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'son": "bye"}'}}]}),
                _chunk({}, finish="tool_calls"),
                _chunk({}, usage={"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21}),
            ],
        )

    model, received = await scripted(script)
    events = await _events(model, tools=TOOLS, temperature=0.25, max_tokens=33)
    assert events == [
        TextDelta("Bye "),
        TextDelta("for now."),
        ToolCall("call_1", "end_call", {"reason": "bye"}, "native"),
        Done("tool_calls", Usage(12, 9, None)),
    ]
    body = received[0]
    assert body["temperature"] == 0.25 and isinstance(body["temperature"], float)
    assert body["max_tokens"] == 33 and body["stream"] is True and body["tools"] == TOOLS


async def test_http_errors_and_cut_streams_become_language_model_errors(
    scripted: Callable[[Script], Any],
) -> None:
    async def fails(request: web.Request, body: dict[str, Any]) -> web.Response:
        return web.json_response({"error": {"message": "overloaded"}}, status=503)

    async def cut(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        return await _sse(request, [_chunk({"content": "Hel"})], cut=True)

    for script in (fails, cut):
        model, _ = await scripted(script)
        with pytest.raises(LanguageModelError):
            await _events(model)


async def test_prefill_is_one_unheard_token_and_only_where_enabled(scripted: Callable[[Script], Any]) -> None:
    async def completion(request: web.Request, body: dict[str, Any]) -> web.Response:
        if len(received) > 1:
            return web.json_response({"error": {"message": "overloaded"}}, status=503)
        message = {"role": "assistant", "content": "Ok"}
        choice = {"index": 0, "message": message, "finish_reason": "length"}
        usage = {"prompt_tokens": 40, "completion_tokens": 1, "total_tokens": 41}
        return web.json_response(
            {"id": "c1", "object": "chat.completion", "created": 0, "model": "m", "choices": [choice], "usage": usage}
        )

    model, received = await scripted(completion)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "assistant", "content": "Hi Jordan!"}]
    await model.prefill(messages, TOOLS)
    assert received == [], "off by default: a hosted provider would bill it"

    enabled = OpenAiLanguageModel(replace(model._settings, prefill=True))
    try:
        await enabled.prefill(messages, TOOLS)
        [body] = received
        assert body["messages"] == messages and body["tools"] == TOOLS
        assert body["max_tokens"] == 1 and not body.get("stream")
        await enabled.prefill(messages, TOOLS)  # the provider failing is not the call's problem
        assert len(received) == 2
    finally:
        await enabled.aclose()


@pytest.mark.parametrize(
    ("pieces", "text", "calls"),
    [
        (['{"name": "end_call", "arguments": {"reason": "bye"}}'], "", [("end_call", {"reason": "bye"})]),
        (["Talk soon! ", '{"name": "end', '_call", "arguments": {}}'], "Talk soon! ", [("end_call", {})]),
        (["```json\n", '{"name": "end_call", "arguments": "{}"}', "\n```"], "\n", [("end_call", {})]),
        (["<tool_call>", '{"name": "end_call", "arguments": {}}', "</tool_call>"], "", [("end_call", {})]),
        (
            ['{"tool_call": {"name": "end_call", "arguments": {"x": "} {"}}}'],
            "",
            [("end_call", {"x": "} {"})],
        ),
        (['{"response": "Hello there!"}'], "Hello there!", []),
        (['{"name": "launch", "arguments": {}} ok'], " ok", []),
        (["Fine, a < b and `code`."], "Fine, a < b and `code`.", []),
        (['Bye {"name": "end_call", "argu'], "Bye ", []),
    ],
)
def test_content_scanner_speaks_text_and_never_json(
    pieces: list[str], text: str, calls: list[tuple[str, dict[str, Any]]]
) -> None:
    for split in (pieces, list("".join(pieces))):  # as sent, and one character at a time
        scanner = ContentToolCallScanner({"end_call"})
        spoken, found = "", []
        for piece in [*split, None]:
            scan = scanner.finish() if piece is None else scanner.feed(piece)
            spoken += scan.text
            found += [(c.name, dict(c.arguments)) for c in scan.calls]
        assert (spoken, found) == (text, calls)
