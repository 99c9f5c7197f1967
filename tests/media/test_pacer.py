"""Real-time outbound pacing, over a real loopback websocket where timing matters."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from media.pacer import Pacer, PacerSettings

FRAME_MS = 20.0
FRAME = b"\xff" * 160  # 20 ms of mu-law silence


class Log:
    """(monotonic time, item) of everything recorded, and a way to wait for the n-th."""

    def __init__(self) -> None:
        self.items: list[tuple[float, object]] = []
        self._changed = asyncio.Event()

    def record(self, item: object) -> None:
        self.items.append((time.monotonic(), item))
        self._changed.set()

    async def until(self, count: int, timeout_s: float = 5.0) -> None:
        async with asyncio.timeout(timeout_s):
            while len(self.items) < count:
                self._changed.clear()
                await self._changed.wait()


class Recorder(Log):
    """A send() that logs what it is handed."""

    @property
    def sent(self) -> list[tuple[float, object]]:
        return self.items

    async def __call__(self, payload: object) -> None:
        self.record(payload)


async def run_until(pacer: Pacer[bytes] | Pacer[object], log: Log, count: int) -> None:
    """Run the pacer in a TaskGroup until `count` items are logged; cancelling it is how a call ends it."""
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(pacer.run())
        await log.until(count)
        task.cancel()


@pytest.fixture
async def phone() -> AsyncIterator[tuple[str, Log]]:
    """A loopback websocket server playing Twilio's part: it notes when each message arrives."""
    arrivals = Log()

    async def media_stream(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            arrivals.record(json.loads(message.data))
        return ws

    app = web.Application()
    app.router.add_get("/stream", media_stream)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("/stream")), arrivals
    finally:
        await server.close()


