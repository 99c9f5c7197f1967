"""`callmeback serve --workers N`: N identical server processes on one port (SO_REUSEPORT), one database.

The parent starts what must exist once: the embedded PostgreSQL (when no DATABASE_URL is set) and the
local carrier (when no Twilio credentials are set, run exactly as `callmeback carrier` runs it), applies
the migrations, then starts the workers with their environment pointing at both. Each worker is a plain
`callmeback serve` (schedules and memory jobs are already shared through the database). SIGTERM/SIGINT
to the parent is passed on to every worker, which drains its own calls; the parent waits for them all,
then stops the carrier and the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from dataclasses import replace

from db.embedded import EmbeddedPostgres
from orchestrator.carrier import running_carrier
from orchestrator.config import Settings
from orchestrator.database import open_database
from orchestrator.telephony_setup import carrier_settings

log = logging.getLogger("callmeback")


def serve_workers(settings: Settings, host: str | None, port: int | None, workers: int) -> int:
    server = replace(settings.server, host=host or settings.server.host, port=port or settings.server.port)
    return asyncio.run(_run(replace(settings, server=server), workers))


async def _run(settings: Settings, count: int) -> int:
    env = dict(os.environ)
    env["JWT_SECRET"] = settings.auth.jwt_secret.reveal()  # with a DATABASE_URL a worker needs it explicitly
    env["PUBLIC_BASE_URL"] = settings.base_url
    async with contextlib.AsyncExitStack() as stack:
        if not settings.database.url:
            embedded = EmbeddedPostgres(settings.server.data_dir / "postgres")
            dsn = await embedded.start()
            stack.push_async_callback(embedded.stop)
            env["DATABASE_URL"] = dsn
            settings = replace(settings, database=replace(settings.database, url=dsn))
        async with open_database(settings, max_size=1) as db:  # migrate once, before any worker starts
            if db.applied:
                log.info("applied %d migration(s)", len(db.applied))
        twilio = settings.twilio
        if not (twilio.account_sid and twilio.auth_token is not None):
            local = carrier_settings(settings)
            running = await stack.enter_async_context(running_carrier(local))
            env.update(
                TWILIO_API_BASE=running.base_url,
                TWILIO_ACCOUNT_SID=local.account_sid,
                TWILIO_AUTH_TOKEN=local.auth_token,
                TWILIO_FROM_NUMBER=settings.carrier.from_number,
            )
            log.info("local carrier for all workers at %s", running.base_url)
        server = settings.server
        command = [sys.executable, "-m", "orchestrator.cli", "serve", "--host", server.host, "--port", str(server.port)]
        processes = [
            await asyncio.create_subprocess_exec(*command, "--reuse-port", env=env, start_new_session=True)
            for _ in range(count)
        ]
        loop = asyncio.get_running_loop()

        def forward(sig: signal.Signals) -> None:
            log.info("%s: passed on to %d workers", sig.name, len(processes))
            for process in processes:
                if process.returncode is None:
                    process.send_signal(sig)

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, forward, sig)
        try:
            codes = await asyncio.gather(*(process.wait() for process in processes))
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        log.info("workers exited with %s", codes)
        return 0 if all(code == 0 for code in codes) else 1
