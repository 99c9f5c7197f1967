"""The schedule executor: every process runs one; together they place each occurrence exactly once.

Each poll, in this order:
1. settle: runs whose call has ended are looked at once; busy or no-answer becomes a retry (per the
   schedule's policy) or, with none left, `failed`.
2. claim: in one short transaction, lock due schedules with FOR UPDATE SKIP LOCKED, insert one run per
   occurrence (ON CONFLICT DO NOTHING: a row that exists was handled elsewhere), advance next_run_at,
   commit. Due retries are claimed the same way. An occurrence more than `grace_s` late (the server was
   down) is recorded `missed`; one falling in the user's quiet hours `skipped-quiet-hours`.
3. place: only after the commit, each claimed run's call is placed through `place_call`, with every guard.

Locks are held only for the claim, never across a provider request. A process that dies between the
commit and the placement leaves its run `placing`; after `placing_timeout_s` it is recorded as failed
rather than placed again, because the call may already have rung.

On shutdown `stop()` ends the polling; a claimed run whose placement has not started yet is released
(back to a due retry, its attempt not counted) so another process places it at once.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from aiohttp import web

from db import personas, schedules, users
from orchestrator.calls import place_call
from orchestrator.config import ScheduleSection
from orchestrator.errors import ApiError
from orchestrator.keys import POOL, SETTINGS
from orchestrator.schedule_times import in_quiet_hours, next_occurrence
from orchestrator.schedules import call_context, recurrence

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Placement:
    """One claimed attempt: the run it belongs to and what the call needs."""

    run_id: int
    schedule_id: uuid.UUID
    occurrence_at: datetime
    user_id: uuid.UUID
    persona_id: str
    context: str
    attempts: int
    max_retries: int
    retry_interval_s: int


# Places one attempt's call; returns the call's id (None if no call record was made).
Placer = Callable[[Placement], Awaitable[uuid.UUID | None]]
Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Executor:
    def __init__(self, pool: asyncpg.Pool, settings: ScheduleSection, place: Placer, clock: Clock = _utc_now) -> None:
        self.pool = pool
        self.settings = settings
        self.place = place
        self.clock = clock
        self._stopping = asyncio.Event()
        self.released = 0

    async def run(self) -> None:
        """Poll until `stop()`; a failed poll (a database blip) is logged and the next one tries again."""
        while not self._stopping.is_set():
            try:
                await self.tick()
            except Exception:
                log.warning("scheduler: poll failed; will retry", exc_info=True)
            try:
                async with asyncio.timeout(self.settings.poll_interval_s):
                    await self._stopping.wait()
            except TimeoutError:
                pass

    def stop(self) -> None:
        """Claim nothing more; runs claimed but not yet being placed are released (see `_place_one`)."""
        self._stopping.set()

    async def tick(self) -> int:
        """One poll: settle ended calls, then claim and place until nothing is due. Returns attempts placed."""
        now = self.clock()
        expired = await schedules.expire_placing(self.pool, now, self.settings.placing_timeout_s)
        if expired:
            log.warning("scheduler: %d runs were left mid-placement by a stopped server; recorded failed", expired)
        await schedules.settle_ended_calls(self.pool, now)
        placed = 0
        while True:
            due, more_due = await self._claim_due(now)
            retries, more_retries = await self._claim_retries(now)
            await self._place_all(due + retries)
            placed += len(due) + len(retries)
            if not (more_due or more_retries) or self._stopping.is_set():
                return placed

    def _decide(self, row: asyncpg.Record, due_at: datetime, now: datetime) -> tuple[str, str | None]:
        late_s = (now - due_at).total_seconds()
        if late_s > self.settings.grace_s:
            return "missed", f"the server was not running when this was due ({int(late_s)} s late)"
        if in_quiet_hours(now, row["timezone"], row["quiet_hours_start"], row["quiet_hours_end"]):
            return "skipped-quiet-hours", None
        return "placing", None

    async def _claim_due(self, now: datetime) -> tuple[list[Placement], bool]:
        batch = self.settings.claim_batch
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await schedules.claim_due(conn, now, batch)
            if not rows:
                return [], False
            runs, next_runs = [], []
            for row in rows:
                due_at = row["next_run_at"]
                status, error = self._decide(row, due_at, now)
                runs.append((row["schedule_id"], due_at, status, 1 if status == "placing" else 0, error))
                rule = recurrence(row)
                next_runs.append((row["schedule_id"], None if rule is None else next_occurrence(rule, due_at)))
            inserted = await schedules.record_occurrences(conn, now, runs)
            await schedules.advance(conn, next_runs)
        new = {run["schedule_id"]: run for run in inserted}
        if len(new) < len(rows):
            log.info("scheduler: %d occurrences were already recorded; not placed again", len(rows) - len(new))
        placements = [
            _placement(row, new[row["schedule_id"]]["id"], row["next_run_at"], 1)
            for row in rows
            if row["schedule_id"] in new and new[row["schedule_id"]]["status"] == "placing"
        ]
        # Claimed rows may still be due (several occurrences passed while the server was down): go again.
        return placements, True

    async def _claim_retries(self, now: datetime) -> tuple[list[Placement], bool]:
        batch = self.settings.claim_batch
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await schedules.claim_retries(conn, now, batch)
            if not rows:
                return [], False
            decisions, placements = [], []
            for row in rows:
                status, error = self._decide(row, row["retry_at"], now)
                attempts = row["attempts"] + (status == "placing")
                decisions.append((row["run_id"], status, attempts, error))
                if status == "placing":
                    placements.append(_placement(row, row["run_id"], row["occurrence_at"], attempts))
            await schedules.decide_runs(conn, now, decisions)
        return placements, len(rows) == batch

    async def _place_all(self, placements: list[Placement]) -> None:
        if not placements:
            return
        slots = asyncio.Semaphore(self.settings.placement_concurrency)
        async with asyncio.TaskGroup() as group:
            for placement in placements:
                group.create_task(self._place_one(placement, slots))

    async def _place_one(self, placement: Placement, slots: asyncio.Semaphore) -> None:
        """The edge of one placement's task: whatever happens is recorded on its run, never raised."""
        async with slots:
            if self._stopping.is_set():
                await self._release(placement)
                return
            try:
                call_id = await self.place(placement)
            except ApiError as exc:  # a guard refused: a call already in progress counts as busy
                retry = exc.code == "call_in_progress" and placement.attempts <= placement.max_retries
                await self._record(placement, retry, exc.message)
            except Exception as exc:
                log.exception("scheduler: placing run %d failed", placement.run_id)
                await self._record(placement, False, f"could not place the call: {type(exc).__name__}")
            else:
                await schedules.mark_placed(self.pool, placement.run_id, call_id)

    async def _release(self, placement: Placement) -> None:
        try:
            await schedules.release_claim(self.pool, placement.run_id, self.clock())
            self.released += 1
            log.info("scheduler: released run %d (shutting down); another process will place it", placement.run_id)
        except Exception:  # left `placing`, it is recorded failed after placing_timeout_s
            log.warning("scheduler: could not release run %d", placement.run_id, exc_info=True)

    async def _record(self, placement: Placement, retry: bool, error: str) -> None:
        try:
            if retry:
                retry_at = self.clock() + timedelta(seconds=placement.retry_interval_s)
                await schedules.mark_retrying(self.pool, placement.run_id, retry_at, error)
            else:
                await schedules.mark_failed(self.pool, placement.run_id, error)
        except Exception:  # left `placing`, it is recorded failed after placing_timeout_s
            log.warning("scheduler: could not record run %d", placement.run_id, exc_info=True)


