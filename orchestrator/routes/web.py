"""The web app: the files under `web/` served as they are (plain ES modules, no build step) at `/`.

Only regular files inside `web/` with a known extension are served, each with an explicit content type:
no directory listing, and a path that resolves outside `web/` (`..`, an absolute path, a symlink out) is a
404 like any missing file. `Cache-Control: no-cache` makes the browser revalidate every time (ETag /
Last-Modified from `FileResponse`), so an edited page shows on reload without a stale module graph.
The API stays under `/api`; the hash router in `web/app.js` means the server only ever serves `/` plus assets.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from orchestrator.errors import ApiError

WEB_ROOT = Path(__file__).resolve().parent.parent.parent / "web"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".wav": "audio/wav",
    ".webmanifest": "application/manifest+json",
}
# Route names: the web app's two routes are not API operations, so the OpenAPI document leaves them out.
INDEX_ROUTE, ASSET_ROUTE = "web-app-index", "web-app-asset"
ROUTE_NAMES = frozenset({INDEX_ROUTE, ASSET_ROUTE})
# The file-name part of the route; what it matches is still checked against WEB_ROOT below.
_ASSET = r"[A-Za-z0-9_./-]+\.(?:html|js|css|svg|png|ico|wav|webmanifest)"


def setup(app: web.Application, root: Path = WEB_ROOT) -> None:
    """Serve `root` at `/`: index.html for `/`, other files by name."""
    root = root.resolve()

    async def index(request: web.Request) -> web.StreamResponse:
        return _file(root, "index.html")

    async def asset(request: web.Request) -> web.StreamResponse:
        return _file(root, request.match_info["path"])

    app.router.add_get("/", index, name=INDEX_ROUTE)
    app.router.add_get("/{path:" + _ASSET + "}", asset, name=ASSET_ROUTE)


def _file(root: Path, relative: str) -> web.FileResponse:
    path = (root / relative).resolve()
    content_type = CONTENT_TYPES.get(path.suffix)
    if content_type is None or not path.is_relative_to(root) or not path.is_file():
        raise ApiError(404, "not_found", "no such page or file")
    return web.FileResponse(path, headers={"Content-Type": content_type, "Cache-Control": "no-cache"})
