"""The committed API facts are what the reference text says: the one test that reads outside the repository.

Everything else reads tests/data/api_reference.json. This test finds the reference text the project
was given (`SYNCD_API_REFERENCE`, else the `shared/simplymeet-api/` folder beside the clone),
regenerates the data file in memory and fails if the committed one differs. A clone without the
reference skips it, with the reason; the facts it would check are already in the repository.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from tests import reference
from tests.helpers import REPO_ROOT

pytestmark = pytest.mark.unit

MAX_DIFF_LINES = 40


def _reference_file() -> Path | None:
    """Where the reference text is, or None when it was not given and is not beside the clone."""
    override = os.environ.get(reference.REFERENCE_ENV)
    if override:
        return Path(override)  # asked for by name: a missing file fails in generate(), never skips
    beside = REPO_ROOT.parent / "shared" / "simplymeet-api" / reference.REFERENCE_NAME
    return beside if beside.is_file() else None


def test_committed_facts_match_the_reference_text() -> None:
    source = _reference_file()
    if source is None:
        pytest.skip(
            f"the API reference text is not beside the clone (shared/simplymeet-api/{reference.REFERENCE_NAME}) "
            f"and {reference.REFERENCE_ENV} is unset: tests/data/api_reference.json is not re-checked"
        )
    expected = reference.generate(source)
    committed = reference.DATA_FILE.read_text(encoding="utf-8")
    if committed != expected:
        diff = list(
            difflib.unified_diff(
                committed.splitlines(),
                expected.splitlines(),
                "tests/data/api_reference.json (committed)",
                f"generated from {source.name}",
                lineterm="",
            )
        )
        shown = "\n".join(diff[:MAX_DIFF_LINES])
        more = f"\n... {len(diff) - MAX_DIFF_LINES} more diff lines" if len(diff) > MAX_DIFF_LINES else ""
        pytest.fail(
            f"tests/data/api_reference.json differs from what {source} gives; regenerate it with "
            f"`make reference-data REFERENCE={source}` and review the change:\n{shown}{more}",
            pytrace=False,
        )
