"""The read-only peer's own virtualenv (bench/.peer-venv), made on first use.

tap-hubspot pins dependencies (old requests, jsonschema, singer-python) that must not meet
leadsync's, so it lives apart and runs as a child process.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PEER_VENV = Path(__file__).resolve().parent / ".peer-venv"
TAP_HUBSPOT = "tap-hubspot==4.5.0"     # the version issue 13 measured


def peer_python(requirement: str = TAP_HUBSPOT, venv: Path = PEER_VENV) -> Path:
    """The venv's python with ``requirement`` installed, creating the venv if it is missing."""
    python = venv / "bin" / "python"
    name, _, wanted = requirement.partition("==")
    installed = _installed(python, name) if python.exists() else None
    if installed and (not wanted or installed == wanted):
        return python
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", requirement], check=True)
    return python


def _installed(python: Path, name: str) -> str | None:
    result = subprocess.run([str(python), "-c", f"from importlib.metadata import version; print(version({name!r}))"],
                            capture_output=True, text=True)
    return (result.stdout.strip() or None) if result.returncode == 0 else None
