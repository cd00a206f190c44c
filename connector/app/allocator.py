"""The process's memory allocator, set once at start.

glibc gives each thread that allocates its own malloc arena (up to eight per core). A sync
keeps several threads busy at once (the activity feed, the read-ahead of search pages, a
batch's writes and its record in the state store), each allocating large response bodies, so
each arena keeps its own high-water mark and the process's resident size grows with the
number of threads, not with what it holds. Two arenas keep the threads from contending on one
lock while freed memory is reused across them.

``MALLOC_ARENA_MAX`` in the environment wins (glibc has read it before Python started); on
other C libraries (musl, macOS) there is nothing to set.
"""

from __future__ import annotations

import ctypes
import os

M_ARENA_MAX = -8    # glibc's malloc.h
ARENAS = 2


def limit_arenas(count: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas at ``count``; True when this call set it."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt    # (the C library the interpreter runs on)
    except (OSError, AttributeError):
        return False    # no mallopt: not glibc
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt(M_ARENA_MAX, count) == 1
