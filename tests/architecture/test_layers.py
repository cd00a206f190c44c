"""The folders are the architecture: imports point one way, and the engine knows no vendor."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Salesforce's object and field names, and its custom-field suffix.
SALESFORCE_NAMES = re.compile(r'"Lead"|"Contact"|"Task"|"Event"|\bWhoId\b|\bOwnerId\b|\w__c\b')
# The one place allowed to name them: the migration that renames what stores written before it hold.
ALLOWED = {"connector/state/schema.py": "_v3_record_kinds"}
VENDOR_FREE = ["connector/core", "connector/engine", "connector/ports.py", "connector/state", "connector/app",
               "connector/cli", "connector/transport", "jobs"]


def vendor_names(paths: list[str]) -> list[str]:
    found = []
    for root in paths:
        base = REPO / root
        for path in [base] if base.is_file() else sorted(base.rglob("*.py")):
            text = path.read_text()
            allowed = ALLOWED.get(str(path.relative_to(REPO)))
            if allowed:
                start = text.index(f"def {allowed}(")
                end = text.index("\n\n\n", start)
                text = text[:start] + "\n" * text[start:end].count("\n") + text[end:]
            for number, line in enumerate(text.splitlines(), 1):
                if SALESFORCE_NAMES.search(line):
                    found.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    return found


def test_given_the_vendor_free_layers_then_no_salesforce_object_or_field_name_appears_in_them():
    assert vendor_names(VENDOR_FREE) == []


def test_given_the_check_then_it_finds_salesforce_names_where_they_belong():
    # The check itself can fail: the Salesforce adapter is full of these names.
    assert len(vendor_names(["connector/adapters/salesforce"])) > 10


def test_given_the_import_contract_then_lint_imports_keeps_every_contract():
    command = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if command is None:
        pytest.fail("lint-imports is not installed: pip install -e '.[test]' brings import-linter")
    result = subprocess.run([command, "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout
