"""A faithful, seeded simulator of the SimplyMeet panel API (see docs/sandbox.md).

The rest of syncd never imports this package; the CLI and the tests do.
"""

from __future__ import annotations

from syncd.sandbox.app import Call, Sandbox
from syncd.sandbox.faults import Faults
from syncd.sandbox.profiles import PROFILES, Profile, parse_profile
from syncd.sandbox.world import Conflict, NotFound, World

__all__ = [
    "PROFILES",
    "Call",
    "Conflict",
    "Faults",
    "NotFound",
    "Profile",
    "Sandbox",
    "World",
    "parse_profile",
]
