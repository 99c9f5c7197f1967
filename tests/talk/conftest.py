"""The talk tests' server: tests/phone_server.py (the app with scripted engines and its local carrier)."""

from __future__ import annotations

from tests.phone_server import make_phone_server

__all__ = ["make_phone_server"]
