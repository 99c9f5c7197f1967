"""A reply started before the caller's turn is over: the model's output buffered, unspoken.

At a speculative pause (`media.turns.SpeculativePause`) the call transcribes the audio so far and, with
`[turns] speculative_reply`, starts the language model on that transcript. Nothing is said yet: the
events wait here. If the turn then ends at that pause, with the same words and nothing else changed in
the conversation (the reply would send exactly the same messages), the reply replays these events
instead of asking the model again, so the model's time to first token is already (partly) spent. If the
caller goes on, the guess is dropped: the model is cancelled and nothing of it is ever heard.

Tools the model calls are buffered as events like text: they run only when the reply replays them, so a
dropped guess has no effect beyond the tokens it cost.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from personas.llm import Done, LlmEvent, Message, TextDelta, ToolCall, Usage


class EarlyReply:
    """One speculative model stream. `run()` is the producer (a task of the call); `replay()` is read
    once, by the reply that uses it; `cancel()` drops it."""

    def __init__(self, messages: Sequence[Message], stream: AsyncIterator[LlmEvent]) -> None:
        self.messages = list(messages)
        self.usage: Usage | None = None  # as the model reported it, once it has finished
        self.produced: list[str] = []  # the model's output so far, to estimate its tokens if it never reports
        self.finished = False
        self._stream = stream
        self._events: asyncio.Queue[LlmEvent | Exception | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self, task_group: asyncio.TaskGroup) -> None:
        self._task = task_group.create_task(self._run(), name="speculative-reply")

    async def _run(self) -> None:
        """Buffer every event; a failure is buffered too (the reply that replays it handles it as its
        own), so this task never raises into the call's TaskGroup."""
        try:
            async for event in self._stream:
                self._events.put_nowait(event)
                if isinstance(event, TextDelta):
                    self.produced.append(event.text)
                elif isinstance(event, ToolCall):
                    self.produced.append(f"{event.name}{event.arguments}")
                elif isinstance(event, Done):
                    self.usage = event.usage
                    self.finished = True
                    break
        except Exception as exc:  # forwarded to the reader, which decides
            self._events.put_nowait(exc)
        finally:
            self._events.put_nowait(None)
            await self._stream.aclose()

    async def replay(self) -> AsyncIterator[LlmEvent]:
        """The model's events in order, those already buffered at once, then live; closing it early (a
        barge-in) cancels the model."""
        try:
            while (item := await self._events.get()) is not None:
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            self.cancel()

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
