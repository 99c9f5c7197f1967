"""Declared JSON endpoints: one declaration gives the route, the request validation and the OpenAPI entry.

Handlers receive an `ApiRequest` whose body and query are already validated against the declared JSON
schemas and whose user is already authenticated, so a malformed request is refused with a 4xx before any
handler code runs, and the OpenAPI document can never drift from what the server checks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiohttp import web
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from orchestrator.auth import Identity
from orchestrator.errors import ApiError

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": "string"},
            },
        }
    },
}
_STANDARD_ERRORS = {
    400: "Malformed request (bad JSON, wrong types, missing or unknown fields)",
    401: "Missing, malformed, expired, forged or revoked token",
    404: "No such resource (or not yours)",
    413: "Request body too large",
    415: "Body is not application/json",
    429: "Too many requests; see Retry-After",
}


@dataclass
class ApiRequest:
    """What a handler needs: the raw request, its validated body and query, and the caller."""

    http: web.Request
    body: Any
    query: dict[str, Any]
    identity: Identity | None

    @property
    def user(self) -> asyncpg.Record:
        """The authenticated user (only on operations declared with auth=True)."""
        assert self.identity is not None, "operation declared without auth"
        return self.identity.user

    @property
    def app(self) -> web.Application:
        return self.http.app

    def path(self, name: str) -> str:
        return self.http.match_info[name]


Handler = Callable[[ApiRequest], Awaitable[web.StreamResponse]]
# Runs on the raw form before it is validated: a webhook's signature is checked before anything else.
FormGuard = Callable[[web.Request, dict[str, str]], None]
Authenticator = Callable[[web.Request], Awaitable[Identity]]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    responses: Mapping[int, tuple[str, dict | None]]
    body: dict | None = None
    form: dict | None = None
    query: Mapping[str, dict] = field(default_factory=dict)
    path_params: Mapping[str, dict] = field(default_factory=dict)
    auth: bool = True
    form_guard: FormGuard | None = None
    raw: bool = False  # a plain aiohttp handler (e.g. a websocket), documented but not wrapped


class ApiRoutes:
    """A table of declared operations; `install` adds them to an app, `openapi` documents them."""

    def __init__(self) -> None:
        self.operations: list[Operation] = []

    @classmethod
    def combine(cls, *tables: ApiRoutes) -> ApiRoutes:
        combined = cls()
        combined.operations = [op for table in tables for op in table.operations]
        return combined

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        tag: str,
        responses: Mapping[int, tuple[str, dict | None]],
        body: dict | None = None,
        form: dict | None = None,
        query: Mapping[str, dict] | None = None,
        path_params: Mapping[str, dict] | None = None,
        auth: bool = True,
        form_guard: FormGuard | None = None,
        raw: bool = False,
    ) -> Callable[[Any], Any]:
        """Declare an operation: `body` is a JSON body's schema, `form` a form-encoded one's (webhooks)."""

        def register(handler: Any) -> Any:
            self.operations.append(
                Operation(
                    method,
                    path,
                    handler,
                    summary,
                    tag,
                    responses,
                    body,
                    form,
                    query or {},
                    path_params or {},
                    auth,
                    form_guard,
                    raw,
                )
            )
            return handler

        return register

    def install(self, app: web.Application, authenticate: Authenticator) -> None:
        for operation in self.operations:
            handler = operation.handler if operation.raw else _endpoint(operation, authenticate)
            if operation.method == "GET":
                app.router.add_get(operation.path, handler)  # HEAD too, as probes and proxies expect
            else:
                app.router.add_route(operation.method, operation.path, handler)

    def openapi(self, title: str, version: str) -> dict[str, Any]:
        paths: dict[str, dict[str, Any]] = {}
        for op in self.operations:
            paths.setdefault(op.path, {})[op.method.lower()] = _document(op)
        return {
            "openapi": "3.1.0",
            "info": {"title": title, "version": version},
            "paths": paths,
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
        }


def _endpoint(op: Operation, authenticate: Authenticator) -> Callable[[web.Request], Awaitable[Any]]:
    body_validator = Draft202012Validator(op.body) if op.body is not None else None
    form_validator = Draft202012Validator(op.form) if op.form is not None else None
    query_validators = {name: Draft202012Validator(schema) for name, schema in op.query.items()}
    path_patterns = {name: re.compile(schema["pattern"]) for name, schema in op.path_params.items()}

    async def endpoint(request: web.Request) -> web.StreamResponse:
        for name, pattern in path_patterns.items():
            if not pattern.fullmatch(request.match_info[name]):
                raise ApiError(404, "not_found", f"no such {name.removesuffix('_id')}")
        identity = await authenticate(request) if op.auth else None
        query = _read_query(request, op.query, query_validators)
        body = None
        if body_validator is not None:
            body = await _read_body(request, body_validator)
        elif form_validator is not None:
            body = await _read_form(request, form_validator, op.form_guard)
        return await op.handler(ApiRequest(request, body, query, identity))

    endpoint.__name__ = op.handler.__name__
    return endpoint


async def _read_body(request: web.Request, validator: Draft202012Validator) -> Any:
    content_type = request.content_type
    if content_type not in ("application/json", "application/octet-stream", ""):
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    raw = await request.read()  # aiohttp enforces client_max_size here (413)
    try:
        body = json.loads(raw, parse_constant=_refuse_constant) if raw else None
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ApiError(400, "invalid_json", "the request body is not valid JSON") from None
    if body is None:
        raise ApiError(400, "invalid_body", "a JSON object body is required")
    _validate(validator, body)
    return body


async def _read_form(request: web.Request, validator: Draft202012Validator, guard: FormGuard | None) -> dict[str, str]:
    if request.content_type != "application/x-www-form-urlencoded":
        raise ApiError(415, "unsupported_media_type", "send the body as application/x-www-form-urlencoded")
    try:
        form = await request.post()  # aiohttp enforces client_max_size here (413)
    except ValueError:
        raise ApiError(400, "invalid_form", "the form body cannot be parsed") from None
    if len(form) != len(set(form.keys())):
        raise ApiError(400, "invalid_form", "a form field is repeated")
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    if len(fields) != len(form):
        raise ApiError(400, "invalid_form", "file uploads are not accepted")
    if guard is not None:
        guard(request, fields)
    _validate(validator, fields)
    return fields


def _refuse_constant(name: str) -> None:
    """NaN and Infinity are not JSON, and NaN slips past every numeric bound: refuse them."""
    raise ValueError(f"{name} is not valid JSON")


def _read_query(
    request: web.Request, schemas: Mapping[str, dict], validators: Mapping[str, Draft202012Validator]
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, schema in schemas.items():
        raw = request.query.get(name)
        if raw is None:
            if "default" in schema:
                values[name] = schema["default"]
            continue
        value: Any = raw
        if schema.get("type") == "integer":
            try:
                value = int(raw)
            except ValueError:
                raise ApiError(400, "invalid_query", f"{name} must be an integer", field=name) from None
        try:
            validators[name].validate(value)
        except ValidationError as exc:
            raise ApiError(400, "invalid_query", f"{name} {_describe(exc)}", field=name) from None
        values[name] = value
    return values


def _validate(validator: Draft202012Validator, body: Any) -> None:
    error = min(validator.iter_errors(body), key=lambda e: len(e.absolute_path), default=None)
    if error is None:
        return
    path = [str(part) for part in error.absolute_path]
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        path.append(missing)
        raise ApiError(400, "missing_field", f"{'.'.join(path)} is required", field=".".join(path))
    if error.validator == "additionalProperties":
        unknown = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        path.append(unknown[0] if unknown else "")
        raise ApiError(400, "unknown_field", f"{'.'.join(path)} is not a known field", field=".".join(path))
    where = ".".join(path) or "body"
    raise ApiError(400, "invalid_field", f"{where} {_describe(error)}", field=".".join(path) or None)


def _describe(error: ValidationError) -> str:
    """Say what is wrong without echoing the value (it may be a password)."""
    schema, kind = error.schema, error.validator
    if kind == "type":
        return f"must be of type {schema['type']}"
    if kind == "minLength":
        return f"must be at least {schema['minLength']} characters"
    if kind == "maxLength":
        return f"must be at most {schema['maxLength']} characters"
    if kind in ("minimum", "exclusiveMinimum"):
        return f"must be at least {schema.get('minimum', schema.get('exclusiveMinimum'))}"
    if kind in ("maximum", "exclusiveMaximum"):
        return f"must be at most {schema.get('maximum', schema.get('exclusiveMaximum'))}"
    if kind == "enum":
        return "must be one of " + ", ".join(map(str, schema["enum"]))
    if kind == "pattern":
        return "has an invalid format"
    if kind == "minProperties":
        return "must not be empty"
    return "is invalid"


def _document(op: Operation) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "summary": op.summary,
        "tags": [op.tag],
        "operationId": op.handler.__name__,
        "responses": {},
    }
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": schema} for name, schema in op.path_params.items()
    ]
    parameters += [
        {"name": name, "in": "query", "required": False, "schema": schema} for name, schema in op.query.items()
    ]
    if parameters:
        doc["parameters"] = parameters
    if op.body is not None:
        doc["requestBody"] = {"required": True, "content": {"application/json": {"schema": op.body}}}
    if op.form is not None:
        doc["requestBody"] = {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": op.form}},
        }
    if op.auth:
        doc["security"] = [{"bearer": []}]
    for status, (description, schema) in sorted(op.responses.items()):
        entry: dict[str, Any] = {"description": description}
        if schema is not None:
            entry["content"] = {"application/json": {"schema": schema}}
        doc["responses"][str(status)] = entry
    has_body = op.body is not None or op.form is not None
    needed = [400] if has_body or op.query or op.path_params else []
    needed += [413, 415] if has_body else []
    needed += [401] if op.auth else []
    needed += [404] if op.path_params else []
    for status in needed:
        doc["responses"].setdefault(
            str(status),
            {
                "description": _STANDARD_ERRORS[status],
                "content": {"application/json": {"schema": ERROR_SCHEMA}},
            },
        )
    if "400" in doc["responses"] and (op.query or op.path_params):
        # A URL longer than aiohttp's request-line limit (8190 bytes; a 2000-character query value can take
        # 24 KB percent-encoded) is refused by the HTTP parser before any handler runs, in plain text.
        doc["responses"]["400"].setdefault("content", {})["text/plain"] = {"schema": {"type": "string"}}
    return doc
