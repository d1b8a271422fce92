"""`syncd run` pins glibc's mmap threshold, so large freed buffers go back instead of staying in arenas."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from syncd.memory import limit_arenas, pin_mmap_threshold

pytestmark = pytest.mark.unit

GLIBC = (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")

# Free a 4 MiB buffer (mapped, as glibc starts out), then take a 2 MiB one: is it mapped too, or
# carved from the heap? Prints the bytes glibc holds mapped for the 2 MiB buffer (mallinfo2's hblkhd).
_PROBE = """
import ctypes, sys
from syncd.memory import limit_arenas, pin_mmap_threshold
class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "pin":
    assert pin_mmap_threshold()
libc.free(libc.malloc(4 << 20))
before = libc.mallinfo2().hblkhd
buffer = libc.malloc(2 << 20)
print(libc.mallinfo2().hblkhd - before)
libc.free(buffer)
"""


def _mapped_for_second_buffer(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], env=env, capture_output=True, text=True, check=True, timeout=60
    )
    return int(done.stdout.split()[-1])


@pytest.mark.skipif(not GLIBC, reason="glibc's allocator only")
def test_a_freed_large_buffer_no_longer_raises_the_threshold() -> None:
    # glibc's default: after the 4 MiB buffer is freed, 2 MiB is under the raised threshold: heap.
    assert _mapped_for_second_buffer("default") == 0
    # Pinned: mapped on its own, so freeing it gives it back to the system.
    assert _mapped_for_second_buffer("pin") >= 2 << 20


def test_an_operator_setting_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert pin_mmap_threshold() is False


def test_another_c_library_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.setattr(os, "confstr", lambda name: None)
    assert pin_mmap_threshold() is False


def test_an_operator_arena_setting_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_arenas() is False


_ARENAS = """
import ctypes, sys, threading
from syncd.memory import limit_arenas
if sys.argv[1] == "limit":
    assert limit_arenas(2)
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
barrier = threading.Barrier(8)
def work():
    barrier.wait()
    for _ in range(2000):
        libc.malloc(64)
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
libc.malloc_stats()  # to stderr: one 'Arena N:' block per arena
"""


@pytest.mark.skipif(not GLIBC, reason="glibc's allocator only")
def test_arenas_are_limited() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    done = subprocess.run(
        [sys.executable, "-c", _ARENAS, "limit"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert done.stderr.count("Arena ") <= 2
