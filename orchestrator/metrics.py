"""Prometheus metrics, one registry per app (several apps share a process in tests and benchmarks).

What is counted where:
- live calls: read from the app's live-call set at scrape time;
- turns (by role) and per-stage turn latency: from each utterance as its record is written (`CallRecords`);
- barge-ins and frame-send jitter (each call's pacer p99): once per call, when its media stream ends;
- webhook results: by route and HTTP status, in the request middleware;
- engine errors: the `media.call` logger's warnings that make the persona say its fallback line (a failed
  or silent language model, failed speech-to-text or text-to-speech), counted by a handler on that logger.
  The call pipeline has no other outlet for them, and reading its log keeps it free of metrics code.
  The handler counts a warning only for this app's calls: `current_metrics` is set in the call's context.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextvars import ContextVar

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS_S = (0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
JITTER_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64)
# The media.call warnings after which the persona says a fallback line, by engine.
ENGINE_FAILURES = {
    "speech-to-text failed": "stt",
    "language model failed": "llm",
    "language model said nothing speakable": "llm",
    "text-to-speech failed": "tts",
}
current_metrics: ContextVar[Metrics | None] = ContextVar("current_metrics", default=None)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.live_calls = Gauge("callmeback_live_calls", "Calls with a media stream open", registry=self.registry)
        self.turns = Counter("callmeback_turns", "Turns recorded", ["role"], registry=self.registry)
        self.stage_latency = Histogram(
            "callmeback_turn_stage_latency_seconds",
            "A persona turn's latency breakdown (stt, llm first token, first frame, ...), per stage",
            ["stage"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.barge_ins = Counter("callmeback_barge_ins", "Caller interruptions of the persona", registry=self.registry)
        self.webhooks = Counter(
            "callmeback_webhook_responses", "Twilio webhook answers", ["path", "status"], registry=self.registry
        )
        self.send_jitter = Histogram(
            "callmeback_call_send_jitter_p99_seconds",
            "Each call's p99 lateness of outbound audio frames",
            buckets=JITTER_BUCKETS_S,
            registry=self.registry,
        )
        self.engine_errors = Counter(
            "callmeback_engine_errors",
            "Engine failures (fallback lines)",
            ["engine"],
            registry=self.registry,
        )

    def utterance(self, role: str, latency_ms: Mapping[str, float]) -> None:
        self.turns.labels(role=role).inc()
        if role == "persona":
            for stage, value in latency_ms.items():
                self.stage_latency.labels(stage=stage).observe(max(0.0, value) / 1000)

    def call_ended(self, barge_ins: int, jitter_p99_ms: float) -> None:
        self.barge_ins.inc(barge_ins)
        self.send_jitter.observe(jitter_p99_ms / 1000)

    def webhook(self, path: str, status: int) -> None:
        self.webhooks.labels(path=path, status=str(status)).inc()


class EngineErrorCounter(logging.Handler):
    def __init__(self, metrics: Metrics) -> None:
        super().__init__(logging.WARNING)
        self.metrics = metrics

    def emit(self, record: logging.LogRecord) -> None:
        if current_metrics.get() is not self.metrics:
            return
        template = str(record.msg)
        for prefix, engine in ENGINE_FAILURES.items():
            if template.startswith(prefix):
                self.metrics.engine_errors.labels(engine=engine).inc()
                return


def metrics_context(metrics: Metrics, live_calls: Callable[[], int]) -> Callable[..., AsyncIterator[None]]:
    """A cleanup context: the live-calls gauge reads the app's set; the engine-error handler lives with the app."""

    async def install(app: web.Application) -> AsyncIterator[None]:
        metrics.live_calls.set_function(live_calls)
        handler = EngineErrorCounter(metrics)
        call_log = logging.getLogger("media.call")
        call_log.addHandler(handler)
        try:
            yield
        finally:
            call_log.removeHandler(handler)

    return install
