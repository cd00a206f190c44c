"""``leadsync demo --crm sugarcrm`` tells the seeds' story end to end, in under a minute."""

from __future__ import annotations

import json

import pytest

from connector.cli.commands import main

pytestmark = pytest.mark.e2e


def test_given_the_sugar_demo_when_run_then_leads_move_from_the_leads_module_through_both_pipelines(
        tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("LEADSYNC_CONFIG", raising=False)
    assert main(["demo", "--crm", "sugarcrm", "--people", "120", "--dir", str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    first, accepted, qualified = (report["pipeline"][f"after step {n}"] for n in (1, 2, 3))
    leads = "Leads module (mql)"
    unqualified, qualified_key = ("unqualified pipeline — Prospecting (sal/srl)",
                                  "qualified pipeline — Qualification (sql)")
    steps = report["steps"]
    # Step 1 meets the Leads sales already has: linked, none created again; the ones sales had
    # accepted are Opportunities at Prospecting right away, the rest stay in the Leads module.
    adopted = report["adopted"]
    assert adopted["linked"] >= 1 and adopted["accepted_before"] >= 1
    assert first[unqualified] == adopted["converted"] == adopted["accepted_before"] == steps[0]["counts"]["converted"]
    assert first[leads] >= 4 + adopted["open_before"] and first[qualified_key] == 0
    # Step 2: three accepted → three more Opportunities at Prospecting; one Dead → recycled.
    assert (accepted[leads], accepted[unqualified], accepted[qualified_key]) == (first[leads] - 4,
                                                                              first[unqualified] + 3, 0)
    # Step 3: BANT verified on two of them → the qualified pipeline.
    assert (qualified[unqualified], qualified[qualified_key]) == (first[unqualified] + 1, 2)
    assert [s["outcome"] for s in steps] == ["ok"] * 4
    assert steps[1]["counts"]["converted"] == 3 and steps[1]["counts"]["recycled"] == 1
    assert steps[3]["counts"]["written_crm"] == 0 and steps[3]["counts"]["written_hubspot"] == 0
    assert report["seconds"] < 60
