"""SugarCRM as a CRM for leadsync: its mapping, the rules read from it, and the adapter.

The composition root asks the registry for a CRM by ``[crm] system`` and speaks to it only
through this plugin and the ``Crm`` port.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from connector.adapters.sugarcrm.adapter import SugarAdapter
from connector.adapters.sugarcrm.auth import SugarAuth, SugarSettings
from connector.adapters.sugarcrm.mapping import SugarMapping, load_sugar_mapping
from connector.core.feedback import FeedbackRules
from connector.core.handoff import HandoffRules
from connector.ports import CrmTargets
from connector.transport import HttpPolicy


class SugarPlugin:
    name = "sugarcrm"
    mapping_file = "sugarcrm.toml"

    def load_mapping(self, path: Path) -> SugarMapping:
        return load_sugar_mapping(path)

    def canonical_fields(self, mapping: SugarMapping) -> set[str]:
        return {f.canonical for f in (*mapping.lead_fields, *mapping.opportunity_fields)}

    def targets(self, mapping: SugarMapping) -> CrmTargets:
        # BANT read from the Opportunity merges like any CRM-owned field (the CRM always wins).
        return CrmTargets(crm_write={f.canonical: f.name for f in mapping.lead_write},
                          crm_fields={f.canonical: (f.name, f.sync)
                                      for f in (*mapping.lead_fields, *mapping.opportunity_fields)},
                          contact_fields=frozenset(mapping.contact_carries))

    def feedback_rules(self, mapping: SugarMapping) -> FeedbackRules:
        o = mapping.opportunity
        return FeedbackRules(status_to_stage=dict(mapping.status.feedback), qualified_stage=o.qualified_stage,
                             convert_at=o.convert_at, unqualified_stage=o.unqualified_stage,
                             won_stages=tuple(o.won_stages), lost_stages=tuple(o.lost_stages),
                             stalled_after=timedelta(days=o.stalled_after_days))

    def handoff_rules(self, mapping: SugarMapping) -> HandoffRules:
        h = mapping.handoff
        return HandoffRules(routing=h.routing, users=tuple(h.users), account_owner_wins=h.account_owner_wins,
                            customer_account_as_contact=h.customer_account_as_contact,
                            follow_up_task=h.follow_up_task, task_subject=h.task_subject)

    def check_secrets(self, secrets: Any) -> None:
        secrets.sugarcrm()

    def setup(self, crm: SugarAdapter, clock: Any) -> Any:
        """The instance's readiness checks (``leadsync setup``) for this adapter's mapping."""
        from connector.adapters.sugarcrm.setup import SugarSetup
        return SugarSetup(crm, clock)

    def build(self, config: Any, secrets: Any, mapping: SugarMapping, policy: HttpPolicy) -> SugarAdapter:
        sugar = config.sugarcrm
        settings = SugarSettings(base_url=sugar.base_url, api_version=sugar.api_version, platform=sugar.platform,
                                 client_id=sugar.client_id, **{k: v or "" for k, v in secrets.sugarcrm().items()})
        return SugarAdapter(settings, mapping, policy, SugarAuth(settings, policy))


PLUGIN = SugarPlugin()
