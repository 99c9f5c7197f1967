"""Request middleware: a request id on every request and log line, and JSON errors for every failure.

Nothing a client sends may produce an HTML error page or a stack trace: aiohttp's own HTTP errors
(unknown route, wrong method, body too large) are rendered as the API's JSON error shape too.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

import asyncpg
from aiohttp import web

from orchestrator.errors import ApiError, error_response
from orchestrator.keys import METRICS
from orchestrator.logs import request_id_var

log = logging.getLogger("callmeback.http")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


@web.middleware
async def request_context(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    """Tag the request (from a sane X-Request-Id or a new one), log it once when done."""
    incoming = request.headers.get("X-Request-Id", "")
    request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
    token = request_id_var.set(request_id)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        if not response.prepared:
            response.headers["X-Request-Id"] = request_id
        return response
    finally:
        metrics = request.app.get(METRICS)
        if metrics is not None and request.rel_url.path.startswith("/twilio/"):
            metrics.webhook(_route_path(request), status)
        log.info(
            "%s %s %d %.1fms",
            request.method,
            request.rel_url.path,
            status,
            (time.perf_counter() - started) * 1000,
        )
        request_id_var.reset(token)


def _route_path(request: web.Request) -> str:
    """The matched route's template, so a label never carries a caller-chosen path."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def json_errors(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")}
        return error_response(exc.status, _CODES.get(exc.status, "http_error"), exc.reason, headers=headers)
    except (asyncpg.IntegrityConstraintViolationError, asyncpg.DataError):
        # Validation should have caught it; the database's constraints are the last line, not a 500.
        log.warning("database refused data for %s %s", request.method, request.rel_url.path, exc_info=True)
        return error_response(400, "invalid_request", "the request's data is not acceptable")
    except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError, TimeoutError):
        log.warning("database unavailable while serving %s %s", request.method, request.rel_url.path)
        return error_response(
            503,
            "unavailable",
            "the service is briefly unavailable; retry shortly",
            headers={"Retry-After": "2"},
        )
    except Exception:
        log.exception("unhandled error serving %s %s", request.method, request.rel_url.path)
        return error_response(500, "internal_error", "unexpected server error")
