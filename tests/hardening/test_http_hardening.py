"""CORS allow-list, security headers and the registration rate limit, through a real server."""

from __future__ import annotations

from dataclasses import replace

from orchestrator.security import CONTENT_SECURITY_POLICY
from tests.api.users import PASSWORD

ALLOWED = "https://app.example.com"
EVIL = "https://evil.example.net"


def with_cors(settings):
    return replace(settings, server=replace(settings.server, cors_origins=(ALLOWED,)))


async def test_security_headers_on_every_response(client) -> None:
    for method, path in (("GET", "/healthz"), ("GET", "/nowhere"), ("POST", "/api/auth/login"), ("GET", "/metrics")):
        response = await client.request(method, path)
        headers = response.headers
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
        assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
        assert headers["Permissions-Policy"].startswith("microphone=(self)")
        assert "Strict-Transport-Security" not in headers  # the public URL is http
        assert "Access-Control-Allow-Origin" not in headers  # no CORS configured


async def test_hsts_only_with_an_https_public_url(make_client) -> None:
    secure = await make_client(
        lambda s: replace(s, server=replace(s.server, public_base_url="https://calls.example.com"))
    )
    response = await secure.get("/healthz")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


async def test_cors_preflight_and_responses_for_allowed_origins_only(make_client) -> None:
    client = await make_client(with_cors)
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    allowed = await client.options("/api/auth/login", headers={"Origin": ALLOWED, **preflight})
    assert allowed.status == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "POST" in allowed.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in allowed.headers["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in allowed.headers
    assert "Origin" in allowed.headers.getall("Vary")

    refused = await client.options("/api/auth/login", headers={"Origin": EVIL, **preflight})
    assert refused.status == 403
    assert not [name for name in refused.headers if name.lower().startswith("access-control-")]

    simple = await client.get("/healthz", headers={"Origin": ALLOWED})
    assert simple.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "X-Request-Id" in simple.headers["Access-Control-Expose-Headers"]
    other = await client.get("/healthz", headers={"Origin": EVIL})
    assert other.status == 200 and "Access-Control-Allow-Origin" not in other.headers


def test_wildcard_and_paths_are_not_origins(make_settings) -> None:
    import pytest

    from orchestrator.config import ConfigError, load_settings

    del make_settings
    for bad in ('"*"', '"https://app.example.com/"', '"app.example.com"'):
        with pytest.raises(ConfigError, match="cors_origins"):
            _load_with(load_settings, f"[server]\ncors_origins = [{bad}]\n")


def _load_with(load_settings, toml: str):
    import secrets
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        override = Path(folder) / "override.toml"
        override.write_text(toml)
        env = {
            "CALLMEBACK_CONFIG": str(override),
            "DATABASE_URL": "postgresql://localhost/x",
            "JWT_SECRET": secrets.token_urlsafe(48),
            "CALLMEBACK_DATA_DIR": folder,
        }
        return load_settings(env=env)


async def test_registration_is_rate_limited_per_address(make_client, unique_email) -> None:
    client = await make_client(
        lambda s: replace(s, auth=replace(s.auth, registrations_per_address=2, registration_window_s=3600))
    )
    for n in range(2):
        response = await client.post("/api/auth/register", json={"email": f"{n}{unique_email}", "password": PASSWORD})
        assert response.status == 201, await response.text()
    response = await client.post("/api/auth/register", json={"email": f"x{unique_email}", "password": PASSWORD})
    assert response.status == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 3600
    assert (await response.json())["error"]["code"] == "rate_limited"
