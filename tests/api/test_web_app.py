"""Serving the web app (orchestrator/routes/web.py): files as they are, right types, nothing outside web/."""

from __future__ import annotations

import os
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from orchestrator.middleware import json_errors
from orchestrator.routes import web as web_app


async def test_index_and_assets_are_served_with_their_types_and_no_cache(client: TestClient) -> None:
    response = await client.get("/")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-cache"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    page = await response.text()
    assert '<div id="softphone"></div>' in page and 'src="/app.js"' in page

    for path, content_type in [
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/pages/personas.js", "text/javascript; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
        ("/icon.svg", "image/svg+xml"),
    ]:
        response = await client.get(path)
        assert response.status == 200, path
        assert response.headers["Content-Type"] == content_type, path
        assert response.headers["Cache-Control"] == "no-cache"
        assert response.headers["X-Content-Type-Options"] == "nosniff"

    # Revalidation: an unchanged file answers 304 without a body.
    etag = (await client.get("/app.js")).headers["ETag"]
    assert (await client.get("/app.js", headers={"If-None-Match": etag})).status == 304
    head = await client.head("/style.css")
    assert head.status == 200 and int(head.headers["Content-Length"]) > 0


async def test_no_listing_no_unknown_types_and_the_api_keeps_its_paths(client: TestClient) -> None:
    for path in ("/pages", "/pages/", "/web/app.js", "/nope.js", "/README.md", "/app.py", "/pages/.js"):
        response = await client.get(path)
        assert response.status == 404, path
        assert response.headers["Content-Type"].startswith("application/json"), path
        assert (await response.json())["error"]["code"] == "not_found"
    response = await client.get("/api/no-such-endpoint")
    assert response.status == 404 and "error" in await response.json()
    assert (await client.get("/api/openapi.json")).status == 200


async def test_paths_outside_the_web_folder_are_not_served(tmp_path: Path) -> None:
    root = tmp_path / "web"
    root.mkdir()
    (root / "index.html").write_text("<p>home</p>")
    (tmp_path / "secret.js").write_text("SECRET")
    os.symlink(tmp_path / "secret.js", root / "linked.js")
    app = web.Application(middlewares=[json_errors])
    web_app.setup(app, root)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        assert await (await client.get("/")).text() == "<p>home</p>"
        for raw in ("/../secret.js", "/%2e%2e/secret.js", "/..%2Fsecret.js", "/linked.js", "/x/../../secret.js"):
            response = await client.get(URL(raw, encoded=True))
            body = await response.text()
            assert response.status in (400, 404), raw
            assert "SECRET" not in body, raw
