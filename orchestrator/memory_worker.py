"""The memory worker: after a call ends, extract what the persona should remember, then merge it in.

Every process runs one (unless `[memory] run_worker = false`); jobs live in `memory_jobs` (one per ended
call, enqueued by `call_ended` where the media stream ends), so nothing is lost across restarts:
- claim: due jobs are leased with FOR UPDATE SKIP LOCKED in one statement (no lock held while the model
  thinks); a worker that dies mid-job leaves the job to be claimed again when its lease ends;
- extract: the transcript and the known facts go to the language model; a failure, a timeout or an answer
  with no JSON retries the job later with exponential backoff, up to `max_attempts`, then records it failed
  with its error. The transcript is only ever read;
- merge: in one transaction under a per-(user, persona) lock, the known facts are read again and merged
  (dedup and cap), the summary stored and the job finished; a "forget me" in between wins.

With the embedded model (one llama.cpp slot shared with live calls) the worker waits while this process
has a live call: a 400-token extraction would otherwise hold the slot and stall a caller's next reply.
A sweep also enqueues ended calls that have a transcript but no job (their process died mid-call).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import asyncpg
from aiohttp import web

from db import memory
from orchestrator.config import MemorySection
from orchestrator.keys import ENGINES, LIVE_CALLS, POOL, SETTINGS
from personas.llm import LanguageModel
from personas.memory import ExtractionError, extract, extraction_messages, merge

log = logging.getLogger(__name__)
SWEEP_LOOKBACK_S = 86400.0


class MemoryWorker:
    def __init__(
        self,
        pool: asyncpg.Pool,
        llm: LanguageModel,
        settings: MemorySection,
        busy: Callable[[], bool] = lambda: False,
    ) -> None:
        self.pool = pool
        self.llm = llm
        self.settings = settings
        self.busy = busy

    async def run(self) -> None:
        """Poll forever; a failed poll (a database blip) is logged and the next one tries again."""
        while True:
            try:
                await self.tick()
            except Exception:
                log.warning("memory: poll failed; will retry", exc_info=True)
            await asyncio.sleep(self.settings.poll_interval_s)

    async def tick(self) -> int:
        """Sweep, then claim and process due jobs until none are left (or a call goes live). Returns jobs run."""
        settle_s = max(300.0, 10 * self.settings.start_delay_s)
        missed = await memory.enqueue_missed(self.pool, settle_s, SWEEP_LOOKBACK_S)
        if missed:
            log.warning("memory: %d ended calls had no extraction job (their server stopped); enqueued", missed)
        done = 0
        while not self.busy():
            jobs = await memory.claim(self.pool, self.settings.claim_batch, self._lease_s())
            if not jobs:
                return done
            for job in jobs:  # one at a time: extractions share the model with live calls
                await self.process(job)
                done += 1
        return done

    def _lease_s(self) -> float:
        return self.settings.claim_batch * (self.settings.extraction_timeout_s + 30.0)

    async def process(self, job: asyncpg.Record) -> None:
        call_id: uuid.UUID = job["call_id"]
        user_id, persona_id = job["user_id"], job["persona_id"]
        lines = await memory.transcript(self.pool, call_id)
        if user_id is None or persona_id is None or not any(line.role == "caller" for line in lines):
            await memory.finish(self.pool, call_id, "done", "nothing to remember")
            return
        known = await memory.known_facts(self.pool, user_id, persona_id)
        messages = extraction_messages(job["user_name"], known, lines)
        try:
            extraction = await extract(
                self.llm,
                messages,
                {fact.id for fact in known},
                timeout_s=self.settings.extraction_timeout_s,
                max_tokens=self.settings.extraction_max_tokens,
            )
        except ExtractionError as error:
            await self._failed(job, str(error))
            return
        async with self.pool.acquire() as conn, conn.transaction():
            await memory.pair_lock(conn, user_id, persona_id)
            if not await memory.still_pending(conn, call_id):  # forgotten meanwhile
                return
            known = await memory.known_facts(conn, user_id, persona_id)
            plan = merge(known, extraction.facts, cap=self.settings.max_facts, now=datetime.now(UTC))
            await memory.apply(
                conn, call_id=call_id, user_id=user_id, persona_id=persona_id, plan=plan, summary=extraction.summary
            )
        log.info(
            "memory: call %s: %d new facts, %d updated, %d dropped for the cap",
            call_id,
            len(plan.inserts),
            len(plan.updates),
            len(plan.deletes),
        )

    async def _failed(self, job: asyncpg.Record, error: str) -> None:
        attempts = job["attempts"]
        if attempts >= self.settings.max_attempts:
            log.error("memory: call %s: extraction failed %d times, giving up: %s", job["call_id"], attempts, error)
            await memory.finish(self.pool, job["call_id"], "failed", error[:500])
            return
        backoff_s = min(self.settings.max_backoff_s, self.settings.backoff_s * 2 ** (attempts - 1))
        log.warning("memory: call %s: extraction failed (%s); retry in %.0f s", job["call_id"], error, backoff_s)
        await memory.retry_later(self.pool, job["call_id"], error, backoff_s)


async def call_ended(app: web.Application, call_id: uuid.UUID) -> None:
    """Enqueue the call's extraction; never raises (the media stream's end must not fail on it, and the
    worker's sweep enqueues any call this missed)."""
    try:
        await memory.enqueue(app[POOL], call_id, app[SETTINGS].memory.start_delay_s)
    except Exception:
        log.warning("memory: could not enqueue call %s; the sweep will", call_id, exc_info=True)


async def memory_worker(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: the extraction worker, when `[memory] run_worker` is true."""
    settings = app[SETTINGS]
    if not settings.memory.run_worker:
        yield
        return
    local = settings.engines.llm == "local"
    worker = MemoryWorker(app[POOL], app[ENGINES].llm, settings.memory, busy=lambda: local and bool(app[LIVE_CALLS]))
    task = asyncio.get_running_loop().create_task(worker.run(), name="memory-worker")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
