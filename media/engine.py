"""The lifecycle every engine shares: `start()` once (load models, open clients), `aclose()` once; or
`async with`, which does both. One place, so a cleanup context can hold any engine the same way."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, Self, TypeVar

M = TypeVar("M")
T = TypeVar("T")


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


class ModelThread(Generic[M]):
    """One worker thread that loads a blocking model and runs every call on it.

    CPU-bound engines (Whisper, Piper) keep the event loop free this way, and a single thread per model
    makes concurrent calls queue instead of oversubscribing two cores the other engines also need.
    """

    def __init__(self, name: str, load: Callable[[], M]) -> None:
        self._name = name
        self._load = load
        self._executor: ThreadPoolExecutor | None = None
        self._model: M | None = None

    @property
    def model(self) -> M:
        if self._model is None:
            raise RuntimeError(f"{self._name} is not started")
        return self._model

    @property
    def running(self) -> bool:
        return self._model is not None

    async def start(self) -> None:
        if self._executor is not None:
            raise RuntimeError(f"{self._name} already started")
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self._name)
        try:
            self._model = await asyncio.get_running_loop().run_in_executor(self._executor, self._load)
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        executor, self._executor, self._model = self._executor, None, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """`function(*args)` on the model's thread."""
        if self._executor is None:
            raise RuntimeError(f"{self._name} is not started")
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)
