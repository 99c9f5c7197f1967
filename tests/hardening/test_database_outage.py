"""PostgreSQL stopped for 10 s under live calls, then started again: the calls go on, nothing is lost.

A PostgreSQL of this test's own (pgserver, its own data dir) is stopped for real with `pg_ctl stop -m fast`
(every connection is cut) while a `callmeback serve` process carries two calls whose callers keep talking.
During the outage /readyz says the database is unreachable, the API and the webhooks answer 503 JSON
(never a 2xx for something not stored), and the calls' turns wait in the recorder's buffer; once the
database is back the pool reconnects by itself and every turn is written, in order, once.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from pgserver._commands import pg_ctl
from twilio.request_validator import RequestValidator

from db.embedded import EmbeddedPostgres
from tests.hardening.server_process import ServerProcess, start_server

FIXTURE = Path(__file__).resolve().parents[1] / "media" / "fixtures" / "call_me_back.wav"  # 1.5 s of speech
LINES = 8
OUTAGE_S = 10.0


class OwnPostgres:
    """This test's PostgreSQL, which it can stop and start like an operator (or a crash) would."""

    def __init__(self, folder: Path) -> None:
        self.embedded = EmbeddedPostgres(folder)

    async def start(self) -> str:
        return await self.embedded.start()

    async def stop_server(self) -> None:
        server = self.embedded._server  # the pgserver handle: its data dir and the system user it runs as
        await asyncio.to_thread(pg_ctl, ["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)

    async def start_server(self) -> None:
        await asyncio.to_thread(self.embedded._server.ensure_postgres_running)

    async def close(self) -> None:
        await self.embedded.stop()


def _script() -> list[dict]:
    script: list[dict] = [{"wait": 2.5}]
    for _ in range(LINES):
        script += [{"play": str(FIXTURE)}, {"wait": 2.5}]
    return [*script, {"hangup": True}]


async def _signed_status(server: ServerProcess, tmp: Path, call_sid: str) -> int:
    """A status callback signed as the carrier signs it (its token is in the server's data dir)."""
    token = (tmp / "data" / "secrets" / "carrier_auth_token").read_text().strip()
    params = {"CallSid": call_sid, "CallStatus": "completed", "SequenceNumber": "9"}
    signature = RequestValidator(token).compute_signature(server.base_url + "/twilio/status", params)
    async with server.http.post(
        server.base_url + "/twilio/status", data=params, headers={"X-Twilio-Signature": signature}
    ) as response:
        return response.status


async def test_calls_survive_a_10_second_database_outage(tmp_path: Path) -> None:
    postgres = OwnPostgres(tmp_path / "pg")
    dsn = await postgres.start()
    server = await start_server(tmp_path, dsn, extra="[database]\ncommand_timeout_s = 3.0\n")
    try:
        phones = ["+14155552001", "+14155552002"]
        tokens = [await server.verified_user(phone) for phone in phones]
        for phone in phones:
            await server.carrier("PUT", f"/_carrier/scenarios/{phone}", json={"script": _script(), "ring_s": 0.2})
        calls = [await server.place_call(token) for token in tokens]
        await asyncio.sleep(4.0)  # the first turns are written normally

        stopped_at = datetime.now(UTC)
        await postgres.stop_server()
        down = time.monotonic()
        status, body = await server.api("GET", "/readyz")
        assert status == 503 and body["reason"] == "database unreachable", body
        status, body = await server.api("GET", "/api/calls", tokens[0])
        assert status == 503 and body["error"]["code"] == "unavailable", body
        status, body = await server.api("POST", "/api/calls", tokens[1], json={"persona_id": "brad"})
        assert status == 503 and body["error"]["code"] == "unavailable", body
        assert await _signed_status(server, tmp_path, calls[0][1]) == 503  # the provider will retry it
        await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down)))
        await postgres.start_server()
        restarted_at = datetime.now(UTC)

        async with asyncio.timeout(30):  # the pool reconnects by itself
            while True:
                if (await server.api("GET", "/readyz"))[0] == 200:
                    break
                await asyncio.sleep(0.2)
        for _, sid in calls:
            report = await server.carrier("GET", f"/_carrier/calls/{sid}", params={"wait": "60"})
            assert report["finished"] and report["streams"][0]["ended_by"] == "phone", report
        await asyncio.sleep(6.0)  # the recorder retries at most 5 s apart

        conn = await asyncpg.connect(dsn)
        try:
            for call_id, _ in calls:
                rows = await conn.fetch(
                    "SELECT seq, role, text, started_at FROM utterances WHERE call_id = $1 ORDER BY seq", call_id
                )
                seqs = [row["seq"] for row in rows]
                assert seqs == list(range(seqs[0], seqs[0] + len(rows))), seqs  # none lost, none doubled
                said = [row for row in rows if row["role"] == "caller"]
                assert len(said) == LINES, [(r["role"], r["text"]) for r in rows]  # every caller turn kept
                assert all(row["text"] == "Call me back tomorrow morning." for row in said)
                during = [row for row in rows if stopped_at <= row["started_at"] <= restarted_at]
                assert len(during) >= 2, "turns spoken during the outage were written afterwards"
                assert [r["started_at"] for r in rows] == sorted(r["started_at"] for r in rows)  # in order
        finally:
            await conn.close()
        log = server.log()
        assert "recorder: write failed" in log  # the outage was real and met by the recorder
        assert " ERROR " not in log and "unhandled error" not in log  # warnings only: no 500, no crash
    finally:
        await server.close()
        await postgres.close()
