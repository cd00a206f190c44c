"""Bad input, table-driven, through the paths an operator and a sync actually take.

1. Broken config, mapping and definition files through the ``leadsync`` command line: exit 2,
   the message names the file, the key and the reason, every mistake at once, before any API
   call. (The parsers' own tables live in test_config.py, test_mapping.py, test_definition.py.)
2. Garbage in HubSpot records, stored raw as old imports leave them, through a real sync against
   the sandbox: each value is normalised or its person quarantined with a reason, the cycle never
   crashes, and every other lead is still handed off exactly as in a fault-free run.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from connector.cli.commands import main
from connector.app.config import DEFAULT_MAPPINGS
from tests import fault_helpers as F

DEFINITION = DEFAULT_MAPPINGS / "qualification.toml"
ENV = {"HUBSPOT_TOKEN": "pat-na1-test", "SF_CLIENT_ID": "id-test", "SF_CLIENT_SECRET": "secret-test",
       "SF_USERNAME": "user@example.com", "SF_PASSWORD": "password-test"}


def edited(source: Path, target: Path, old: str, new: str) -> Path:
    text = source.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {source.name}"
    target.write_text(text.replace(old, new, 1), encoding="utf-8")
    return target


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A config with its own copy of the mappings and the definition, and the secrets set."""
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    shutil.copytree(DEFAULT_MAPPINGS, tmp_path / "mappings")
    (tmp_path / "leadsync.toml").write_text(
        f'[state]\nurl = "sqlite:///{tmp_path / "state.db"}"\n[mappings]\ndir = "mappings"\n'
        '[definition]\npath = "mappings/qualification.toml"\n', encoding="utf-8")
    return tmp_path


# (file to edit, old text, new text, expected file name, key, reason) ------------------------------
CLI_ROWS = [
    ("leadsync.toml", "[state]", '[hubspot]\nrate_limit_per_10s = "fast"\n[state]',
     "leadsync.toml", "hubspot.rate_limit_per_10s", "positive whole number"),
    ("leadsync.toml", 'path = "mappings/qualification.toml"', 'path = "mappings/nowhere.toml"',
     "nowhere.toml", "", "cannot read the definition"),
    ("leadsync.toml", "[state]", '[salesforce]\nclient_secret = "abc"\n[state]',
     "leadsync.toml", "salesforce.client_secret", "unknown key"),
    ("mappings/hubspot.toml", 'employees = { property = "numemployees", type = "range" }',
     'employees = { property = "numemployees", type = "integer" }',
     "hubspot.toml", "contact.fields.employees", "type"),
    ("mappings/salesforce.toml", '"Working - Contacted" = "sal"', '"Working - Contacted" = "accepted"',
     "salesforce.toml", "status.feedback", "accepted"),
    ("mappings/qualification.toml", "mql_score = ", "mql_scor = ", "qualification.toml", "thresholds", ""),
    ("mappings/qualification.toml", '[required]\nfields = ["email"', '[required]\nfields = ["e_mail"',
     "qualification.toml", "required.fields", "e_mail"),
]


@pytest.mark.parametrize("target, old, new, file, key, reason", CLI_ROWS,
                         ids=[f"{r[0].split('/')[-1]}:{r[4] or r[5]}" for r in CLI_ROWS])
def test_given_a_broken_file_when_sync_runs_then_exit_2_names_file_key_and_reason(
        workspace, capsys, target, old, new, file, key, reason):
    edited(workspace / target, workspace / target, old, new)

    code = main(["--config", str(workspace / "leadsync.toml"), "sync"])

    err = capsys.readouterr().err
    assert code == 2, err
    line = next((l for l in err.splitlines() if file in l and key in l), None)
    assert line is not None, err
    assert reason.lower() in line.lower(), err
    assert "Traceback" not in err and not (workspace / "state.db").exists(), "stopped before anything ran"


def test_given_mistakes_in_three_files_when_sync_runs_then_all_are_reported_in_one_run(workspace, capsys):
    for target, old, new, *_ in (CLI_ROWS[3], CLI_ROWS[4], CLI_ROWS[6]):
        edited(workspace / target, workspace / target, old, new)

    assert main(["--config", str(workspace / "leadsync.toml"), "sync"]) == 2

    err = capsys.readouterr().err
    assert all(name in err for name in ("hubspot.toml", "salesforce.toml", "qualification.toml")), err


DEFINITION_ROWS = [
    ('name = "Company size"\nfield = "employees"\nmin = 100', 'name = "Company size"\nfield = "employees"\nminimum = 100',
     "fit", "minimum"),
    ('name = "Company size"\nfield = "employees"\nmin = 100', 'name = "Company size"\nfield = "headcount"\nmin = 100',
     "fit", "headcount"),
    ("version = 1 ", 'version = "one" ', "definition.version", ""),
    ("[thresholds]", "[thresholds]\nmql_score = 1\n", "", "TOML"),
]


