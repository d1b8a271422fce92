"""Every table module is imported here, so the MetaData is complete wherever it is read."""

from __future__ import annotations

from syncd.db.schema import metadata

__all__ = ["metadata"]
