"""How a long-running syncd process asks glibc's allocator to give large freed buffers back.

Decoding one page of ~1 MB makes orjson allocate a scratch buffer of ~11 MB (about ten times the
body), and the API bodies themselves are up to ~1 MB. glibc serves such a buffer with its own mmap,
but on freeing it raises its mmap threshold to the buffer's size (the "dynamic mmap threshold", up
to 32 MiB) and its trim threshold to twice that. From then on these buffers come from the heap arena
of whichever thread decodes, and once freed they stay in that arena. The daemon's threads (the sync
jobs, the page readers, the replay workers, a new set for each pass) spread over up to 8 arenas per
core, and each arena kept its own peak: under `make soak` RSS grew ~20-40 MB/min while the memory
in use stayed flat at ~20 MB (docs/operations.md, "Soak").
"""

from __future__ import annotations

import ctypes
import os

import structlog

log = structlog.get_logger(__name__)

_M_MMAP_THRESHOLD = -3  # mallopt(3)'s parameter numbers (malloc.h)
_M_ARENA_MAX = -8
# glibc's own starting value. Pinned, so freeing a large buffer no longer raises it.
MMAP_THRESHOLD_BYTES = 128 * 1024
# Arenas for the whole process (glibc's default: 8 per core). Python threads mostly wait for the GIL,
# so they gain little from an arena each, and each arena keeps its own high-water mark.
ARENA_MAX = 2


def _mallopt(parameter: int, value: int, env_name: str) -> bool:
    """mallopt(parameter, value), unless glibc is not the C library or the operator set `env_name`
    (glibc read it at start; their value stands). True when it was set."""
    if env_name in os.environ:
        return False
    try:
        libc_name = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError):
        libc_name = ""
    if not libc_name.startswith("glibc"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(parameter, value))


def pin_mmap_threshold(threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap threshold at `threshold` for the rest of the process; True when it was set.

    Setting it switches glibc's dynamic adjustment off, and with it the raised trim threshold:
    every buffer from `threshold` up is mapped and unmapped on its own (a few hundred page faults for
    a ~1 MB page: nothing next to its request), and the arenas keep only small allocations.
    Does nothing where the C library is not glibc, or where the operator set
    MALLOC_MMAP_THRESHOLD_.
    """
    done = _mallopt(_M_MMAP_THRESHOLD, threshold, "MALLOC_MMAP_THRESHOLD_")
    log.debug("memory.mmap_threshold_pinned", bytes=threshold, done=done)
    return done


def limit_arenas(arenas: int = ARENA_MAX) -> bool:
    """At most `arenas` malloc arenas from now on (call it before threads start); True when set.
    Leaves MALLOC_ARENA_MAX, when the operator set it, alone."""
    done = _mallopt(_M_ARENA_MAX, arenas, "MALLOC_ARENA_MAX")
    log.debug("memory.arenas_limited", arenas=arenas, done=done)
    return done


def tune_allocator() -> None:
    """What a long-running, multi-threaded syncd process does before its threads start."""
    pin_mmap_threshold()
    limit_arenas()
