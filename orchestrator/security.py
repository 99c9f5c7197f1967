"""Browser-facing hardening: CORS for an explicit allow-list of origins, and security headers on every response.

Headers are added in `on_response_prepare`, not in a middleware's return path: that signal also fires for
error pages, websocket upgrades and streamed responses, whose headers a middleware can no longer touch.
The API authenticates with bearer tokens, never cookies, so CORS never needs `Allow-Credentials`; an
allowed origin is echoed back (with `Vary: Origin`), never `*`, and any other origin gets no CORS headers,
which is what makes the browser refuse to hand the response to that page.
"""

from __future__ import annotations

from aiohttp import web

from orchestrator.errors import error_response
from orchestrator.keys import SETTINGS

ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE"
ALLOWED_HEADERS = "Authorization, Content-Type, X-Request-Id"
EXPOSED_HEADERS = "X-Request-Id, Retry-After"
PREFLIGHT_MAX_AGE_S = 600
# A same-origin single-page app with no inline scripts or styles: everything from here, nothing framed.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self' blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
STATIC_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Permissions-Policy": "microphone=(self), camera=(), geolocation=(), payment=(), usb=()",
}
HSTS = "max-age=31536000; includeSubDomains"


def setup(app: web.Application) -> None:
    """Install the preflight middleware (first, so no route or auth check sees a preflight) and the headers."""
    app.middlewares.insert(0, cors_preflight)
    app.on_response_prepare.append(add_headers)


def allowed_origin(request: web.Request) -> str | None:
    origin = request.headers.get("Origin")
    return origin if origin and origin in request.app[SETTINGS].server.cors_origins else None


@web.middleware
async def cors_preflight(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    """Answer a CORS preflight itself: 204 for an allowed origin, 403 without CORS headers for any other."""
    is_preflight = (
        request.method == "OPTIONS"
        and "Origin" in request.headers
        and "Access-Control-Request-Method" in request.headers
    )
    if not is_preflight:
        return await handler(request)
    if allowed_origin(request) is None:
        return error_response(403, "origin_not_allowed", "this origin may not call the API")
    return web.Response(
        status=204,
        headers={
            "Access-Control-Allow-Methods": ALLOWED_METHODS,
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_S),
        },
    )


async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
    settings = request.app[SETTINGS]
    for name, value in STATIC_HEADERS.items():
        response.headers.setdefault(name, value)
    if settings.base_url.startswith("https://"):
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    if settings.server.cors_origins:
        response.headers.add("Vary", "Origin")  # a cache must not serve one origin's answer to another
        origin = allowed_origin(request)
        if origin is not None:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
