"""The asyncpg connection pool, with jsonb decoded to Python objects on every connection."""

from __future__ import annotations

import json

import asyncpg

from db.errors import DatabaseError


async def _init_connection(conn: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, *, min_size: int, max_size: int, command_timeout_s: float) -> asyncpg.Pool:
    """Open the pool, turning connection failures into one clear error that names the cause."""
    try:
        return await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            command_timeout=command_timeout_s,
            init=_init_connection,
        )
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise DatabaseError(f"cannot connect to PostgreSQL: {exc}") from exc
