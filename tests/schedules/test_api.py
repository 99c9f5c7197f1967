"""The schedules API through a real server: CRUD, isolation, validation, times in the user's zone."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from tests.api.users import sign_up


async def _create(user, **body):
    return await user.request("POST", "/api/schedules", json={"persona_id": "brad", "purpose": "wake-up", **body})


async def test_recurring_schedule_lifecycle(client) -> None:
    user = await sign_up(client, timezone="America/New_York")
    response = await _create(
        user, context="big day", recurrence={"repeat": "weekdays", "time": "07:00"}, retries={"max": 1}
    )
    assert response.status == 201, await response.text()
    schedule = await response.json()
    assert schedule["kind"] == "recurring" and schedule["status"] == "active"
    weekdays = ["mon", "tue", "wed", "thu", "fri"]
    assert schedule["recurrence"] == {"repeat": "weekdays", "time": "07:00", "days": weekdays}
    assert schedule["timezone"] == "America/New_York"
    assert schedule["retries"] == {"max": 1, "interval_s": 300}
    assert len(schedule["upcoming"]) == 3 and schedule["upcoming"][0] == schedule["next_run_at"]
    for at in schedule["upcoming"]:
        local = datetime.fromisoformat(at)
        assert local.strftime("%H:%M") == "07:00" and local.isoweekday() <= 5
        assert local.utcoffset() == local.astimezone(ZoneInfo("America/New_York")).utcoffset()

    path = f"/api/schedules/{schedule['id']}"
    listed = await (await user.request("GET", "/api/schedules")).json()
    assert [s["id"] for s in listed["schedules"]] == [schedule["id"]]

    paused = await (await user.request("PATCH", path, json={"paused": True})).json()
    assert paused["status"] == "paused" and paused["next_run_at"] is None and paused["upcoming"] == []
    resumed = await (await user.request("PATCH", path, json={"paused": False})).json()
    assert resumed["status"] == "active" and resumed["next_run_at"] == schedule["next_run_at"]

    response = await user.request(
        "PATCH", path, json={"recurrence": {"repeat": "days", "time": "21:30", "days": ["sat", "sun"]}}
    )
    changed = await response.json()
    assert changed["recurrence"] == {"repeat": "days", "time": "21:30", "days": ["sat", "sun"]}
    assert all(datetime.fromisoformat(at).isoweekday() in (6, 7) for at in changed["upcoming"])
    assert changed["context"] == "big day"  # untouched fields stay

    detail = await (await user.request("GET", path)).json()
    assert detail["runs"] == [] and detail["id"] == schedule["id"]
    assert (await user.request("DELETE", path)).status == 204
    assert (await user.request("GET", path)).status == 404
    assert (await user.request("DELETE", path)).status == 404


async def test_one_off_in_local_time_and_switching_kinds(client) -> None:
    user = await sign_up(client, timezone="Europe/London")
    tomorrow = (datetime.now(ZoneInfo("Europe/London")) + timedelta(days=1)).replace(tzinfo=None)
    local = tomorrow.replace(hour=9, minute=30, second=0, microsecond=0)
    response = await _create(user, purpose="interview-practice", at=local.isoformat(timespec="minutes"))
    assert response.status == 201, await response.text()
    once = await response.json()
    assert once["kind"] == "once" and once["recurrence"] is None
    assert datetime.fromisoformat(once["at"]).replace(tzinfo=None) == local
    assert once["next_run_at"] == once["at"] and once["upcoming"] == [once["at"]]

    instant = (datetime.now(UTC) + timedelta(hours=5)).replace(microsecond=0)
    response = await user.request("PATCH", f"/api/schedules/{once['id']}", json={"at": instant.isoformat()})
    moved = await response.json()
    assert datetime.fromisoformat(moved["next_run_at"]) == instant

    response = await user.request(
        "PATCH", f"/api/schedules/{once['id']}", json={"recurrence": {"repeat": "daily", "time": "06:45"}}
    )
    recurring = await response.json()
    assert recurring["kind"] == "recurring" and recurring["at"] is None and len(recurring["upcoming"]) == 3


async def test_another_users_schedule_is_not_found(client) -> None:
    owner, other = await sign_up(client), await sign_up(client)
    schedule = await (await _create(owner, recurrence={"repeat": "daily", "time": "08:00"})).json()
    path = f"/api/schedules/{schedule['id']}"
    for method, body in (("GET", None), ("PATCH", {"paused": True}), ("DELETE", None)):
        response = await other.request(method, path, json=body) if body else await other.request(method, path)
        assert response.status == 404, method
        assert (await response.json())["error"]["code"] == "not_found"
    assert (await (await other.request("GET", "/api/schedules")).json())["schedules"] == []
    assert (await owner.request("GET", path)).status == 200
    assert (await owner.request("GET", f"/api/schedules/{uuid.uuid4()}")).status == 404
    assert (await owner.request("GET", "/api/schedules/not-a-uuid")).status == 404
    response = await client.get("/api/schedules")
    assert response.status == 401


async def test_validation_errors_are_json_400s(client) -> None:
    user = await sign_up(client)
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    cases = [
        ({"recurrence": {"repeat": "daily", "time": "07:00"}, "at": soon}, "at"),
        ({}, "at"),
        ({"at": past}, "at"),
        ({"at": "tomorrow at nine"}, "at"),
        ({"at": "2026-02-30T07:00"}, "at"),
        ({"recurrence": {"repeat": "daily", "time": "25:00"}}, "recurrence.time"),
        ({"recurrence": {"repeat": "hourly", "time": "07:00"}}, "recurrence.repeat"),
        ({"recurrence": {"repeat": "days", "time": "07:00"}}, "recurrence.days"),
        ({"recurrence": {"repeat": "days", "time": "07:00", "days": ["mon", "funday"]}}, "recurrence.days.1"),
        ({"recurrence": {"repeat": "daily", "time": "07:00", "days": ["mon"]}}, "recurrence.days"),
        ({"recurrence": {"repeat": "daily", "time": "07:00"}, "retries": {"max": 9}}, "retries.max"),
        ({"recurrence": {"repeat": "daily", "time": "07:00"}, "retries": {"interval_s": 5}}, "retries.interval_s"),
        ({"recurrence": {"repeat": "daily", "time": "07:00"}, "purpose": "   "}, "purpose"),
        ({"recurrence": {"repeat": "daily", "time": "07:00"}, "surprise": 1}, "surprise"),
    ]
    for body, field in cases:
        response = await _create(user, **body)
        assert response.status == 400, (body, await response.text())
        error = (await response.json())["error"]
        assert error["field"] == field, (body, error)
    response = await user.request("POST", "/api/schedules", json={"purpose": "wake-up"})
    assert response.status == 400 and (await response.json())["error"]["field"] == "persona_id"
    response = await _create(user, persona_id="nobody-here", recurrence={"repeat": "daily", "time": "07:00"})
    assert response.status == 404 and (await response.json())["error"]["field"] == "persona_id"
    schedule = await (await _create(user, recurrence={"repeat": "daily", "time": "07:00"})).json()
    response = await user.request("PATCH", f"/api/schedules/{schedule['id']}", json={})
    assert response.status == 400
    assert (await (await user.request("GET", "/api/schedules")).json())["schedules"][0]["id"] == schedule["id"]


async def test_free_text_purpose_and_the_per_user_limit(client) -> None:
    user = await sign_up(client)
    daily = {"recurrence": {"repeat": "daily", "time": "10:00"}}
    response = await _create(user, purpose="remind me to call grandma", **daily)
    assert (await response.json())["purpose"] == "remind me to call grandma"
    for _ in range(19):
        assert (await _create(user, **daily)).status == 201
    response = await _create(user, **daily)
    assert response.status == 409 and (await response.json())["error"]["code"] == "too_many_schedules"


async def test_patch_me_quiet_hours_and_timezone_moves_schedules(client) -> None:
    user = await sign_up(client, timezone="America/New_York")
    schedule = await (await _create(user, recurrence={"repeat": "daily", "time": "07:00"})).json()
    response = await user.request("PATCH", "/api/me", json={"quiet_hours": {"start": "22:00", "end": "06:30"}})
    assert response.status == 200, await response.text()
    assert (await response.json())["quiet_hours"] == {"start": "22:00", "end": "06:30"}
    assert (await (await user.request("GET", "/api/me")).json())["quiet_hours"] == {"start": "22:00", "end": "06:30"}

    response = await user.request("PATCH", "/api/me", json={"timezone": "Asia/Tokyo", "name": "Kim"})
    me = await response.json()
    assert me["timezone"] == "Asia/Tokyo" and me["name"] == "Kim" and me["quiet_hours"] is not None
    moved = await (await user.request("GET", f"/api/schedules/{schedule['id']}")).json()
    assert moved["timezone"] == "Asia/Tokyo"
    first = datetime.fromisoformat(moved["next_run_at"])
    assert first.strftime("%H:%M") == "07:00" and first.utcoffset() == timedelta(hours=9)

    response = await user.request("PATCH", "/api/me", json={"quiet_hours": None})
    assert (await response.json())["quiet_hours"] is None
    for body, field in (
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"quiet_hours": {"start": "22:00", "end": "22:00"}}, "quiet_hours"),
        ({"quiet_hours": {"start": "22:00"}}, "quiet_hours.end"),
        ({"quiet_hours": {"start": "9pm", "end": "07:00"}}, "quiet_hours.start"),
        ({}, None),
    ):
        response = await user.request("PATCH", "/api/me", json=body)
        assert response.status == 400, body
        assert (await response.json())["error"].get("field") == field, body


async def test_openapi_documents_schedules(client) -> None:
    document = await (await client.get("/api/openapi.json")).json()
    assert set(document["paths"]["/api/schedules"]) == {"get", "post"}
    assert set(document["paths"]["/api/schedules/{schedule_id}"]) == {"get", "patch", "delete"}
    assert "patch" in document["paths"]["/api/me"]
