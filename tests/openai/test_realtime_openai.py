"""RealtimeSession through the real `websockets` client against the fake Realtime endpoint."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable

import pytest

from media.realtime_openai import (
    AudioDelta,
    FunctionCallDone,
    InputTranscript,
    RealtimeError,
    RealtimeEvent,
    RealtimeSession,
    RealtimeSettings,
    ResponseDone,
    ServerError,
    SessionUpdated,
    SpeechStarted,
    SpeechStopped,
    TranscriptDelta,
)
from tests.openai.fake_openai import API_KEY, FakeOpenAi

TOOLS = [{"type": "function", "name": "hang_up", "description": "End the call.", "parameters": {"type": "object"}}]


def _frame(seed: int) -> bytes:
    """20 ms of 8 kHz mu-law: every byte value appears somewhere across frames."""
    return bytes((seed * 37 + i) % 256 for i in range(160))


async def test_session_update_has_the_ga_shape(
    fake_openai: FakeOpenAi, realtime_settings: Callable[..., RealtimeSettings]
) -> None:
    settings = realtime_settings(silence_duration_ms=650)
    async with RealtimeSession(settings, instructions="You are Brad.", tools=TOOLS) as session:
        assert session.session["audio"]["output"]["voice"] == "marin"  # what the server confirmed

    headers = fake_openai.realtime_headers[0]
    assert headers["Authorization"] == f"Bearer {API_KEY}"
    assert "OpenAI-Beta" not in headers
    update = fake_openai.realtime_received[0]
    assert update == {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "output_modalities": ["audio"],
            "audio": {
                "input": {
                    "format": {"type": "audio/pcmu"},
                    "turn_detection": {
                        "type": "server_vad",
                        "threshold": 0.5,
                        "prefix_padding_ms": 300,
                        "silence_duration_ms": 650,
                        "create_response": True,
                        "interrupt_response": True,
                    },
                    "transcription": {"model": "gpt-4o-mini-transcribe"},
                },
                "output": {"format": {"type": "audio/pcmu"}, "voice": "marin"},
            },
            "instructions": "You are Brad.",
            "tools": TOOLS,
        },
    }
    assert fake_openai.problems == []


async def test_audio_passes_through_as_pcmu_base64_unchanged(
    fake_openai: FakeOpenAi, realtime_settings: Callable[..., RealtimeSettings]
) -> None:
    frames = [_frame(n) for n in range(8)]
    async with RealtimeSession(realtime_settings(), instructions="Hi.") as session:
        events = session.events()
        for frame in frames:
            await session.send_audio(frame)
        deltas = [await anext(events) for _ in frames]

    appends = [e for e in fake_openai.realtime_received if e["type"] == "input_audio_buffer.append"]
    assert [base64.b64decode(e["audio"]) for e in appends] == frames
    assert [e["audio"] for e in appends] == [base64.b64encode(f).decode() for f in frames]
    assert deltas == [AudioDelta("resp_1", "item_assistant_1", frame) for frame in frames]


async def test_beta_audio_event_names_are_accepted(
    fake_openai: FakeOpenAi, realtime_settings: Callable[..., RealtimeSettings]
) -> None:
    fake_openai.beta_audio_events = True
    async with RealtimeSession(realtime_settings(), instructions="Hi.") as session:
        events = session.events()
        await session.send_audio(_frame(1))
        assert await anext(events) == AudioDelta("resp_1", "item_assistant_1", _frame(1))
        await fake_openai.push(
            {"type": "response.audio_transcript.delta", "response_id": "resp_1", "item_id": "i", "delta": "Hel"}
        )
        assert await anext(events) == TranscriptDelta("resp_1", "i", "Hel")


async def test_truncate_is_clamped_to_the_audio_received_for_the_item(
    fake_openai: FakeOpenAi, realtime_settings: Callable[..., RealtimeSettings]
) -> None:
    async with RealtimeSession(realtime_settings(), instructions="Hi.") as session:
        events = session.events()
        for n in range(3):  # 60 ms of assistant audio
            await session.send_audio(_frame(n))
            await anext(events)
        await fake_openai.push({"type": "input_audio_buffer.speech_started", "item_id": "u1", "audio_start_ms": 900})
        assert await anext(events) == SpeechStarted("u1", 900)
        assert await session.truncate("item_assistant_1", 5000) == 60  # the caller cannot have heard more
        assert await session.truncate("item_assistant_1", 40) == 40
        assert await session.truncate("item_assistant_1", -5) == 0
        assert await session.truncate("never_heard", 300) == 0
        # the server refuses a truncate of an unknown item: an event, not an exception
        error = await anext(events)

    truncates = [e for e in fake_openai.realtime_received if e["type"] == "conversation.item.truncate"]
    assert [(t["item_id"], t["content_index"], t["audio_end_ms"]) for t in truncates] == [
        ("item_assistant_1", 0, 60),
        ("item_assistant_1", 0, 40),
        ("item_assistant_1", 0, 0),
        ("never_heard", 0, 0),
    ]
    assert isinstance(error, ServerError) and error.code == "item_not_found"
    assert fake_openai.problems == []


async def test_server_events_become_dataclasses(
    fake_openai: FakeOpenAi, realtime_settings: Callable[..., RealtimeSettings]
) -> None:
    script = [
        {"type": "input_audio_buffer.speech_started", "item_id": "u1", "audio_start_ms": 120},
        {"type": "input_audio_buffer.committed", "item_id": "u1"},  # not surfaced
        {"type": "input_audio_buffer.speech_stopped", "item_id": "u1", "audio_end_ms": 1480},
        {"type": "conversation.item.input_audio_transcription.completed", "item_id": "u1", "transcript": "Call me"},
        {"type": "response.output_audio_transcript.delta", "response_id": "r1", "item_id": "a1", "delta": "Sure"},
        {
            "type": "response.function_call_arguments.done",
            "response_id": "r1",
            "item_id": "f1",
            "call_id": "call_1",
            "name": "hang_up",
            "arguments": '{"reason": "done"}',
        },
        {
            "type": "response.function_call_arguments.done",
            "response_id": "r1",
            "item_id": "f2",
            "call_id": "call_2",
            "name": "hang_up",
            "arguments": "{not json",
        },
        {"type": "response.done", "response": {"id": "r1", "status": "completed", "usage": {"total_tokens": 9}}},
        {"type": "input_audio_buffer.speech_started", "item_id": "u2", "audio_start_ms": "soon"},  # malformed
        {"type": "session.updated", "session": {"type": "realtime", "instructions": "x"}},
        {
            "type": "error",
            "event_id": "e9",
            "error": {"type": "invalid_request_error", "code": "bad", "message": "nope", "event_id": "c3"},
        },
    ]
    async with RealtimeSession(realtime_settings(), instructions="Hi.") as session:
        events = session.events()
        for event in script:
            await fake_openai.push(event)
        received = [await anext(events) for _ in range(9)]

    assert received == [
        SpeechStarted("u1", 120),
        SpeechStopped("u1", 1480),
        InputTranscript("u1", "Call me"),
        TranscriptDelta("r1", "a1", "Sure"),
        FunctionCallDone("r1", "f1", "call_1", "hang_up", {"reason": "done"}, '{"reason": "done"}'),
        FunctionCallDone("r1", "f2", "call_2", "hang_up", {}, "{not json"),
        ResponseDone("r1", "completed", {"total_tokens": 9}),
        SessionUpdated({"type": "realtime", "instructions": "x"}),
        ServerError("invalid_request_error", "bad", "nope", "c3"),
    ]


async def test_cancel_and_tool_output_are_sent(
    fake_openai: FakeOpenAi, realtime_settings: Callable[..., RealtimeSettings]
) -> None:
    async with RealtimeSession(realtime_settings(), instructions="Hi.") as session:
        events = session.events()
        await session.cancel_response()
        assert await anext(events) == ResponseDone("resp_1", "cancelled", None)
        await session.send_function_output("call_1", '{"ok": true}')
        await session.create_response()
        assert await anext(events) == ResponseDone("resp_2", "completed", None)  # item.created is not surfaced
    sent = fake_openai.realtime_received[-3:]
    assert sent[1] == {
        "type": "conversation.item.create",
        "item": {"type": "function_call_output", "call_id": "call_1", "output": '{"ok": true}'},
    }
    assert sent[2] == {"type": "response.create", "response": {}}


async def test_a_refused_configuration_or_key_fails_at_the_start(
    fake_openai: FakeOpenAi, realtime_settings: Callable[..., RealtimeSettings]
) -> None:
    with pytest.raises(RealtimeError, match="InvalidStatus"):
        async with RealtimeSession(realtime_settings(api_key="sk-wrong"), instructions="Hi."):
            pass
    with pytest.raises(RealtimeError, match=r"session.update refused: invalid_value: session.type"):
        session = RealtimeSession(realtime_settings(), instructions="Hi.")
        session.session_config = lambda: {"type": "transcription"}  # type: ignore[method-assign]
        async with session:
            pass
    fake_openai.answer_session_update = False
    with pytest.raises(RealtimeError, match=r"not ready within 0\.3 s"):
        async with RealtimeSession(realtime_settings(connect_timeout_s=0.3), instructions="Hi."):
            pass
    with pytest.raises(RealtimeError, match="cannot open"):
        async with RealtimeSession(realtime_settings(base_url="http://127.0.0.1:9/v1"), instructions="Hi."):
            pass


async def test_a_lost_connection_ends_events_with_an_error_but_our_close_does_not(
    fake_openai: FakeOpenAi, realtime_settings: Callable[..., RealtimeSettings]
) -> None:
    async with RealtimeSession(realtime_settings(), instructions="Hi.") as session:
        events = session.events()
        await fake_openai.drop_realtime()
        with pytest.raises(RealtimeError, match="lost"):
            await anext(events)
        with pytest.raises(RealtimeError):
            await session.send_audio(_frame(0))

    received: list[RealtimeEvent] = []
    first = asyncio.Event()

    async def read(session: RealtimeSession) -> None:
        async for event in session.events():
            received.append(event)
            first.set()

    async with RealtimeSession(realtime_settings(), instructions="Hi.") as session, asyncio.TaskGroup() as tg:
        tg.create_task(read(session))
        await session.send_audio(_frame(0))
        await first.wait()
        await session.aclose()  # from another task than the reader: the hang-up path
    assert received == [AudioDelta("resp_1", "item_assistant_1", _frame(0))]
    assert [event async for event in session.events()] == []
