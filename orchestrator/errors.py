"""API errors, rendered as `{"error": {"code", "message", "field"?}}` with a 4xx status.

ApiError is the only exception a handler raises on purpose; the error middleware turns it (and
aiohttp's own HTTP exceptions) into JSON, so no request ever gets an HTML page or a stack trace.
"""

from __future__ import annotations

from aiohttp import web


class ApiError(Exception):
    """A request that cannot be served as asked; `status` is always 4xx (or 503 for outages)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}

    def response(self) -> web.Response:
        return error_response(self.status, self.code, self.message, field=self.field, headers=self.headers)


def error_response(
    status: int, code: str, message: str, *, field: str | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    body: dict[str, str] = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    return web.json_response({"error": body}, status=status, headers=headers)


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


def unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def too_many_requests(retry_after_s: int, message: str) -> ApiError:
    return ApiError(429, "rate_limited", message, headers={"Retry-After": str(max(1, retry_after_s))})
