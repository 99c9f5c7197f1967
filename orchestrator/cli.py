"""The `callmeback` command: serve the app, or apply migrations."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys

from db.errors import DatabaseError
from orchestrator.config import ConfigError, Settings, load_settings
from orchestrator.database import open_database
from orchestrator.logs import setup_logging

log = logging.getLogger("callmeback")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="callmeback", description="Call Me Back voice call orchestrator")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the server (migrates the database first)")
    serve.add_argument("--host", help="interface to listen on (default from config.toml)")
    serve.add_argument("--port", type=int, help="port to listen on (default from config.toml)")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="identical server processes sharing the port and the database (default 1)",
    )
    serve.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)  # set for each worker
    commands.add_parser("migrate", help="apply pending database migrations and exit")
    carrier = commands.add_parser("carrier", help="run the local carrier (an offline Twilio) on its own")
    carrier.add_argument("--host", help="interface to listen on (default from config.toml [carrier])")
    carrier.add_argument("--port", type=int, help="port to listen on (default from config.toml [carrier])")
    args = parser.parse_args(argv)

    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"callmeback: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.server.log_format, settings.server.log_level)
    try:
        if args.command == "serve" and args.workers > 1:
            from orchestrator.workers import serve_workers

            return serve_workers(settings, args.host, args.port, args.workers)
        if args.command == "serve":
            return _serve(settings, args.host, args.port, reuse_port=args.reuse_port)
        if args.command == "carrier":
            return _carrier(settings, args.host, args.port)
        return asyncio.run(_migrate(settings))
    except DatabaseError as exc:
        print(f"callmeback: {exc}", file=sys.stderr)
        return 1


def _serve(settings: Settings, host: str | None, port: int | None, *, reuse_port: bool = False) -> int:
    """Serve until SIGTERM/SIGINT, then drain gracefully (orchestrator/shutdown.py)."""
    from dataclasses import replace

    from orchestrator.app import create_app
    from orchestrator.shutdown import serve

    server = replace(settings.server, host=host or settings.server.host, port=port or settings.server.port)
    settings = replace(settings, server=server)
    url = f"http://{'127.0.0.1' if server.host in ('0.0.0.0', '::') else server.host}:{server.port}/"
    asyncio.run(
        serve(
            create_app(settings),
            server.host,
            server.port,
            reuse_port=reuse_port,
            on_ready=lambda: print(f"Call Me Back is running. Open {url}", flush=True),
        )
    )
    return 0


def _carrier(settings: Settings, host: str | None, port: int | None) -> int:
    """The carrier alone, for a server started with TWILIO_* pointing at it (the same code path as Twilio)."""
    from dataclasses import replace

    from orchestrator.carrier import running_carrier
    from orchestrator.telephony_setup import carrier_settings

    local = carrier_settings(settings)
    local = replace(local, host=host or local.host, port=local.port if port is None else port)

    async def run() -> None:
        async with running_carrier(local) as running:
            token_file = settings.server.data_dir / "secrets" / "carrier_auth_token"
            print(
                f"Local carrier listening on {running.base_url}\n"
                f"Point the server at it:\n"
                f"  TWILIO_API_BASE={running.base_url} TWILIO_ACCOUNT_SID={local.account_sid} "
                f'TWILIO_FROM_NUMBER="{settings.carrier.from_number}" TWILIO_AUTH_TOKEN="$(cat {token_file})"',
                flush=True,
            )
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    return 0


async def _migrate(settings: Settings) -> int:
    async with open_database(settings, max_size=1) as db:
        applied = db.applied
    print(f"applied {len(applied)} migration(s)" if applied else "database is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
