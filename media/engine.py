"""The lifecycle every engine shares: `start()` once (load models, open clients), `aclose()` once; or
`async with`, which does both. One place, so a cleanup context can hold any engine the same way."""

from __future__ import annotations

from typing import Self


class Engine:
    async def start(self) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
