"""Every table module is imported here, so the MetaData is complete wherever it is read."""

from __future__ import annotations

from syncd.db import (
    feed,  # noqa: F401  # the change feed and the event history
    intents,  # noqa: F401  # the write-back queue and its audit trail
    mirror_tables,  # noqa: F401  # the mirror tables
    state,  # noqa: F401  # the sync engine's runs, cursors, seen keys, rejected objects
    webhooks,  # noqa: F401  # outgoing webhook subscriptions and their delivery attempts
)
from syncd.db.schema import metadata

__all__ = ["metadata"]
