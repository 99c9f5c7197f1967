"""Personas over the real API: built-ins read-only, own personas private, favorites per user."""

from __future__ import annotations

from tests.api.users import sign_up

NEW_PERSONA = {
    "name": "Coach Kim",
    "tagline": "Marathon buddy",
    "core_prompt": "You are Kim, a cheerful running coach on the phone.",
    "voice": {"piper": {"length_scale": 1.1, "pitch_semitones": 2}, "openai": {"voice": "nova"}},
    "temperature": 0.5,
    "reply_max_tokens": 120,
    "max_call_minutes": 10,
    "end_of_turn_silence_ms": 600,
}


async def test_builtins_are_listed_and_distinct(client) -> None:
    user = await sign_up(client)
    response = await user.request("GET", "/api/personas")
    assert response.status == 200
    personas = {p["id"]: p for p in (await response.json())["personas"]}
    assert {"brad", "sarah", "alex"} <= personas.keys()
    builtins = [personas[i] for i in ("brad", "sarah", "alex")]
    assert all(p["builtin"] and not p["favorite"] for p in builtins)
    assert len({p["core_prompt"] for p in builtins}) == 3
    assert len({p["voice"]["openai"]["voice"] for p in builtins}) == 3
    assert len({p["voice"]["piper"]["pitch_semitones"] for p in builtins}) == 3
    assert all(p["max_call_minutes"] == 15 and p["reply_max_tokens"] == 150 for p in builtins)
    # Each built-in greets in its own words, with the caller's name filled in when the call connects.
    assert len({p["greeting"] for p in builtins}) == 3
    assert all(p["greeting"].count("{name}") == 1 and p["name"] in p["greeting"] for p in builtins)


async def test_builtins_are_read_only(client) -> None:
    user = await sign_up(client)
    for method, body in (("PATCH", {"name": "Bradley"}), ("DELETE", None)):
        response = await user.request(method, "/api/personas/brad", json=body)
        assert response.status == 403
        assert (await response.json())["error"]["code"] == "read_only"
    response = await user.request("GET", "/api/personas/brad")
    assert (await response.json())["name"] == "Brad"


async def test_custom_persona_lifecycle(client) -> None:
    user = await sign_up(client)
    response = await user.request("POST", "/api/personas", json=NEW_PERSONA)
    assert response.status == 201
    created = await response.json()
    assert created["id"].startswith("coach-kim-") and not created["builtin"]
    assert {k: created[k] for k in NEW_PERSONA} == NEW_PERSONA

    assert created["greeting"] == ""  # none given: the model greets
    greeting = "Morning {name}! Kim here."
    response = await user.request(
        "PATCH", f"/api/personas/{created['id']}", json={"temperature": 1.2, "tagline": "x", "greeting": greeting}
    )
    assert response.status == 200
    updated = await response.json()
    assert updated["temperature"] == 1.2 and updated["tagline"] == "x" and updated["name"] == "Coach Kim"
    assert updated["greeting"] == greeting

    listed = await (await user.request("GET", "/api/personas")).json()
    assert created["id"] in [p["id"] for p in listed["personas"]]

    assert (await user.request("DELETE", f"/api/personas/{created['id']}")).status == 204
    assert (await user.request("GET", f"/api/personas/{created['id']}")).status == 404
    assert (await user.request("DELETE", f"/api/personas/{created['id']}")).status == 404


async def test_other_users_personas_are_invisible(client) -> None:
    alice, bob = await sign_up(client), await sign_up(client)
    created = await (await alice.request("POST", "/api/personas", json=NEW_PERSONA)).json()
    path = f"/api/personas/{created['id']}"
    for method, body in (
        ("GET", None),
        ("PATCH", {"name": "Hijacked"}),
        ("DELETE", None),
        ("PUT", None),
    ):
        target = path + "/favorite" if method == "PUT" else path
        response = await bob.request(method, target, json=body)
        assert response.status == 404, method
    bobs = await (await bob.request("GET", "/api/personas")).json()
    assert created["id"] not in [p["id"] for p in bobs["personas"]]
    unchanged = await (await alice.request("GET", path)).json()
    assert unchanged["name"] == "Coach Kim"


async def test_favorites_are_per_user(client) -> None:
    alice, bob = await sign_up(client), await sign_up(client)
    response = await alice.request("PUT", "/api/personas/sarah/favorite")
    assert response.status == 200 and (await response.json())["favorite"] is True
    assert (await (await bob.request("GET", "/api/personas/sarah")).json())["favorite"] is False
    response = await alice.request("DELETE", "/api/personas/sarah/favorite")
    assert (await response.json())["favorite"] is False
    assert (await alice.request("PUT", "/api/personas/no-such-one/favorite")).status == 404


async def test_persona_validation(client) -> None:
    user = await sign_up(client)
    bad = [
        ({**NEW_PERSONA, "temperature": "0.7"}, "temperature"),
        ({**NEW_PERSONA, "temperature": 5}, "temperature"),
        ({**NEW_PERSONA, "voice": {"openai": {"voice": "robot"}}}, "voice.openai.voice"),
        ({**NEW_PERSONA, "voice": {"elevenlabs": {}}}, "voice.elevenlabs"),
        ({"name": "   ", "core_prompt": "x"}, "name"),
        ({"core_prompt": "x"}, "name"),
        ({**NEW_PERSONA, "owner_id": None}, "owner_id"),
        ({**NEW_PERSONA, "greeting": "x" * 301}, "greeting"),
        ({**NEW_PERSONA, "greeting": None}, "greeting"),
    ]
    for body, field in bad:
        response = await user.request("POST", "/api/personas", json=body)
        assert response.status == 400, body
        assert (await response.json())["error"]["field"] == field
    response = await user.request("PATCH", "/api/personas/brad", json={})
    assert response.status == 400
    response = await user.request("GET", "/api/personas/..%2Fetc")
    assert response.status == 404
