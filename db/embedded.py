"""The embedded PostgreSQL used when no DATABASE_URL is configured.

`pgserver` ships a real PostgreSQL 16 inside its wheel, so a newcomer needs no database install. It listens
on a Unix socket in its data dir only (no TCP port to expose). When run as root it creates a `pgserver`
system user and makes every parent folder of the data dir world-traversable, which is why the default
data dir for root lives under /var/lib (already traversable) and never under /root.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from db.errors import EmbeddedDatabaseError

log = logging.getLogger(__name__)

DATABASE_NAME = "callmeback"


class EmbeddedPostgres:
    """One handle on the bundled server; several processes may share a data dir (pgserver counts them)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._server = None

    async def start(self) -> str:
        """Start (or join) the server and return a DSN for the application's database."""
        # pgserver narrates every subprocess at INFO and warns about XDG_RUNTIME_DIR: keep our logs ours.
        logging.getLogger("pgserver").setLevel(logging.WARNING)
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        try:
            import pgserver
        except ImportError as exc:  # pragma: no cover - pgserver is a core dependency
            raise EmbeddedDatabaseError("pgserver is not installed; set DATABASE_URL instead") from exc
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            # initdb + start takes ~0.5 s of subprocess work: keep it off the event loop.
            self._server = await asyncio.to_thread(pgserver.get_server, self.data_dir, cleanup_mode="stop")
        except Exception as exc:
            raise EmbeddedDatabaseError(f"could not start the embedded PostgreSQL in {self.data_dir}: {exc}") from exc
        admin_dsn = self._server.get_uri()
        await _ensure_database(admin_dsn, DATABASE_NAME)
        log.info("embedded PostgreSQL running in %s", self.data_dir)
        return _with_database(admin_dsn, DATABASE_NAME)

    async def stop(self) -> None:
        """Release this process's hold; the server stops when no process uses it any more."""
        server, self._server = self._server, None
        if server is not None:
            await asyncio.to_thread(server.cleanup)


def _with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


async def _ensure_database(admin_dsn: str, database: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            try:
                await conn.execute(f'CREATE DATABASE "{database}"')
            except asyncpg.DuplicateDatabaseError:
                pass  # another process created it first
    finally:
        await conn.close()
