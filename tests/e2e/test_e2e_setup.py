"""End to end: ``leadsync setup`` on a portal with HubSpot's standard properties only and an org
with none of leadsync's custom fields, through the real command and the real clients.

The list of what is missing is compared whole; ``--apply`` creates it; the following sync
exits 0. A sync before setup stops with exit 2 naming file, key, object and field, never a
bare "HTTP 400"; a field spelled in another case is found (API names ignore case).
"""

from __future__ import annotations

import json
import shutil

import pytest

from connector.app.config import DEFAULT_MAPPINGS
from connector.cli.commands import main
from leadsync_sandbox.server import Sandbox

pytestmark = pytest.mark.e2e

SALESFORCE_MISSING = [
    ("Lead", "HubSpot_Contact_Id__c"), ("Contact", "HubSpot_Contact_Id__c"),
    ("Lead", "Budget_Confirmed__c"), ("Lead", "Decision_Maker__c"), ("Lead", "Need__c"), ("Lead", "Timeline__c"),
    ("Lead", "Leadsync_Stage__c"), ("Contact", "Leadsync_Stage__c"),
    ("Lead", "Leadsync_Score__c"), ("Contact", "Leadsync_Score__c"),
    ("Lead", "Leadsync_Handoff_At__c"), ("Contact", "Leadsync_Handoff_At__c"),
    ("Lead", "Leadsync_Reason__c"), ("Contact", "Leadsync_Reason__c"),
    ("Lead", "Leadsync_Definition_Version__c"), ("Contact", "Leadsync_Definition_Version__c"),
    ("Lead", "Rejection_Reason__c"),
]
HUBSPOT_MISSING = [("contacts", "leadsync")] + [("contacts", f"leadsync_{name}") for name in (
    "stage", "score", "fit_score", "engagement_score", "handoff_at", "reason", "missing", "definition_version")]


@pytest.fixture
def fresh(tmp_path_factory):
    with Sandbox(tmp_path_factory.getbasetemp() / "sandbox-certs", people=60, fresh=True) as sandbox:
        yield sandbox


@pytest.fixture
def config(fresh, tmp_path, monkeypatch):
    for key, value in fresh.env().items():
        monkeypatch.setenv(key, value)
    return str(fresh.write_config(tmp_path / "leadsync.toml", f"sqlite:///{tmp_path / 'state.db'}"))


def setup_json(config, capsys, *extra):
    code = main(["--config", config, "setup", "--json", *extra])
    return code, json.loads(capsys.readouterr().out)


def missing(report):
    return [(f["system"], f["object"], f["name"]) for f in report["findings"] if f["status"] == "missing"]


def test_given_fresh_org_and_portal_when_setup_runs_then_it_lists_every_missing_item_and_exits_2(config, capsys):
    code, report = setup_json(config, capsys)
    assert code == 2 and report["ready"] is False
    assert missing(report) == [("hubspot", o, n) for o, n in HUBSPOT_MISSING] + \
        [("salesforce", o, n) for o, n in SALESFORCE_MISSING]
    assert not [f for f in report["findings"] if f["status"] == "wrong"]
    external = [f for f in report["findings"] if f["kind"] == "external_id"]
    assert [(f["object"], f["key"]) for f in external] == [("Lead", "lead.external_id"), ("Contact", "contact.external_id")]
    assert all(f["creatable"] and f["file"].endswith(".toml") for f in report["findings"] if f["status"] == "missing")


def test_given_fresh_org_when_setup_applies_then_everything_exists_and_a_sync_exits_0(config, fresh, capsys):
    code, report = setup_json(config, capsys, "--apply")
    assert code == 0 and report["ready"] is True, missing(report)
    assert len(report["applied"]) == len(HUBSPOT_MISSING) + len(SALESFORCE_MISSING)
    assert any("field-level security" in step for step in report["admin_steps"])
    created = fresh.salesforce.org.created
    assert created["lead.hubspot_contact_id__c"].external_id and created["lead.hubspot_contact_id__c"].unique
    assert created["contact.hubspot_contact_id__c"].external_id
    assert created["lead.leadsync_handoff_at__c"].type == "datetime"
    assert {"leadsync_stage", "leadsync_score"} <= set(fresh.hubspot.properties["contacts"])

    assert main(["--config", config, "sync"]) == 0
    capsys.readouterr()
    handed = [r for r in fresh.salesforce.records("Lead") if r.get("HubSpot_Contact_Id__c")]
    # New handoffs open at mql; a Lead sales was already working is adopted at sal.
    said = {"Open - Not Contacted": "mql", "Working - Contacted": "sal"}
    assert handed and all(r["Leadsync_Stage__c"] == said[r["Status"]] for r in handed)
    assert any(r["Leadsync_Stage__c"] == "mql" for r in handed)
    # Setup twice changes nothing: nothing left to create.
    code, again = setup_json(config, capsys, "--apply")
    assert code == 0 and again["applied"] == []


def test_given_fresh_org_when_sync_runs_before_setup_then_exit_2_names_file_key_object_and_field(
        config, fresh, capsys):
    mark = fresh.calls.mark()
    assert main(["--config", config, "sync"]) == 2
    err = capsys.readouterr().err
    assert "salesforce.toml: lead.external_id: Lead.HubSpot_Contact_Id__c: Lead has no field HubSpot_Contact_Id__c" in err
    assert "salesforce.toml: contact.external_id: Contact.HubSpot_Contact_Id__c" in err
    assert "salesforce.toml: lead.write.stage.field: Contact.Leadsync_Stage__c" in err
    assert "HTTP 400" not in err and "leadsync setup --apply" in err
    assert [c for c in fresh.calls.since(mark) if c.write] == []     # stopped before any write


