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

    async def model_greeted_persona(self, name: str = "Brad") -> str:
        """A persona of this user's own with no fixed greeting, so the (scripted) model writes the call's
        first words too: for the tests that script a call from its greeting on. Returns its id."""
        body = {"name": name, "core_prompt": f"You are {name}, a direct, upbeat coach."}
        response = await self.request("POST", "/api/personas", json=body)
        assert response.status == 201, await response.text()
        return (await response.json())["id"]


async def sign_up(client: TestClient, **fields: str) -> ApiUser:
    body = {"email": f"user-{uuid.uuid4().hex[:10]}@example.test", "password": PASSWORD, **fields}
    response = await client.post("/api/auth/register", json=body)
    assert response.status == 201, await response.text()
    data = await response.json()
    return ApiUser(client, data["token"], data["user"])