@pytest.mark.parametrize("old, new, key, reason", DEFINITION_ROWS, ids=[r[2] + ":" + r[3] for r in DEFINITION_ROWS])
def test_given_a_broken_definition_when_checked_then_exit_2_names_file_key_and_reason(
        workspace, capsys, tmp_path, old, new, key, reason):
    candidate = edited(DEFINITION, tmp_path / "candidate.toml", old, new)

    code = main(["--config", str(workspace / "leadsync.toml"), "definition", "check", str(candidate)])

    err = capsys.readouterr().err
    assert code == 2, err
    line = next((l for l in err.splitlines() if "candidate.toml" in l and key in l), None)
    assert line is not None, err
    assert reason in line, err


def test_given_the_shipped_definition_when_checked_then_exit_0(workspace, capsys):
    assert main(["--config", str(workspace / "leadsync.toml"), "definition", "check", str(DEFINITION)]) == 0


# -- garbage in HubSpot records, through a real sync ------------------------------------------------

KILOBYTES_100 = "VP " + "x" * 100_000
# (row id, property, raw value, what must happen: "handed_off" | "quarantined:<code>" | "held:<missing>")
GARBAGE = [
    ("non-numeric employees", "numemployees", "about 500", "handed_off"),
    ("invalid email", "email", "not-an-email", "quarantined:INVALID_EMAIL_ADDRESS"),
    ("100 kB title", "jobtitle", KILOBYTES_100, "quarantined:STRING_TOO_LONG"),
    ("control characters", "firstname", "\x00An\x07n\x1b", "handed_off"),
    ("unknown picklist value", "industry", "Underwater Basket Weaving", "handed_off"),
    ("blank last name", "lastname", "", "held:last_name"),
    ("blank company, filled from the company record", "company", "", "handed_off"),
]


@pytest.fixture(scope="module")
def garbage_run(tmp_path_factory):
    """One sandbox, one garbage value on each of seven people the fault-free run hands off, one sync."""
    base = tmp_path_factory.getbasetemp()
    with pytest.MonkeyPatch.context() as monkeypatch:
        expected = F.fault_free(base, monkeypatch)
        victims = dict(zip((row[0] for row in GARBAGE), F.handed_off_ids(expected)))
        with F.new_sandbox(base / "sandbox-certs") as sandbox:
            for name, prop, value, _ in GARBAGE:
                sandbox.hubspot.put_raw(victims[name], {prop: value})
            F.virtual_policy(monkeypatch, F.VirtualTime())
            config = F.write_config(sandbox, tmp_path_factory.mktemp("garbage"))
            with F.runtime_for(sandbox, config, monkeypatch) as rt:
                summary = rt.sync()
                held = {q.hubspot_id: q for q in rt.store.quarantined()}
                yield {"summary": summary, "expected": expected, "victims": victims, "held": held,
                       "snapshot": F.snapshot(sandbox), "sandbox": sandbox, "config": config,
                       "leads": {v: sandbox.salesforce.lead_by_external_id(v) for v in victims.values()}}



@pytest.mark.e2e
def test_given_garbage_in_seven_records_when_synced_then_the_cycle_completes_and_every_other_lead_is_handed_off(
        garbage_run):
    summary, expected, victims = garbage_run["summary"], garbage_run["expected"], garbage_run["victims"]
    assert summary.outcome == "partial", summary.message
    others = set(expected["crm"]) - set(victims.values())
    assert others, "the seed hands off more people than the table spoils"
    for hubspot_id in others:
        assert garbage_run["snapshot"]["crm"].get(hubspot_id) == expected["crm"][hubspot_id]
        assert garbage_run["snapshot"]["hubspot"][hubspot_id] == expected["hubspot"][hubspot_id]
    F.assert_no_duplicates(garbage_run["sandbox"])


@pytest.mark.e2e
@pytest.mark.parametrize("name, prop, value, outcome", GARBAGE, ids=[g[0] for g in GARBAGE])
def test_given_a_garbage_value_when_synced_then_normalised_or_quarantined_with_a_reason(
        garbage_run, capsys, name, prop, value, outcome):
    victim = garbage_run["victims"][name]
    lead, held = garbage_run["leads"][victim], garbage_run["held"].get(victim)
    kind, _, detail = outcome.partition(":")
    if kind == "handed_off":
        assert held is None and lead is not None
        assert all(ch.isprintable() for f in ("FirstName", "LastName", "Company", "Title") for ch in lead.get(f) or "")
        assert garbage_run["snapshot"]["hubspot"][victim]["leadsync_stage"] == "mql"
    elif kind == "quarantined":
        assert lead is None
        assert (held.system, held.operation, held.code, held.transient) == ("salesforce", "handoff", detail, False)
        capsys.readouterr()
        assert main(["--config", str(garbage_run["config"]), "quarantine", "list", "--json"]) == 0
        listed = {q["hubspot_id"]: q for q in json.loads(capsys.readouterr().out)["quarantined"]}
        assert detail in listed[victim]["reason"]
    else:
        assert held is None and lead is None
        assert garbage_run["snapshot"]["hubspot"][victim]["leadsync_missing"] == detail
