"""Database errors the command line reports as one line; a light module, so `syncd --help` starts fast."""

from __future__ import annotations


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached; the message names the target and the reason, never a password."""


class EmbeddedDatabaseError(RuntimeError):
    """The embedded server could not be started; the message says where to look."""


class DataDirUnusable(EmbeddedDatabaseError):
    """The setting data_dir names a directory that cannot be created: a bad setting (exit 2)."""


class SchemaBehind(RuntimeError):
    """The database schema is older than this code: run `syncd db upgrade`."""
