"""Salesforce as a CRM for leadsync: its mapping, the rules read from it, and the adapter.

The composition root (app/runtime.py) asks the registry for a CRM by ``[crm] system`` and
speaks to it only through this plugin and the ``Crm`` port.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from connector.adapters.salesforce.adapter import SalesforceAdapter
from connector.adapters.salesforce.auth import SalesforceAuth, SalesforceSettings
from connector.adapters.salesforce.mapping import SalesforceMapping, load_salesforce_mapping
from connector.adapters.salesforce.setup import SalesforceSetup
from connector.core.feedback import FeedbackRules
from connector.core.handoff import HandoffRules
from connector.ports import CrmTargets
from connector.transport import HttpPolicy


class SalesforcePlugin:
    name = "salesforce"
    mapping_file = "salesforce.toml"

    def load_mapping(self, path: Path) -> SalesforceMapping:
        return load_salesforce_mapping(path)

    def canonical_fields(self, mapping: SalesforceMapping) -> set[str]:
        return {f.canonical for f in mapping.lead_fields}

    def targets(self, mapping: SalesforceMapping) -> CrmTargets:
        return CrmTargets(crm_write={f.canonical: f.name for f in mapping.lead_write},
                          crm_fields={f.canonical: (f.name, f.sync) for f in mapping.lead_fields},
                          contact_fields=frozenset(mapping.contact_carries))

    def feedback_rules(self, mapping: SalesforceMapping) -> FeedbackRules:
        o = mapping.opportunity
        return FeedbackRules(status_to_stage=dict(mapping.status.feedback), qualified_stage=o.qualified_stage,
                             convert_at=o.convert_at,
                             won_stages=tuple(o.won_stages), lost_stages=tuple(o.lost_stages),
                             stalled_after=timedelta(days=o.stalled_after_days))

    def handoff_rules(self, mapping: SalesforceMapping) -> HandoffRules:
        h = mapping.handoff
        return HandoffRules(routing=h.routing, users=tuple(h.users), account_owner_wins=h.account_owner_wins,
                            customer_account_as_contact=h.customer_account_as_contact,
                            follow_up_task=h.follow_up_task, task_subject=h.task_subject)

    def check_secrets(self, secrets: Any) -> None:
        secrets.salesforce()

    def setup(self, crm: SalesforceAdapter, clock: Any) -> SalesforceSetup:
        """The org's readiness checks (``leadsync setup``) for this adapter's mapping."""
        return SalesforceSetup(crm, clock)

    def build(self, config: Any, secrets: Any, mapping: SalesforceMapping, policy: HttpPolicy) -> SalesforceAdapter:
        sf = config.salesforce
        values = secrets.salesforce()
        settings = SalesforceSettings(auth=sf.auth, login_url=sf.login_url, instance_url=sf.instance_url,
                                      api_version=sf.api_version, **{k: v for k, v in values.items() if v})
        return SalesforceAdapter(settings, mapping, policy, SalesforceAuth(settings, policy))


PLUGIN = SalesforcePlugin()
