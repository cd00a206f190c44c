"""One leadsync process running sync cycles on demand, as the daemon would: a benchmark's
subprocess, so its memory is leadsync's alone.

    python bench/leadsync_cycles.py CONFIG      (the sandbox's credentials in the environment)

Reads a cycle name per line on stdin ("exit" or EOF ends), runs one full sync cycle for it and
answers one JSON line on stdout: the cycle, its seconds, outcome and counts, and the process's
peak RSS so far.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connector.app.allocator import limit_arenas  # noqa: E402
from connector.app.runtime import Runtime  # noqa: E402


def main(config: str) -> int:
    limit_arenas()   # as `leadsync` does at start
    started = time.monotonic()
    with Runtime.from_config_path(config) as rt:
        print(json.dumps({"ready": True, "seconds": round(time.monotonic() - started, 3)}), flush=True)
        for line in sys.stdin:
            name = line.strip()
            if not name or name == "exit":
                break
            began = time.monotonic()
            summary = rt.sync()
            seconds = time.monotonic() - began
            print(json.dumps({"cycle": name, "seconds": round(seconds, 3), "outcome": summary.outcome,
                              "message": summary.message, "counts": summary.counts,
                              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}),
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
