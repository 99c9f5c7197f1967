"""A migrated database per executor test, and the telephony server factory for real placements."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import asyncpg
import pytest

from db.migrate import migrate
from db.pool import create_pool
from orchestrator.config import ScheduleSection
from tests.telephony.conftest import make_phone_server  # noqa: F401  (a fixture, used by test_calls)


@pytest.fixture
async def schedule_dsn(make_database) -> str:
    dsn = await make_database()
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return dsn


@pytest.fixture
async def make_pool(schedule_dsn: str) -> AsyncIterator:
    """Factory: a pool on the test's database, as a separate server process would have."""
    pools: list[asyncpg.Pool] = []

    async def make() -> asyncpg.Pool:
        pool = await create_pool(schedule_dsn, min_size=1, max_size=4, command_timeout_s=10)
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        await pool.close()


@pytest.fixture
def schedule_settings(make_settings, schedule_dsn: str) -> ScheduleSection:
    """The [schedules] section exactly as config.toml has it, with a roomy per-user limit."""
    return replace(make_settings(schedule_dsn).schedules, max_per_user=1000)
