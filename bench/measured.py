"""Child processes measured: wall time, and peak RSS from the kernel's own accounting.

Peak RSS comes from ``os.wait4``: the ``ru_maxrss`` of that one child (and the children it
waited for), so neither the benchmark itself nor the sandbox process is counted.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Sequence


@dataclass(frozen=True)
class Finished:
    returncode: int
    seconds: float
    peak_rss_mb: float


def run(command: Sequence[str], *, env: dict[str, str], cwd: Path, stdout: IO[Any] | int,
        stderr: IO[Any] | int) -> Finished:
    began = time.monotonic()
    process = subprocess.Popen(list(command), env=env, cwd=cwd, stdout=stdout, stderr=stderr)
    return _reap(process, began)


def _reap(process: subprocess.Popen, began: float) -> Finished:
    _pid, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - began
    process.returncode = os.waitstatus_to_exitcode(status)
    return Finished(process.returncode, seconds, usage.ru_maxrss / 1024)


class Conversation:
    """A child that answers one JSON line per line it is sent (bench/leadsync_cycles.py)."""

    def __init__(self, command: Sequence[str], *, env: dict[str, str], cwd: Path, stderr: IO[Any]) -> None:
        self._began = time.monotonic()
        self.process = subprocess.Popen(list(command), env=env, cwd=cwd, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=stderr, text=True, bufsize=1)

    def read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the process ended (exit {self.process.wait()}) before it answered")
        return json.loads(line)

    def ask(self, message: str) -> tuple[dict[str, Any], float]:
        """Send one line; the answer and the wall seconds it took."""
        assert self.process.stdin is not None
        began = time.monotonic()
        self.process.stdin.write(message + "\n")
        self.process.stdin.flush()
        answer = self.read()
        return answer, time.monotonic() - began

    def close(self) -> Finished:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write("exit\n")
            self.process.stdin.close()
        except BrokenPipeError:
            pass
        return _reap(self.process, self._began)
