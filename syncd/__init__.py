"""syncd: a PostgreSQL mirror of a SimplyMeet.me account, and write-back of local decisions."""

from __future__ import annotations

# Kept equal to pyproject.toml's version by tests/unit/test_cli.py; a constant, because reading the
# installed metadata (importlib.metadata) would cost every start of the command line ~40 ms.
__version__ = "0.1.0"

__all__ = ["__version__"]
