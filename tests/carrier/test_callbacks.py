"""Status callbacks and answer webhooks: signed, ordered, numbered, and the scenarios' terminal states."""

from __future__ import annotations

import asyncio
from email.utils import parsedate_to_datetime

import pytest

from orchestrator.carrier import CallRequest, Chaos, Outcome, Scenario

from .harness import CALLEE, OUR_NUMBER, AppSide, CarrierUnderTest, Hit

ALL_EVENTS = frozenset({"initiated", "ringing", "answered", "completed"})


def request(app_side: AppSide, **overrides: object) -> CallRequest:
    values: dict[str, object] = {
        "to": CALLEE,
        "from_": OUR_NUMBER,
        "url": app_side.url("/answer"),
        "method": "POST",
        "twiml": None,
        "status_callback": app_side.url("/status"),
        "status_callback_method": "POST",
        "events": ALL_EVENTS,
        "timeout_s": 5.0,
        "time_limit_s": 30.0,
        "machine_detection": None,
    }
    values.update(overrides)
    return CallRequest(**values)  # type: ignore[arg-type]


def statuses(hits: list[Hit]) -> list[tuple[str, str]]:
    return [(h.params["SequenceNumber"], h.params["CallStatus"]) for h in hits]


async def finish(carrier: CarrierUnderTest, app_side: AppSide, call_sid: str, callbacks: int) -> list[Hit]:
    await carrier.carrier.wait_finished(call_sid, 10)
    await app_side.wait_for(lambda: len(app_side.on("/status")) >= callbacks)
    return app_side.on("/status")


async def test_signed_callbacks_in_order_with_sequence_numbers(carrier: CarrierUnderTest, app_side: AppSide) -> None:
    app_side.twiml["/answer"] = "<Response><Say>Hello there friend</Say><Pause length='0.2'/><Hangup/></Response>"
    call = carrier.carrier.place_call(request(app_side))
    hits = await finish(carrier, app_side, call.sid, 4)

    assert all(h.signature_valid for h in app_side.hits)
    assert statuses(hits) == [("0", "initiated"), ("1", "ringing"), ("2", "in-progress"), ("3", "completed")]
    for hit in hits:
        p = hit.params
        assert (p["CallSid"], p["From"], p["To"], p["Direction"]) == (
            call.sid,
            OUR_NUMBER,
            CALLEE,
            "outbound-api",
        )
        assert p["ApiVersion"] == "2010-04-01" and p["CallbackSource"] == "call-progress-events"
        assert p["AccountSid"] == carrier.carrier.settings.account_sid
        assert parsedate_to_datetime(p["Timestamp"]).tzinfo is not None
    assert "CallDuration" not in hits[2].params
    assert int(hits[3].params["CallDuration"]) >= 1 and "AnsweredBy" not in hits[3].params

    (answer,) = app_side.on("/answer")
    assert answer.signature_valid and answer.params["CallStatus"] == "in-progress"
    report = carrier.carrier.call(call.sid).report
    assert report.said == ["Hello there friend"] and report.status == "completed"
    assert report.heard_ms == 0 and len(report.heard_pcm) >= 2 * 8000 * 0.2
    assert report.recordings["heard"].is_file() and report.recordings["caller"].is_file()


async def test_only_requested_events_default_completed(carrier: CarrierUnderTest, app_side: AppSide) -> None:
    call = carrier.carrier.place_call(
        request(app_side, url=None, twiml="<Response><Hangup/></Response>", events=frozenset({"completed"}))
    )
    hits = await finish(carrier, app_side, call.sid, 1)
    await asyncio.sleep(0.05)
    assert statuses(app_side.on("/status")) == [("0", "completed")]
    assert hits[0].params["CallDuration"] == "1"  # answered, then hung up at once
    assert app_side.on("/answer") == []


async def test_get_status_callbacks_are_signed_over_the_query(carrier: CarrierUnderTest, app_side: AppSide) -> None:
    call = carrier.carrier.place_call(
        request(
            app_side,
            twiml="<Response/>",
            url=None,
            status_callback_method="GET",
            events=frozenset({"answered"}),
        )
    )
    (hit,) = await finish(carrier, app_side, call.sid, 1)
    assert hit.method == "GET" and hit.signature_valid and hit.params["CallStatus"] == "in-progress"


@pytest.mark.parametrize(
    ("outcome", "terminal", "events"),
    [
        (Outcome.BUSY, "busy", ["initiated", "ringing", "busy"]),
        (Outcome.NO_ANSWER, "no-answer", ["initiated", "ringing", "no-answer"]),
        (Outcome.FAILED, "failed", ["initiated", "failed"]),
    ],
)
async def test_unanswered_scenarios(
    carrier: CarrierUnderTest, app_side: AppSide, outcome: Outcome, terminal: str, events: list[str]
) -> None:
    carrier.carrier.set_scenario(CALLEE, Scenario(outcome=outcome, ring_s=0.05))
    loop = asyncio.get_running_loop()
    started = loop.time()
    call = carrier.carrier.place_call(request(app_side, timeout_s=0.3))
    hits = await finish(carrier, app_side, call.sid, len(events))
    assert [h.params["CallStatus"] for h in hits] == events
    assert hits[-1].params["CallDuration"] == "0"
    assert call.status == terminal and app_side.on("/answer") == []
    if outcome is Outcome.NO_ANSWER:
        assert loop.time() - started >= 0.3  # rang for the whole Timeout


