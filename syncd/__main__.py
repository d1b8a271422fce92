"""`python -m syncd` is the `syncd` command."""

from __future__ import annotations

from syncd.cli import run

if __name__ == "__main__":
    run()
