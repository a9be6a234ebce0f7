"""One malloc arena for the server, so memory one request frees serves the next.

glibc gives each thread that allocates while another does its own arena (up to eight per
core), and what a request frees in its thread's arena is neither reused by requests on the
other threads nor returned to the system. After 16 concurrent worst-case uploads the server
peaked at 875-884 MB over idle and kept 750-810 MB; with one arena the same burst peaked at
510-567 MB and the process fell back to within 50 MB of idle (BUILD_NOTES.md, "Where the
rest goes: glibc's malloc arenas"). Decoded images are large enough to be mmapped and are
returned either way; the single arena's lock is nothing next to decoding and inference.
"""

from __future__ import annotations

import ctypes
import os

M_ARENA_MAX = -8
"""glibc's mallopt parameter for the most arenas the allocator creates (malloc.h)."""


def limit_arenas(arenas: int = 1) -> bool:
    """Asks glibc for at most `arenas` arenas from now on (call it before threads start).

    False, and nothing changed, where there is no glibc `mallopt` (musl, macOS) or the user
    set MALLOC_ARENA_MAX, which glibc has already applied and which then wins."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return mallopt(M_ARENA_MAX, arenas) == 1
