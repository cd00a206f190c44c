"""The demo and ``--help`` read cleanly in an 80-column terminal. The fixtures under
tests/fixtures/terminal/ are captures of a real 80x40 tmux pane (``tmux capture-pane``): help
must match its capture exactly; the demo (whose ids, ports and dates vary) must keep every line
within 80 columns and show the same sections, in the same order, as its capture."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "terminal"
LEADSYNC = str(Path(sys.executable).with_name("leadsync"))
COMMANDS = [["sync"], ["daemon"], ["resync"], ["logs"], ["explain"], ["definition", "simulate"], ["report"],
            ["quarantine", "list"], ["quarantine", "drop"], ["sandbox"], ["demo"]]


def run80(*argv: str, timeout: int = 120) -> str:
    env = {**os.environ, "COLUMNS": "80", "LINES": "40", "TERM": "xterm-256color"}
    env.pop("LEADSYNC_CONFIG", None)
    done = subprocess.run([LEADSYNC, *argv], capture_output=True, text=True, env=env, timeout=timeout)
    assert done.returncode == 0, done.stderr
    return done.stdout


def lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.rstrip("\n").splitlines()]


def test_given_80_columns_when_help_printed_then_it_matches_the_tmux_capture():
    assert lines(run80("--help")) == lines((FIXTURES / "help-80.txt").read_text(encoding="utf-8"))


@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
def test_given_80_columns_when_a_commands_help_printed_then_no_line_is_wider(argv):
    assert [line for line in lines(run80(*argv, "--help")) if len(line) > 80] == []


_SECTION = re.compile(r"^(─.*─|[A-Z][A-Za-z' ]+(\([^)]*\))?)$")


def sections(text: str) -> list[str]:
    """Rules and table titles, with the numbers that vary (seconds) taken out."""
    return [re.sub(r"\d+(\.\d+)? s\b", "N s", line.strip("─ ")) for line in lines(text)
            if _SECTION.match(line) and not line.startswith("Try")]


@pytest.mark.e2e
def test_given_80_columns_when_demo_runs_then_every_line_fits_and_sections_match_the_capture(tmp_path):
    out = run80("demo", "--dir", str(tmp_path / "demo"), timeout=300)
    assert [line for line in lines(out) if len(line) > 80] == []
    captured = (FIXTURES / "demo-80.txt").read_text(encoding="utf-8")
    assert sections(out) == sections(captured)
    assert "Handed off to Salesforce (highest score first)" in sections(out) and "writes in step 3: HubSpot 0, Salesforce 0" in out


@pytest.mark.e2e
def test_given_demo_json_then_it_matches_its_documented_shape(tmp_path):
    from tests.cli.test_json_shapes import documented, mismatches
    doc = json.loads(run80("demo", "--json", "--people", "60", "--dir", str(tmp_path / "demo"), timeout=300))
    assert mismatches(doc, documented()["demo"]) == []
