"""The read-only commands refuse a state store that does not exist (exit 2, naming it) instead
of creating an empty ``./leadsync.db`` and printing zeros."""

from __future__ import annotations

import pytest

from connector.cli.commands import main


@pytest.mark.parametrize("argv", [["logs"], ["report", "funnel"], ["report", "sla", "--json"], ["explain", "a@b.com"],
                                  ["quarantine", "list"]])
def test_given_no_config_and_no_store_when_reading_then_exit_2_and_no_database_created(argv, tmp_path, monkeypatch,
                                                                                        capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LEADSYNC_CONFIG", raising=False)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "state.url" in err and "no state store at" in err and str(tmp_path / "leadsync.db") in err
    assert list(tmp_path.iterdir()) == []
