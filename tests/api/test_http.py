"""HTTP conventions: JSON errors for every malformed request, request ids, probes, and an honest OpenAPI."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator

from orchestrator.routes import web as web_app
from tests.api.users import PASSWORD, sign_up


def _assert_error(body: dict, code: str | None = None) -> None:
    assert set(body) == {"error"}
    assert {"code", "message"} <= set(body["error"]) <= {"code", "message", "field"}
    if code:
        assert body["error"]["code"] == code, body


async def test_malformed_bodies_get_4xx_json(client: TestClient) -> None:
    user = await sign_up(client)
    raw_cases = [
        (b"{not json", "application/json", 400, "invalid_json"),
        (b"", "application/json", 400, "invalid_body"),
        (b"null", "application/json", 400, "invalid_body"),
        (b"[1, 2]", "application/json", 400, "invalid_field"),
        (b'"just a string"', "application/json", 400, "invalid_field"),
        (b"\xff\xfe\x00garbage", "application/json", 400, "invalid_json"),
        (b"email=a&password=b", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        (b'{"name": "x", "core_prompt": "y", "temperature": NaN}', "application/json", 400, None),
    ]
    for data, content_type, status, code in raw_cases:
        response = await user.request("POST", "/api/personas", data=data, headers={"Content-Type": content_type})
        assert response.status == status, data
        assert response.content_type == "application/json"
        _assert_error(await response.json(), code)


async def test_oversized_body_is_413_json(client: TestClient) -> None:
    response = await client.post(
        "/api/auth/register",
        data=b'{"email": "' + b"a" * 200_000 + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 413
    _assert_error(await response.json(), "body_too_large")


async def test_unknown_route_and_wrong_method_are_json(client: TestClient) -> None:
    response = await client.get("/api/nothing-here")
    assert response.status == 404
    _assert_error(await response.json(), "not_found")
    response = await client.delete("/api/me")
    assert response.status == 405
    _assert_error(await response.json(), "method_not_allowed")


async def test_request_id_is_echoed_or_made(client: TestClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-Id": "abc12345-trace"})
    assert response.headers["X-Request-Id"] == "abc12345-trace"
    response = await client.get("/healthz", headers={"X-Request-Id": "bad id with spaces\u2028"})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-Id"])


async def test_probes(client: TestClient) -> None:
    assert await (await client.get("/healthz")).json() == {"status": "ok"}
    response = await client.get("/readyz")
    assert response.status == 200 and (await response.json())["status"] == "ready"


async def test_openapi_documents_every_route(client: TestClient) -> None:
    document = await (await client.get("/api/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    documented = {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}
    served = {
        (route.method, route.resource.canonical)
        for route in client.app.router.routes()
        if route.method not in ("HEAD", "*") and route.name not in web_app.ROUTE_NAMES  # pages, not API
    }
    assert served == documented


def _operation(document: dict, method: str, path: str) -> dict:
    return document["paths"][path][method.lower()]


async def test_responses_match_the_document(client: TestClient) -> None:
    """Drive each operation once (happy path and an error) and validate every body against its schema."""
    document = await (await client.get("/api/openapi.json")).json()
    user = await sign_up(client)
    created = await (await user.request("POST", "/api/personas", json={"name": "Zed", "core_prompt": "Hi"})).json()
    pid = created["id"]
    calls = [
        ("GET", "/healthz", "/healthz", None),
        ("GET", "/readyz", "/readyz", None),
        ("POST", "/api/auth/register", "/api/auth/register", {"email": "nope", "password": PASSWORD}),
        ("POST", "/api/auth/login", "/api/auth/login", {"email": user.user["email"], "password": PASSWORD}),
        (
            "POST",
            "/api/auth/login",
            "/api/auth/login",
            {"email": user.user["email"], "password": "wrong-one"},
        ),
        ("GET", "/api/me", "/api/me", None),
        ("GET", "/api/personas", "/api/personas", None),
        ("POST", "/api/personas", "/api/personas", {"name": "Q", "core_prompt": "Hello"}),
        ("GET", "/api/personas/{persona_id}", f"/api/personas/{pid}", None),
        ("GET", "/api/personas/{persona_id}", "/api/personas/missing-one", None),
        ("PATCH", "/api/personas/{persona_id}", f"/api/personas/{pid}", {"name": "Zed 2"}),
        ("PATCH", "/api/personas/{persona_id}", "/api/personas/alex", {"name": "Nope"}),
        ("PUT", "/api/personas/{persona_id}/favorite", f"/api/personas/{pid}/favorite", None),
        ("DELETE", "/api/personas/{persona_id}/favorite", f"/api/personas/{pid}/favorite", None),
        ("DELETE", "/api/personas/{persona_id}", f"/api/personas/{pid}", None),
        ("POST", "/api/auth/logout", "/api/auth/logout", None),
        ("GET", "/api/me", "/api/me", None),
    ]
    for method, template, path, body in calls:
        response = await user.request(method, path, json=body)
        declared = _operation(document, method, template)["responses"]
        assert str(response.status) in declared, (method, path, response.status)
        content = declared[str(response.status)].get("content")
        if content is None:
            assert await response.read() == b""
            continue
        Draft202012Validator(content["application/json"]["schema"]).validate(await response.json())
