"""Scenario tests: whole user stories through a real server, its local carrier and PostgreSQL."""

from tests.phone_server import make_phone_server

__all__ = ["make_phone_server"]
