"""`python -m orchestrator.carrier config.toml`: run the local carrier from a config's `[carrier]` table."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import tomllib
from pathlib import Path

from .app import serve
from .settings import load_carrier_settings


def main() -> None:
    parser = argparse.ArgumentParser(description="Offline stand-in for Twilio (REST, webhooks, media streams).")
    parser.add_argument("config", type=Path, help="TOML file with a [carrier] table")
    args = parser.parse_args()
    with args.config.open("rb") as file:
        settings = load_carrier_settings(tomllib.load(file)["carrier"])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
