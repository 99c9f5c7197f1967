"""Schemathesis hooks for tests/fuzz (loaded by the CLI through SCHEMATHESIS_HOOKS).

Every request is authenticated as a fresh user registered through the API under test; the user is renewed
every few seconds, so a fuzzed `POST /api/auth/logout` (which revokes the token) cannot blind the rest of the run.
"""

from __future__ import annotations

import os
import uuid

import requests
import schemathesis

_REFRESH_S = 5


@schemathesis.check
def unsigned_webhooks_are_forbidden(ctx, response, case) -> None:
    """Generated requests never carry a Twilio signature: a webhook must refuse every one with 403."""
    if case.operation.path.startswith("/twilio/") and response.status_code != 403:
        raise AssertionError(f"unsigned webhook answered {response.status_code}, not 403")


@schemathesis.auth(refresh_interval=_REFRESH_S)
class FreshUser:
    def get(self, case, ctx) -> str:
        base_url = os.environ["CALLMEBACK_FUZZ_BASE_URL"]
        body = {"email": f"fuzz-{uuid.uuid4().hex[:12]}@example.test", "password": "correct horse battery staple"}
        response = requests.post(f"{base_url}/api/auth/register", json=body, timeout=10)
        response.raise_for_status()
        return response.json()["token"]

    def set(self, case, data: str, ctx) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}
