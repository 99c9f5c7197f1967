"""SIGTERM to a real `callmeback serve` process (one worker, then two) with live calls through the carrier.

While draining: /readyz 503, POST /api/calls 503 JSON, a new inbound call rejected as busy. After
`drain_s` each live call hears the shutdown goodbye to its last mark, its records are all written, and
the process exits 0 in time.
"""

from __future__ import annotations

import asyncio
import signal
import time

import asyncpg
import pytest

from tests.hardening.server_process import FROM_NUMBER, ServerProcess, start_server

GOODBYE = "I'm so sorry, I have to hang up now. Let's talk again soon. Bye!"  # config.toml's default
DRAIN_S, GOODBYE_S = 3.0, 15.0


async def _while_draining(server: ServerProcess, token: str, caller: str) -> None:
    status, body = await server.api("GET", "/readyz")
    assert status == 503 and body["status"] == "draining"
    status, body = await server.api("POST", "/api/calls", token, json={"persona_id": "brad"})
    assert status == 503 and body["error"]["code"] == "shutting_down", body
    # Someone rings in now: the answer webhook rejects it as busy (never a refused connection).
    ringing = await server.carrier("POST", "/_carrier/inbound", json={"from": caller, "to": FROM_NUMBER, "script": []})
    report = await server.carrier("GET", f"/_carrier/calls/{ringing['call_sid']}", params={"wait": "10"})
    assert report["status"] == "busy", report


async def _goodbye_heard(dsn: str, call_id: str, server: ServerProcess, sid: str) -> None:
    report = await server.carrier("GET", f"/_carrier/calls/{sid}", params={"wait": "20"})
    assert report["finished"] and report["streams"][0]["ended_by"] == "server", report
    assert report["streams"][0]["marks"][-1]["flushed"] is False  # the farewell's last mark was played
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT role, text, heard_text, seq FROM utterances WHERE call_id = $1 ORDER BY seq", call_id
        )
        stream_sid = await conn.fetchval("SELECT stream_sid FROM calls WHERE id = $1", call_id)
    finally:
        await conn.close()
    assert stream_sid == report["streams"][0]["stream_sid"]
    seqs = [row["seq"] for row in rows]
    assert seqs == list(range(seqs[0], seqs[0] + len(rows))), rows  # nothing lost, nothing doubled
    last = rows[-1]
    assert last["role"] == "persona" and last["text"] == GOODBYE, rows
    assert last["heard_text"] == GOODBYE  # every sentence's mark came back from the carrier's ear


@pytest.mark.parametrize("workers", [1, 2])
async def test_sigterm_drains_says_goodbye_and_exits_cleanly(make_database, tmp_path, workers: int) -> None:
    dsn = await make_database()
    server = await start_server(tmp_path, dsn, workers=workers, server={"drain_s": DRAIN_S, "goodbye_s": GOODBYE_S})
    try:
        phones = [f"+1415555{1000 + workers * 10 + i:04d}" for i in range(workers)]
        tokens = [await server.verified_user(phone) for phone in phones]
        calls = [await server.place_call(token) for token in tokens]
        started = time.monotonic()
        server.signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
        await _while_draining(server, tokens[0], phones[0])
        for call_id, sid in calls:
            await _goodbye_heard(dsn, call_id, server, sid)
        async with asyncio.timeout(DRAIN_S + GOODBYE_S + 15):
            code = await server.process.wait()
        elapsed = time.monotonic() - started
        assert code == 0, server.log()[-3000:]
        assert DRAIN_S <= elapsed < DRAIN_S + GOODBYE_S + 15
        assert "Traceback" not in server.log()
    finally:
        await server.close()


async def test_a_second_sigterm_stops_at_once_and_still_flushes(make_database, tmp_path) -> None:
    dsn = await make_database()
    server = await start_server(tmp_path, dsn, server={"drain_s": 120.0, "goodbye_s": 60.0})
    try:
        token = await server.verified_user("+14155551099")
        call_id, _ = await server.place_call(token)
        started = time.monotonic()
        server.signal(signal.SIGTERM)
        await asyncio.sleep(0.5)
        server.signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            code = await server.process.wait()
        assert code == 0 and time.monotonic() - started < 20, server.log()[-3000:]
        conn = await asyncpg.connect(dsn)
        try:
            opening = await conn.fetchval("SELECT count(*) FROM utterances WHERE call_id = $1", call_id)
        finally:
            await conn.close()
        assert opening >= 1  # the buffered rows were written before the pool closed
        assert "stopping at once" in server.log()
    finally:
        await server.close()