def test_given_a_field_spelled_in_another_case_when_checked_then_it_is_found(tmp_path_factory, tmp_path,
                                                                              monkeypatch, capsys):
    shutil.copytree(DEFAULT_MAPPINGS, tmp_path / "mappings")
    sf = tmp_path / "mappings" / "salesforce.toml"
    sf.write_text(sf.read_text().replace('"Leadsync_Stage__c"', '"LeadSync_Stage__c"'), encoding="utf-8")
    with Sandbox(tmp_path_factory.getbasetemp() / "sandbox-certs", people=30) as sandbox:   # has Leadsync_Stage__c
        for key, value in sandbox.env().items():
            monkeypatch.setenv(key, value)
        config = sandbox.write_config(tmp_path / "leadsync.toml", f"sqlite:///{tmp_path / 'state.db'}")
        config.write_text(config.read_text() + '\n[mappings]\ndir = "mappings"\n', encoding="utf-8")
        code, report = setup_json(str(config), capsys)
        stage = [(f["object"], f["name"], f["status"]) for f in report["findings"]
                 if f["name"].casefold() == "leadsync_stage__c"]
        assert stage == [("Lead", "Leadsync_Stage__c", "ok"), ("Contact", "Leadsync_Stage__c", "ok")]
        assert [f for f in report["findings"] if f["system"] == "salesforce" and f["status"] in ("missing", "wrong")] == []
        assert main(["--config", str(config), "sync"]) == 0


def test_given_shipped_definition_when_checked_against_the_portal_then_placeholder_forms_are_flagged(
        fresh, tmp_path, monkeypatch, capsys):
    for key, value in fresh.env().items():
        monkeypatch.setenv(key, value)
    config = fresh.write_config(tmp_path / "leadsync.toml", f"sqlite:///{tmp_path / 'state.db'}")
    code = main(["--config", str(config), "definition", "check", str(DEFAULT_MAPPINGS / "qualification.toml"),
                 "--against-portal"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.count("names a placeholder") == 7
    assert 'behavior["Demo request"].where.form_id' in out and '"Request a demo" = ' in out


def test_given_a_misspelt_property_and_a_range_mapped_as_int_when_syncing_then_exit_2_names_both(
        tmp_path_factory, tmp_path, monkeypatch, capsys):
    shutil.copytree(DEFAULT_MAPPINGS, tmp_path / "mappings")
    hs = tmp_path / "mappings" / "hubspot.toml"
    text = hs.read_text().replace('title = { property = "jobtitle" }', 'title = { property = "job_title" }')
    hs.write_text(text.replace('{ property = "numemployees", type = "range" }', '{ property = "numemployees", type = "int" }'))
    with Sandbox(tmp_path_factory.getbasetemp() / "sandbox-certs", people=20) as sandbox:
        for key, value in sandbox.env().items():
            monkeypatch.setenv(key, value)
        config = sandbox.write_config(tmp_path / "leadsync.toml", f"sqlite:///{tmp_path / 'state.db'}")
        config.write_text(config.read_text() + '\n[mappings]\ndir = "mappings"\n', encoding="utf-8")
        mark = sandbox.calls.mark()
        assert main(["--config", str(config), "sync"]) == 2
        assert [c for c in sandbox.calls.since(mark) if c.write] == []
    err = capsys.readouterr().err
    assert (f"{hs}: contact.fields.title.property: contacts.job_title: the portal has no contact property "
            "job_title (read into title); map title to a property this portal has, or create job_title in HubSpot") in err
    assert (f'{hs}: contact.fields.employees.type: contacts.numemployees: numemployees is enumeration (range '
            'picklist), mapped as int: every value would be dropped; it is a range picklist ("100-500", "1000+"): '
            'use type = "range"') in err


def test_given_fresh_org_when_the_daemon_starts_then_it_exits_2_naming_the_field_before_any_write(
        config, fresh, capsys):
    import threading
    from jobs.daemon import run_daemon
    mark = fresh.calls.mark()
    stop = threading.Event()
    stop.set()
    assert run_daemon(config, stop=stop) == 2
    err = capsys.readouterr().err
    assert "salesforce.toml: lead.external_id: Lead.HubSpot_Contact_Id__c: Lead has no field HubSpot_Contact_Id__c" in err
    assert [c for c in fresh.calls.since(mark) if c.write] == []


def test_given_a_ready_org_when_a_new_process_starts_within_the_ttl_then_it_describes_nothing(config, fresh, capsys):
    from connector.app.runtime import Runtime
    assert main(["--config", config, "setup", "--apply"]) == 0
    capsys.readouterr()
    mark = fresh.calls.mark()
    with Runtime.from_config_path(config) as rt:     # a new process: facts come from the state store
        rt.preflight()
        assert rt.sync().outcome == "ok"
    paths = [c.path for c in fresh.calls.since(mark)]
    assert not [p for p in paths if p.endswith("/describe") or "/crm/v3/properties/" in p or "/marketing/v3/forms" in p]
