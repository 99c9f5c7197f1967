"""A live call's records, handed to the app-wide recorder without ever waiting on the database."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from db.recorder import CallFieldsRow, Recorder, UtteranceRow
from media.call import CallUsage, Utterance
from orchestrator.metrics import Metrics


class CallRecords:
    """The CallLog of one call: utterances, keypad digits and usage, as buffered rows."""

    def __init__(
        self,
        recorder: Recorder,
        call_id: uuid.UUID,
        metrics: Metrics,
        on_utterance: Callable[[Utterance], None] | None = None,  # e.g. show it live in the browser
    ) -> None:
        self._recorder = recorder
        self._metrics = metrics
        self._on_utterance = on_utterance
        self.call_id = call_id
        self.digits = ""

    def utterance(self, utterance: Utterance) -> None:
        self._metrics.utterance(utterance.role, utterance.latency_ms)
        self._recorder.add(
            UtteranceRow(
                self.call_id,
                utterance.seq,
                utterance.role,
                utterance.text,
                utterance.heard_text,
                utterance.interrupted,
                utterance.started_at,
                utterance.ended_at,
                utterance.latency_ms,
            )
        )
        if self._on_utterance is not None:
            self._on_utterance(utterance)

    def digit(self, digit: str) -> None:
        self.digits = (self.digits + digit)[-200:]
        self._recorder.add(CallFieldsRow(self.call_id, {"dtmf": self.digits}))

    def usage(self, usage: CallUsage) -> None:
        fields = {
            "stt_seconds": round(usage.stt_seconds, 3),
            "llm_tokens_in": usage.llm_tokens_in,
            "llm_tokens_out": usage.llm_tokens_out,
            "tts_chars": usage.tts_chars,
        }
        self._recorder.add(CallFieldsRow(self.call_id, fields))