async def test_two_seconds_of_frames_at_real_time_over_loopback(phone: tuple[str, Log]) -> None:
    url, arrivals = phone
    lead_ms = 200.0
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:

        async def send(frame: bytes) -> None:
            payload = base64.b64encode(frame).decode()
            await ws.send_str(json.dumps({"event": "media", "streamSid": "MZ1", "media": {"payload": payload}}))

        pacer: Pacer[bytes] = Pacer(PacerSettings(lead_ms=lead_ms), send)
        for _ in range(100):
            pacer.put(FRAME, FRAME_MS)
        assert pacer.queued_ms == 2000
        await run_until(pacer, arrivals, 100)

    stats = pacer.jitter()
    print(f"\nloopback jitter: p50 {stats.p50_ms:.3f} ms, p99 {stats.p99_ms:.3f} ms, max {stats.max_ms:.3f} ms")
    assert stats.count == 100
    assert stats.p99_ms < 10.0  # half a frame even on a busy CI runner; ~1 ms on an idle machine
    assert stats.restarts == 0

    times = [t for t, _ in arrivals.items]
    first = times[0]
    elapsed_s = times[-1] - first
    assert elapsed_s * 1000 == pytest.approx(2000 - FRAME_MS - lead_ms, abs=15)  # no drift over 2 s
    # Audio in the phone's buffer (sent, not yet played) never exceeds the lead plus the frame playing,
    # and stays far from running dry (lead + frame on time; a loaded runner eats a few ms of it).
    ahead_ms = [(n + 1) * FRAME_MS - (t - first) * 1000 for n, t in enumerate(times)]
    burst = int(lead_ms // FRAME_MS) + 1  # the lead goes out at once to fill the buffer
    assert max(ahead_ms) <= lead_ms + FRAME_MS + 10
    assert min(ahead_ms[burst:]) >= lead_ms / 2


async def test_clear_drops_everything_unsent_at_once() -> None:
    send = Recorder()
    pacer: Pacer[object] = Pacer(PacerSettings(lead_ms=100), send)
    for n in range(50):
        pacer.put(n, FRAME_MS)

    async def barge_in_then_new_reply() -> None:
        await asyncio.sleep(0.2)
        dropped = pacer.clear()  # synchronous: nothing can go out between the barge-in and the drop
        cleared_at.append(time.monotonic())
        assert dropped + len(send.sent) == 50
        assert pacer.queued_ms == 0
        sent_before = len(send.sent)
        await asyncio.sleep(0.2)
        assert len(send.sent) == sent_before  # nothing stale after the clear
        reply_at = time.monotonic()
        pacer.put("new", FRAME_MS)
        await asyncio.sleep(0.02)
        assert send.sent[-1][1] == "new"
        assert send.sent[-1][0] - reply_at < 0.010  # fresh clock: the new reply goes out at once

    cleared_at: list[float] = []
    async with asyncio.TaskGroup() as tg:
        runner = tg.create_task(pacer.run())
        await barge_in_then_new_reply()
        runner.cancel()
    # Real time up to the clear: the lead at once, then one frame per 20 ms (however long the sleep took).
    before_clear = [t for t, p in send.sent if p != "new"]
    on_time = int(((cleared_at[0] - before_clear[0]) * 1000 + 100) / FRAME_MS) + 1
    assert abs(len(before_clear) - on_time) <= 1
    assert len(before_clear) < 50


async def test_marks_go_out_right_behind_their_audio() -> None:
    send = Recorder()
    pacer: Pacer[object] = Pacer(PacerSettings(lead_ms=40), send)
    items: list[tuple[object, float]] = [
        ("f0", 20),
        ("f1", 20),
        ("mark-a", 0),
        ("f2", 20),
        ("f3", 20),
        ("f4", 20),
        ("mark-b", 0),
    ]
    for payload, duration in items:
        pacer.put(payload, duration)
    await run_until(pacer, send, len(items))
    assert [p for _, p in send.sent] == [p for p, _ in items]
    times = dict((p, t) for t, p in send.sent)
    # Right behind: well inside the frame period, not a frame later (20 ms) as if a mark were audio.
    assert times["mark-a"] - times["f1"] < FRAME_MS / 2 / 1000
    assert times["mark-b"] - times["f4"] < FRAME_MS / 2 / 1000
    assert times["f4"] - times["f2"] == pytest.approx(0.040, abs=0.008)


async def test_idle_gap_restarts_the_clock_instead_of_bursting_to_catch_up() -> None:
    send = Recorder()
    pacer: Pacer[object] = Pacer(PacerSettings(lead_ms=60), send)
    for n in range(5):
        pacer.put(("first", n), FRAME_MS)

    async def second_reply_after_a_pause() -> None:
        await asyncio.sleep(0.4)  # everything played long ago
        for n in range(20):
            pacer.put(("second", n), FRAME_MS)

    async with asyncio.TaskGroup() as tg:
        runner = tg.create_task(pacer.run())
        await second_reply_after_a_pause()
        await send.until(25)
        runner.cancel()

    second = [t for t, (name, _) in send.sent if name == "second"]  # type: ignore[misc]
    # Lead (3 frames) plus the first go at once; the other 16 follow at 20 ms each, not in a burst.
    assert second[3] - second[0] < FRAME_MS / 2 / 1000  # a burst: well inside one frame period
    assert second[-1] - second[0] == pytest.approx(16 * 0.020, abs=0.010)
    assert pacer.jitter().restarts == 1


async def test_a_failing_send_ends_the_pacer() -> None:
    async def broken(_: object) -> None:
        raise ConnectionResetError("socket closed")

    pacer: Pacer[object] = Pacer(PacerSettings(lead_ms=20), broken)
    pacer.put("frame", FRAME_MS)
    with pytest.raises(ConnectionResetError):
        async with asyncio.timeout(1):
            await pacer.run()


def test_lead_under_one_frame_is_refused() -> None:
    with pytest.raises(ValueError, match="lead_ms"):
        PacerSettings(lead_ms=5)