async def test_answer_after_timeout_is_no_answer(carrier: CarrierUnderTest, app_side: AppSide) -> None:
    carrier.carrier.set_scenario(CALLEE, Scenario(ring_s=2.0))
    call = carrier.carrier.place_call(request(app_side, timeout_s=0.2))
    hits = await finish(carrier, app_side, call.sid, 3)
    assert hits[-1].params["CallStatus"] == "no-answer"


async def test_duplicated_callbacks_repeat_sequence_numbers(carrier: CarrierUnderTest, app_side: AppSide) -> None:
    carrier.carrier.set_scenario(CALLEE, Scenario(chaos=Chaos(duplicate=True)))
    call = carrier.carrier.place_call(request(app_side, twiml="<Response><Hangup/></Response>", url=None))
    hits = await finish(carrier, app_side, call.sid, 8)
    assert statuses(hits) == [
        ("0", "initiated"),
        ("0", "initiated"),
        ("1", "ringing"),
        ("1", "ringing"),
        ("2", "in-progress"),
        ("2", "in-progress"),
        ("3", "completed"),
        ("3", "completed"),
    ]
    assert all(h.signature_valid for h in hits)


async def test_reordered_callbacks_arrive_out_of_order(carrier: CarrierUnderTest, app_side: AppSide) -> None:
    carrier.carrier.set_scenario(CALLEE, Scenario(chaos=Chaos(reorder=True)))
    call = carrier.carrier.place_call(request(app_side, twiml="<Response><Hangup/></Response>", url=None))
    hits = await finish(carrier, app_side, call.sid, 4)
    order = [int(h.params["SequenceNumber"]) for h in hits]
    assert sorted(order) == [0, 1, 2, 3] and order != [0, 1, 2, 3]
    assert order.index(3) < order.index(2)  # "completed" overtakes "in-progress"
    report = carrier.carrier.call(call.sid).report
    assert [d.sequence_number for d in report.callbacks] == order


async def test_machine_detection_reports_answered_by(carrier: CarrierUnderTest, app_side: AppSide) -> None:
    carrier.carrier.set_scenario(CALLEE, Scenario(answered_by="machine_end_beep"))
    app_side.twiml["/answer"] = "<Response><Hangup/></Response>"
    call = carrier.carrier.place_call(request(app_side, machine_detection="DetectMessageEnd"))
    hits = await finish(carrier, app_side, call.sid, 4)
    assert hits[-1].params["AnsweredBy"] == "machine_end_beep"
    assert app_side.on("/answer")[0].params["AnsweredBy"] == "machine_end_beep"


async def test_time_limit_ends_the_call_completed(carrier: CarrierUnderTest, app_side: AppSide) -> None:
    app_side.twiml["/answer"] = "<Response><Pause length='30'/></Response>"
    call = carrier.carrier.place_call(request(app_side, time_limit_s=1.0))
    hits = await finish(carrier, app_side, call.sid, 4)
    assert hits[-1].params["CallStatus"] == "completed" and hits[-1].params["CallDuration"] == "1"


async def test_rest_hangup_while_ringing_is_canceled(carrier: CarrierUnderTest, app_side: AppSide) -> None:
    carrier.carrier.set_scenario(CALLEE, Scenario(ring_s=3.0))
    call = carrier.carrier.place_call(request(app_side))
    await app_side.wait_for(lambda: len(app_side.on("/status")) >= 2)
    carrier.carrier.hang_up(call.sid, "canceled")
    hits = await finish(carrier, app_side, call.sid, 3)
    assert statuses(hits) == [("0", "initiated"), ("1", "ringing"), ("2", "canceled")]


async def test_unreachable_answer_url_is_reported_and_the_call_completes(
    carrier: CarrierUnderTest, app_side: AppSide
) -> None:
    call = carrier.carrier.place_call(request(app_side, url="http://127.0.0.1:9/nowhere"))
    hits = await finish(carrier, app_side, call.sid, 4)
    assert hits[-1].params["CallStatus"] == "completed"
    assert [e.code for e in call.report.errors] == [11200]


async def test_redirect_follows_to_the_next_document(carrier: CarrierUnderTest, app_side: AppSide) -> None:
    app_side.twiml["/answer"] = "<Response><Redirect>/second</Redirect><Say>never</Say></Response>"
    app_side.twiml["/second"] = "<Response><Say>second document</Say><Dial>+1555</Dial></Response>"
    call = carrier.carrier.place_call(request(app_side))
    await finish(carrier, app_side, call.sid, 4)
    assert call.report.said == ["second document"] and call.report.unsupported_verbs == ["Dial"]
    assert app_side.on("/second")[0].signature_valid
