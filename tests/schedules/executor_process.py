"""One "server process" for the racing tests: the production Executor on its own pool, in its own OS
process, placing calls by recording them in the `calls` table (what place_call does first).

    python -m tests.schedules.executor_process DSN NAME SETTINGS_JSON

It prints `ready` once connected, waits for a line on stdin (the start signal, so racing processes
start together), runs two concurrent polls, printing `placed <schedule_id>` after each call row is
written, then `done <count>`.
"""

from __future__ import annotations

import asyncio
import json
import sys

from db.pool import create_pool
from orchestrator.config import ScheduleSection
from orchestrator.scheduler import Executor, Placement


async def main(dsn: str, name: str, settings: ScheduleSection) -> None:
    pool = await create_pool(dsn, min_size=1, max_size=4, command_timeout_s=10)
    placed = 0

    async def place(placement: Placement):
        nonlocal placed
        await asyncio.sleep(0.01)  # a provider request takes a while: the other process keeps claiming
        call_id = await pool.fetchval(
            """INSERT INTO calls (user_id, persona_id, direction, from_number, to_number, context)
               VALUES ($1, $2, 'outbound', $3, '+14155550100', $4) RETURNING id""",
            placement.user_id,
            placement.persona_id,
            name,
            f"{placement.schedule_id}@{placement.occurrence_at.isoformat()}",
        )
        placed += 1
        print(f"placed {placement.schedule_id}", flush=True)
        return call_id

    executor = Executor(pool, settings, place)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await asyncio.gather(executor.tick(), executor.tick())
    print(f"done {placed}", flush=True)
    await pool.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], ScheduleSection(**json.loads(sys.argv[3]))))
