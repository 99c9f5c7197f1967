"""Test harness: a carrier and a tiny "application" on real loopback sockets.

The application side validates every webhook with the SDK's RequestValidator and records what it
got, so tests assert on what actually crossed the wire.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import web
from aiohttp.test_utils import TestServer
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from orchestrator.carrier import Carrier, CarrierNumber, CarrierSettings
from orchestrator.twilio_client import twilio_client

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "test-auth-token-0123456789"
OUR_NUMBER = "+15550001000"
CALLEE = "+15550002000"


def make_settings(tmp_path: Path, **overrides: Any) -> CarrierSettings:
    values: dict[str, Any] = {
        "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "host": "127.0.0.1",
        "port": 0,
        "numbers": (CarrierNumber(OUR_NUMBER, None, "POST", None),),
        "recordings_dir": tmp_path / "recordings",
        "allow_insecure_ws": True,
        "answer_delay_s": 0.05,
        "progress_step_s": 0.01,
        "calls_per_second": 0.0,
        "say_words_per_minute": 1200.0,
        "webhook_timeout_s": 5.0,
    }
    values.update(overrides)
    return CarrierSettings(**values)


@dataclass
class Hit:
    """One webhook request as the application received it."""

    path: str
    method: str
    params: dict[str, str]
    signature_valid: bool
    at: float


StreamHandler = Callable[[web.WebSocketResponse, web.Request], Awaitable[None]]


@dataclass
class AppSide:
    """Our stand-in for the orchestrator server: answer TwiML, status sink, media-stream endpoint."""

    server: TestServer
    twiml: dict[str, str] = field(default_factory=dict)  # path -> TwiML document
    hits: list[Hit] = field(default_factory=list)
    stream_handler: StreamHandler | None = None
    upgrade_headers: list[dict[str, str]] = field(default_factory=list)
    hit_arrived: asyncio.Event = field(default_factory=asyncio.Event)
    stream_errors: list[BaseException] = field(default_factory=list)  # failed asserts in handlers

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    def ws_url(self, path: str = "/stream") -> str:
        return self.url(path).replace("http://", "ws://")

    def on(self, path: str) -> list[Hit]:
        return [hit for hit in self.hits if hit.path == path]

    async def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
        """Wait until the webhooks received so far satisfy `predicate`."""
        async with asyncio.timeout(timeout_s):
            while not predicate():
                self.hit_arrived.clear()
                await self.hit_arrived.wait()


def build_app_side() -> tuple[web.Application, Callable[[TestServer], AppSide]]:
    validator = RequestValidator(AUTH_TOKEN)
    holder: dict[str, AppSide] = {}

    async def record(request: web.Request) -> Hit:
        form = await request.post()
        params = {key: str(value) for key, value in form.items()}
        if request.method == "GET":
            params = {}
        valid = validator.validate(str(request.url), params, request.headers.get("X-Twilio-Signature", ""))
        hit = Hit(
            request.path,
            request.method,
            params or dict(request.query),
            valid,
            asyncio.get_running_loop().time(),
        )
        holder["side"].hits.append(hit)
        holder["side"].hit_arrived.set()
        return hit

    async def webhook(request: web.Request) -> web.Response:
        await record(request)
        side = holder["side"]
        if request.path in side.twiml:
            return web.Response(text=side.twiml[request.path], content_type="application/xml")
        return web.Response(status=204)

    async def stream(request: web.Request) -> web.WebSocketResponse:
        side = holder["side"]
        side.upgrade_headers.append(dict(request.headers))
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        try:
            if side.stream_handler is not None:
                await side.stream_handler(ws, request)
        except Exception as exc:
            side.stream_errors.append(exc)
            raise
        finally:
            await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/stream", stream)
    app.router.add_route("*", "/{tail:.*}", webhook)

    def bind(server: TestServer) -> AppSide:
        holder["side"] = AppSide(server)
        return holder["side"]

    return app, bind


@dataclass
class CarrierUnderTest:
    carrier: Carrier
    base_url: str
    server: TestServer

    def sdk(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN) -> Client:
        return twilio_client(self.base_url, account_sid, auth_token)


def tone_pcm(seconds: float, rate_hz: int = 8000, freq_hz: float = 440.0, amplitude: float = 0.5) -> bytes:
    """A sine tone as PCM16 little-endian mono: audible, easy to find again by energy."""
    t = np.arange(round(seconds * rate_hz)) / rate_hz
    return (amplitude * 32767 * np.sin(2 * np.pi * freq_hz * t)).astype("<i2").tobytes()


def rms(pcm16: bytes) -> float:
    samples = np.frombuffer(pcm16, dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(samples**2))) if len(samples) else 0.0


def loud_ms(pcm16: bytes, threshold: float = 1000.0) -> float:
    """Milliseconds of 20 ms windows whose RMS is above `threshold` (8 kHz PCM16)."""
    window = 2 * 160
    return 20.0 * sum(rms(pcm16[i : i + window]) > threshold for i in range(0, len(pcm16), window))
