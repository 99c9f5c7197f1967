"""The local carrier in its own OS process, driven over its `/_carrier/...` control API.

The call benchmark measures the server. With the carrier in the server's process, its 200 phones (two
50 Hz clocks and a websocket client each) shared the server's event loop and CPU, so loop lag and
jitter were the phones' as much as the server's. Here the carrier runs exactly as `callmeback carrier`
does, in a child process with its own interpreter and loop, and the server reaches it as it reaches
Twilio (TWILIO_API_BASE); the benchmark talks to it over HTTP like any external tool.
"""

from __future__ import annotations

import asyncio
import base64
import multiprocessing
import resource
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, fields
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp

from orchestrator.carrier import CallReport, CarrierSettings, ClearEvent, MarkEcho, StreamReport
from orchestrator.carrier.report import CallbackDelivery, CarrierErrorRecord


@dataclass(frozen=True)
class CarrierCpu:
    """CPU seconds the carrier process used (user + system), for the far end's share of the machine."""

    seconds: float


def _serve(settings: CarrierSettings, conn: Connection) -> None:
    """Child process body: serve until the parent says stop, then report CPU time and exit."""
    from orchestrator.carrier import running_carrier

    async def run() -> None:
        async with running_carrier(settings) as running:
            conn.send(running.base_url)
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, conn.recv)  # blocks a worker thread, not the loop
        usage = resource.getrusage(resource.RUSAGE_SELF)
        conn.send(CarrierCpu(usage.ru_utime + usage.ru_stime))

    asyncio.run(run())


class CarrierProcess:
    """A carrier child process and an HTTP client for its control API."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base_url = base_url

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        async with self.session.request(method, self.base_url + path, **kwargs) as response:
            body = await response.json()
            if response.status >= 300:
                raise RuntimeError(f"carrier {method} {path}: {response.status} {body}")
            return body

    async def set_scenario(self, number: str, script: list[dict[str, Any]], ring_s: float) -> None:
        await self._json("PUT", f"/_carrier/scenarios/{number}", json={"ring_s": ring_s, "script": script})

    async def last_code(self, to: str) -> str:
        messages = await self._json("GET", "/_carrier/messages", params={"to": to})
        return messages[-1]["body"].split("code is ")[1][:6]

    async def call_sids(self) -> list[str]:
        return [call["sid"] for call in await self._json("GET", "/_carrier/calls")]

    async def wait_finished(self, sid: str, timeout_s: float) -> bool:
        report = await self._json("GET", f"/_carrier/calls/{sid}", params={"wait": str(timeout_s)})
        return bool(report["finished"])

    async def report(self, sid: str) -> CallReport:
        return report_from_json(await self._json("GET", f"/_carrier/calls/{sid}", params={"audio": "1"}))


@asynccontextmanager
async def carrier_process(settings: CarrierSettings) -> AsyncIterator[tuple[CarrierProcess, list[CarrierCpu]]]:
    """Start the carrier in a spawned process; yields its client and a list that holds the carrier's
    CPU time once the block has exited (the child reports it as it stops)."""
    context = multiprocessing.get_context("spawn")  # a clean interpreter: no copy of our loop or pool
    parent, child = context.Pipe()
    process = context.Process(target=_serve, args=(settings, child), name="bench-carrier", daemon=True)
    process.start()
    loop = asyncio.get_running_loop()
    cpu: list[CarrierCpu] = []
    try:
        ready = await loop.run_in_executor(None, parent.poll, 60.0)
        if not ready:
            raise RuntimeError("the carrier process did not start within 60 s")
        base_url = parent.recv()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as session:
            yield CarrierProcess(session, base_url), cpu
    finally:
        if process.is_alive():
            parent.send("stop")
            if await loop.run_in_executor(None, parent.poll, 30.0):
                cpu.append(parent.recv())
        await loop.run_in_executor(None, process.join, 10.0)
        if process.is_alive():
            process.kill()


def report_from_json(data: dict[str, Any]) -> CallReport:
    """A CallReport from the control API's JSON (`audio=1`): the fields bench/report.py and bench/ear.py read."""
    streams = []
    for raw in data["streams"]:
        stream = {f.name: raw[f.name] for f in fields(StreamReport) if f.name in raw}
        stream["marks"] = [MarkEcho(**m) for m in raw["marks"]]
        stream["clears"] = [ClearEvent(**c) for c in raw["clears"]]
        streams.append(StreamReport(**stream))
    return CallReport(
        call_sid=data["call_sid"],
        direction=data["direction"],
        to=data["to"],
        from_=data["from"],
        status=data["status"],
        answered_by=data["answered_by"],
        duration_s=data["duration_s"],
        callbacks=[CallbackDelivery(**c) for c in data["callbacks"]],
        twiml=data["twiml"],
        said=data["said"],
        unsupported_verbs=data["unsupported_verbs"],
        streams=streams,
        errors=[CarrierErrorRecord(**e) for e in data["errors"]],
        heard_ms=data["heard_ms"],
        heard_pcm=base64.b64decode(data["heard_pcm_b64"]),
        caller_pcm=base64.b64decode(data["caller_pcm_b64"]),
        recordings={track: Path(path) for track, path in data["recordings"].items()},
        finished=data["finished"],
    )
