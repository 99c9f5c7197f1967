"""Test users: sign up through the real API and carry the token."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from aiohttp.test_utils import TestClient

PASSWORD = "correct horse battery staple"


@dataclass
class ApiUser:
    client: TestClient
    token: str
    user: dict

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def request(self, method: str, path: str, **kwargs: object):
        headers = {**self.headers, **kwargs.pop("headers", {})}  # type: ignore[dict-item]
        return await self.client.request(method, path, headers=headers, **kwargs)


async def sign_up(client: TestClient, **fields: str) -> ApiUser:
    body = {"email": f"user-{uuid.uuid4().hex[:10]}@example.test", "password": PASSWORD, **fields}
    response = await client.post("/api/auth/register", json=body)
    assert response.status == 201, await response.text()
    data = await response.json()
    return ApiUser(client, data["token"], data["user"])