def _placement(row: asyncpg.Record, run_id: int, occurrence_at: datetime, attempts: int) -> Placement:
    return Placement(
        run_id=run_id,
        schedule_id=row["schedule_id"],
        occurrence_at=occurrence_at,
        user_id=row["user_id"],
        persona_id=row["persona_id"],
        context=call_context(row["purpose"], row["context"]),
        attempts=attempts,
        max_retries=row["max_retries"],
        retry_interval_s=row["retry_interval_s"],
    )


def app_placer(app: web.Application) -> Placer:
    """Place through `place_call`, exactly as "call me now" does: every guard applies."""

    async def place(placement: Placement) -> uuid.UUID | None:
        pool = app[POOL]
        user = await users.get_user(pool, placement.user_id)
        persona = await personas.get_persona(pool, placement.user_id, placement.persona_id)
        if user is None or persona is None:
            raise ApiError(404, "not_found", "the schedule's persona no longer exists")
        call = await place_call(app, user, persona, placement.context)
        return call["id"]

    return place


SCHEDULER = web.AppKey("scheduler", Executor)


async def scheduler(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: the executor, polling every `[schedules] poll_interval_s` while the app runs."""
    settings = app[SETTINGS].schedules
    executor = Executor(app[POOL], settings, app_placer(app))
    app[SCHEDULER] = executor
    if not settings.run_executor:
        yield
        return
    task = asyncio.get_running_loop().create_task(executor.run(), name="scheduler")
    try:
        yield
    finally:
        executor.stop()  # a poll under way finishes (releasing what it cannot place) for a few seconds
        try:
            async with asyncio.timeout(5):
                await asyncio.shield(task)
        except Exception:  # the timeout, or the poll's own failure
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
