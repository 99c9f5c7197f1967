"""One real flow (sign-up, login, SMS phone verification, a call through the local carrier) observed from
outside: every log line of every library is redacted and carries its ids, and /metrics counts the call."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from orchestrator.carrier import HangUp, PlayWav, Scenario, Wait
from orchestrator.logs import setup_logging
from orchestrator.metrics import Metrics, current_metrics
from orchestrator.redaction import redact
from tests.api.users import PASSWORD
from tests.conftest import JWT_SECRET
from tests.scripted_engines import LanguageModelError, scripted_engines
from tests.telephony.test_outbound_call import FIXTURES, wait_for_call_end

PHONE = "+14155550142"
LOGGERS = ("", "aiohttp", "twilio", "openai", "media", "orchestrator", "callmeback", "db", "personas")


@pytest.fixture
def log_output(caplog: pytest.LogCaptureFixture):
    """The server's own JSON log output at DEBUG, with pytest's capture behind the redacting handler."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    buffer = io.StringIO()
    setup_logging("json", "DEBUG", stream=buffer)
    root.addHandler(caplog.handler)
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    yield buffer
    root.handlers[:], level = saved
    root.setLevel(level)


def test_redact_masks_tokens_secrets_and_numbers() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    text = redact(
        f"Authorization: Bearer {jwt} url=/x?token=abc123&To=%2B14155550142 "
        f"{{'password': 'hunter22', 'api_key': 'sk-1'}} JWT_SECRET=s3cr3t to {PHONE}: Your code is 123456"
    )
    for leaked in (jwt, "abc123", "hunter22", "sk-1", "s3cr3t", PHONE, "14155550142", "123456"):
        assert leaked not in text
    assert "***0142" in text


async def test_a_whole_flow_logs_nothing_secret_and_is_counted(make_phone_server, log_output, caplog) -> None:
    engines, *_ = scripted_engines(
        transcripts=["Call me back later please."],
        replies=[[LanguageModelError("engine down")]],  # Brad's greeting is his own, said without the model
    )
    server = await make_phone_server(engines=engines)
    user = await server.verified_user(PHONE)
    code = server.carrier.messages(to=PHONE)[-1].body.split("code is ")[1][:6]
    login = await server.client.post("/api/auth/login", json={"email": user.user["email"], "password": PASSWORD})
    assert login.status == 200
    token = (await login.json())["token"]
    server.carrier.set_scenario(
        PHONE, Scenario(ring_s=0.2, script=(Wait(3.0), PlayWav(FIXTURES / "call_me_back.wav"), Wait(3.0), HangUp()))
    )
    response = await user.request("POST", "/api/calls", json={"persona_id": "brad"})
    assert response.status == 202, await response.text()
    call_id = (await response.json())["id"]
    call = await wait_for_call_end(server, user, call_id)
    assert call["status"] == "completed"

    # Redaction: nothing identifying or secret, from any logger.
    output = log_output.getvalue() + caplog.text
    assert output.count("\n") > 20  # the flow was logged (at DEBUG, by aiohttp and the twilio SDK too)
    for secret in (
        PHONE,
        PHONE.replace("+", "%2B"),
        PHONE[1:],
        user.token,
        token,
        PASSWORD,
        JWT_SECRET,
        server.settings.carrier.auth_token.reveal(),
    ):
        assert secret not in output
    assert not re.search(rf"(?<![\d.]){code}(?!\d)", output)
    assert not re.search(r"eyJ[\w-]+\.[\w-]+\.", output)
    assert "***0142" in output

    # Ids: a webhook's request line carries its request id; the call's lines carry the call id.
    lines = [json.loads(line) for line in log_output.getvalue().splitlines()]
    webhooks = [line for line in lines if line["logger"] == "callmeback.http" and "/twilio/status" in line["msg"]]
    assert webhooks and all(len(line.get("request_id", "")) >= 8 for line in webhooks)
    started = [line for line in lines if "media stream started" in line["msg"]]
    assert started and started[0]["call_id"] == call_id
    engine_failure = [line for line in lines if line["msg"].startswith("language model failed")]
    assert engine_failure and engine_failure[0]["call_id"] == call_id

    # Metrics: the call, its turns, webhooks, jitter and the engine failure.
    scrape = await server.client.get("/metrics")
    assert scrape.status == 200 and scrape.content_type == "text/plain"
    metrics = _samples(await scrape.text())
    assert metrics["callmeback_live_calls"] == 0
    assert metrics['callmeback_turns_total{role="persona"}'] >= 2
    assert metrics['callmeback_turns_total{role="caller"}'] >= 1
    assert metrics['callmeback_turn_stage_latency_seconds_count{stage="first_frame_sent"}'] >= 1
    assert metrics['callmeback_webhook_responses_total{path="/twilio/status",status="204"}'] >= 3
    assert metrics['callmeback_webhook_responses_total{path="/twilio/voice",status="200"}'] == 1
    assert metrics["callmeback_call_send_jitter_p99_seconds_count"] == 1
    assert metrics["callmeback_barge_ins_total"] == 0
    assert metrics['callmeback_engine_errors_total{engine="llm"}'] == 1


async def test_engine_errors_count_only_for_their_own_app() -> None:
    mine, other = Metrics(), Metrics()
    from orchestrator.metrics import metrics_context

    async with _entered(metrics_context(mine, lambda: 0)), _entered(metrics_context(other, lambda: 0)):
        token = current_metrics.set(mine)
        logging.getLogger("media.call").warning("text-to-speech failed: %s", "TimeoutError")
        logging.getLogger("media.call").warning("marks not echoed in time")
        current_metrics.reset(token)
    assert mine.engine_errors.labels(engine="tts")._value.get() == 1
    assert other.engine_errors.labels(engine="tts")._value.get() == 0


def _entered(context):
    from contextlib import asynccontextmanager

    return asynccontextmanager(context)(None)


def _samples(text: str) -> dict[str, float]:
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples
