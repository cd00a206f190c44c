"""The malloc arena cap set at start: glibc then keeps two arenas however many threads allocate."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from connector.app.allocator import limit_arenas

ARENAS_AFTER_THREADS = textwrap.dedent("""
    import ctypes, ctypes.util, os, re, sys, tempfile, threading
    from connector.app.allocator import limit_arenas
    if sys.argv[1] == "cap":
        print("set" if limit_arenas() else "left")
    held, meet = [], threading.Barrier(6)

    def allocate():
        meet.wait()                                  # six threads alive at once
        held.append([bytes(2000) for _ in range(200)])   # (above pymalloc: glibc's malloc)
        meet.wait()

    threads = [threading.Thread(target=allocate) for _ in range(6)]
    for t in threads: t.start()
    for t in threads: t.join()
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    fd, path = tempfile.mkstemp()
    os.close(fd)
    out = libc.fopen(path.encode(), b"w")
    libc.malloc_info(0, out)
    libc.fclose(out)
    print(len(re.findall(r"<heap nr=", open(path).read())))
    os.unlink(path)
""")

glibc_only = pytest.mark.skipif(not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
                                reason="glibc's malloc arenas")


def _arenas(mode: str, **env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    done = subprocess.run([sys.executable, "-c", ARENAS_AFTER_THREADS, mode], env={**clean, **env},
                          capture_output=True, text=True, check=True, timeout=60)
    return done.stdout.split()


@glibc_only
def test_the_cap_keeps_two_arenas_where_threads_would_make_more():
    assert int(_arenas("none")[-1]) > 2     # (what the cap is for)
    assert _arenas("cap") == ["set", "2"]


@glibc_only
def test_malloc_arena_max_in_the_environment_wins():
    assert _arenas("cap", MALLOC_ARENA_MAX="3") == ["left", "3"]


def test_the_command_line_sets_it_before_anything_runs(monkeypatch):
    from connector.cli import commands
    called = []
    monkeypatch.setattr(commands, "limit_arenas", lambda: called.append(True))
    with pytest.raises(SystemExit):
        commands.main(["--version"])
    assert called == [True]


def test_a_c_library_without_mallopt_is_left_alone(monkeypatch):
    import ctypes

    class NoMallopt:     # (a C library without it: macOS, say)
        def __init__(self, name):
            pass

    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    monkeypatch.setattr(ctypes, "CDLL", NoMallopt)
    assert limit_arenas() is False
