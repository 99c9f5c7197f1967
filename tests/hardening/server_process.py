"""A real `callmeback serve` process (one or several workers) for the fault tests, driven over HTTP.

The server runs with the instant stand-in engines (`[engines] instant_stand_ins`, a config overlay) so
no model is loaded; the local carrier listens on a known port so a test can place calls, read call
reports and ring the server through its control API, exactly as an outside client would.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.api.users import PASSWORD
from tests.conftest import JWT_SECRET

REPO = Path(__file__).resolve().parents[2]
FROM_NUMBER = "+14155550100"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def overlay(path: Path, carrier_port: int, recordings: Path, server: dict[str, Any], extra: str = "") -> Path:
    """A CALLMEBACK_CONFIG file: stand-in engines, fast carrier, no memory jobs, the given [server] keys."""
    server_lines = "\n".join(f"{key} = {value!r}" for key, value in server.items())
    path.write_text(
        f"""[server]
log_format = "text"
{server_lines}

[engines]
instant_stand_ins = true

[memory]
run_worker = false

[carrier]
port = {carrier_port}
from_number = "{FROM_NUMBER}"
answer_delay_s = 0.2
progress_step_s = 0.05
calls_per_second = 0.0
recordings_dir = "{recordings}"

[auth]
login_attempts_per_address = 100000
registrations_per_address = 100000
{extra}
"""
    )
    return path


@dataclass
class ServerProcess:
    process: asyncio.subprocess.Process
    port: int
    carrier_port: int
    log_path: Path
    http: aiohttp.ClientSession = field(init=False)

    def __post_init__(self) -> None:
        self.http = aiohttp.ClientSession()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def carrier_url(self) -> str:
        return f"http://127.0.0.1:{self.carrier_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def wait_ready(self, timeout_s: float = 90.0) -> None:
        async with asyncio.timeout(timeout_s):
            while True:
                if self.process.returncode is not None:
                    raise AssertionError(f"server exited with {self.process.returncode}:\n{self.log()[-4000:]}")
                try:
                    async with self.http.get(self.base_url + "/readyz") as response:
                        if response.status == 200:
                            async with self.http.get(self.carrier_url + "/_carrier/numbers") as carrier:
                                if carrier.status == 200:
                                    return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)

    def signal(self, sig: signal.Signals = signal.SIGTERM) -> None:
        self.process.send_signal(sig)

    async def close(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        await self.http.close()

    async def api(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.http.request(method, self.base_url + path, headers=headers, **kwargs) as response:
            body = await response.json() if response.content_type == "application/json" else await response.text()
            return response.status, body

    async def carrier(self, method: str, path: str, **kwargs: Any) -> Any:
        async with self.http.request(method, self.carrier_url + path, **kwargs) as response:
            assert response.status < 300, await response.text()
            return await response.json()

    async def verified_user(self, phone: str) -> str:
        """Sign up and verify `phone` through the API and the carrier's SMS outbox; returns the token."""
        email = f"user-{uuid.uuid4().hex[:10]}@example.test"
        status, body = await self.api(
            "POST", "/api/auth/register", json={"email": email, "password": PASSWORD, "name": "Jordan"}
        )
        assert status == 201, body
        token = body["token"]
        status, body = await self.api("POST", "/api/phone/verify", token, json={"phone": phone})
        assert status == 202, body
        sms = (await self.carrier("GET", "/_carrier/messages", params={"to": phone}))[-1]["body"]
        code = sms.split("code is ")[1][:6]
        status, body = await self.api("POST", "/api/phone/verify/check", token, json={"phone": phone, "code": code})
        assert status == 200, body
        return token

    async def place_call(self, token: str, persona: str = "brad") -> tuple[str, str]:
        """POST /api/calls, then wait until the persona's opening is playing; returns (call id, CallSid)."""
        status, call = await self.api("POST", "/api/calls", token, json={"persona_id": persona})
        assert status == 202, call
        async with asyncio.timeout(30):
            while True:
                sid = next(
                    (c["sid"] for c in await self.carrier("GET", "/_carrier/calls") if c["to"] == call["to"]),
                    None,
                )
                if sid is not None:
                    report = await self.carrier("GET", f"/_carrier/calls/{sid}")
                    if report["streams"] and report["streams"][0]["played_ms"] > 200:
                        return call["id"], sid
                await asyncio.sleep(0.1)


async def start_server(
    tmp: Path, database_url: str, *, workers: int = 1, server: dict[str, Any] | None = None, extra: str = ""
) -> ServerProcess:
    """`callmeback serve` in its own data dir and port, on `database_url`, until closed."""
    port, carrier_port = free_port(), free_port()
    data_dir = tmp / "data"
    recordings = tmp / "recordings"
    recordings.mkdir(parents=True, exist_ok=True)
    config = overlay(tmp / "overlay.toml", carrier_port, recordings, server or {}, extra)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "JWT_SECRET": JWT_SECRET,
        "CALLMEBACK_DATA_DIR": str(data_dir),
        "CALLMEBACK_CONFIG": str(config),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
    }
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_API_BASE", "TWILIO_FROM_NUMBER"):
        env.pop(name, None)
    log_path = tmp / "server.log"
    with log_path.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "orchestrator.cli",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
            cwd=REPO,
            env=env,
            stdout=log_file,
            stderr=asyncio.subprocess.STDOUT,
        )
    running = ServerProcess(process, port, carrier_port, log_path)
    try:
        await running.wait_ready()
    except BaseException:
        await running.close()
        raise
    return running
