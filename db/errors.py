"""Errors of the database layer.

DatabaseError
├── MigrationError       a migration file is missing, edited after being applied, or failed to apply
└── EmbeddedDatabaseError the embedded PostgreSQL could not be started
"""


class DatabaseError(Exception):
    """Base of every error raised by `db`."""


class MigrationError(DatabaseError):
    """The schema cannot be brought to the version the code expects."""


class EmbeddedDatabaseError(DatabaseError):
    """The bundled PostgreSQL server did not start."""
