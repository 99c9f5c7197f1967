"""The migration runner against a real PostgreSQL: once, twice, edited files, racing processes."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path

import asyncpg
import pytest

from db.errors import MigrationError
from db.migrate import MIGRATIONS_DIR, load_migrations, migrate, pending_migrations

EXPECTED_TABLES = {
    "users",
    "token_blacklist",
    "personas",
    "user_personas",
    "calls",
    "call_events",
    "utterances",
    "rate_limit_counters",
    "schema_migrations",
}


async def _tables(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {row["tablename"] for row in rows}


async def test_applies_every_migration_once_then_nothing(make_database) -> None:
    conn = await asyncpg.connect(await make_database())
    try:
        applied = await migrate(conn)
        assert [m.version for m in applied] == [m.version for m in load_migrations()]
        assert EXPECTED_TABLES <= await _tables(conn)
        assert await migrate(conn) == []
        rows = await conn.fetch("SELECT version, checksum FROM schema_migrations ORDER BY version")
        assert [(r["version"], r["checksum"]) for r in rows] == [(m.version, m.checksum) for m in applied]
        assert await pending_migrations(conn, load_migrations()) == []
    finally:
        await conn.close()


async def test_builtin_personas_are_seeded_and_distinct(make_database) -> None:
    conn = await asyncpg.connect(await make_database())
    try:
        await migrate(conn)
        rows = await conn.fetch("SELECT id, core_prompt, voice::text AS voice FROM personas WHERE owner_id IS NULL")
    finally:
        await conn.close()
    assert {r["id"] for r in rows} == {"brad", "sarah", "alex"}
    assert len({r["core_prompt"] for r in rows}) == 3
    assert len({r["voice"] for r in rows}) == 3


def _copy_migrations(tmp_path: Path) -> Path:
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, folder)
    return folder


async def test_edited_applied_migration_is_refused(make_database, tmp_path: Path) -> None:
    folder = _copy_migrations(tmp_path)
    conn = await asyncpg.connect(await make_database())
    try:
        await migrate(conn, load_migrations(folder))
        first = sorted(folder.glob("*.sql"))[0]
        first.write_text(first.read_text() + "\n-- a harmless-looking edit\n")
        with pytest.raises(MigrationError, match="edited after it was applied"):
            await migrate(conn, load_migrations(folder))
    finally:
        await conn.close()


async def test_database_newer_than_code_is_refused(make_database, tmp_path: Path) -> None:
    folder = _copy_migrations(tmp_path)
    conn = await asyncpg.connect(await make_database())
    try:
        await migrate(conn, load_migrations(folder))
        sorted(folder.glob("*.sql"))[-1].unlink()
        with pytest.raises(MigrationError, match="older than the database"):
            await migrate(conn, load_migrations(folder))
    finally:
        await conn.close()


async def test_failed_migration_rolls_back_alone(make_database, tmp_path: Path) -> None:
    folder = _copy_migrations(tmp_path)
    (folder / "9998_good.sql").write_text("CREATE TABLE good_one (id int);")
    (folder / "9999_broken.sql").write_text("CREATE TABLE half_done (id int); SELECT no_such_function();")
    conn = await asyncpg.connect(await make_database())
    try:
        with pytest.raises(MigrationError, match=r"9999_broken\.sql failed"):
            await migrate(conn, load_migrations(folder))
        tables = await _tables(conn)
        assert "good_one" in tables and "half_done" not in tables
        assert await conn.fetchval("SELECT max(version) FROM schema_migrations") == 9998
    finally:
        await conn.close()


def test_badly_named_file_is_refused(tmp_path: Path) -> None:
    folder = _copy_migrations(tmp_path)
    (folder / "3_oops.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"NNNN_name\.sql"):
        load_migrations(folder)


async def test_two_processes_migrating_at_once(make_database, make_settings, repo_root: Path) -> None:
    dsn = await make_database()
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "JWT_SECRET": "x" * 40,
        "CALLMEBACK_DATA_DIR": "/tmp/cmb-test-data",
    }
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "orchestrator.cli",
            "migrate",
            cwd=repo_root,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(3)
    ]
    outputs = [await proc.communicate() for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0], outputs
    said = sorted(out.decode().strip() for out, _ in outputs)
    assert said.count("database is up to date") == 2, said
    assert said[0].startswith("applied ")
    conn = await asyncpg.connect(dsn)
    try:
        count = await conn.fetchval("SELECT count(*) FROM schema_migrations")
        assert count == len(load_migrations())
    finally:
        await conn.close()
