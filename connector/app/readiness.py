"""``leadsync setup`` and the check ``sync`` / ``daemon`` run before their first write.

Each system's setup (``adapters/<system>/setup.py``) reads its facts (properties, describes,
forms, scopes, permissions); those facts are kept in the state store for ``FACTS_TTL`` so a
process start does not describe every object again, and judged against the mappings and the
definition. ``leadsync setup`` always reads afresh.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from connector.adapters.hubspot.setup import HubSpotSetup
from connector.core.errors import ConfigError, Problem
from connector.core.readiness import Report, definition_findings, problems

FACTS_TTL = timedelta(hours=1)
CACHE_KEY = "setup.facts.{system}"


class Readiness:
    def __init__(self, rt: Any, marketing: Any, crm: Any) -> None:
        self.rt = rt
        self.systems = [HubSpotSetup(marketing, rt.clock), rt.crm_plugin.setup(crm, rt.clock)]

    def report(self, *, fresh: bool = True, apply: bool = False) -> Report:
        facts = {s.system: self._facts(s, fresh) for s in self.systems}
        report = Report(self._findings(facts))
        if apply and any(f.creatable and f.blocking for f in report.findings):
            for system in self.systems:
                created = system.apply(report.findings)
                if isinstance(created, tuple):
                    created, steps = created
                    report.admin_steps += steps
                report.applied += created
            facts = {s.system: self._facts(s, True) for s in self.systems}
            report.findings = self._findings(facts)
        for system in self.systems:
            self._keep(system.system, facts[system.system])
            prime = getattr(system, "prime", None)
            if prime:
                prime(facts[system.system])
        return report

    def _findings(self, facts: dict[str, Any]) -> list[Any]:
        hubspot, crm = self.systems
        found = hubspot.findings(facts[hubspot.system]) + crm.findings(facts[crm.system])
        return found + definition_findings(self.rt.definition, hubspot.portal(facts[hubspot.system]),
                                           self.rt.mapped_fields())

    def _facts(self, system: Any, fresh: bool) -> Any:
        if not fresh:
            cached = self.rt.store.get(CACHE_KEY.format(system=system.system))
            if cached and _younger_than(cached.get("at"), self.rt.clock(), FACTS_TTL):
                return cached["facts"]
        return system.facts()

    def _keep(self, system: str, facts: Any) -> None:
        self.rt.store.put(CACHE_KEY.format(system=system), {"at": self.rt.clock().isoformat(), "facts": facts})


def preflight(rt: Any, marketing: Any, crm: Any) -> Report:
    """Before the first write: stop with every blocking problem (file, key, object, field).
    leadsync's own HubSpot properties are the exception: the first cycle creates them."""
    report = Readiness(rt, marketing, crm).report(fresh=False)
    blocking = [f for f in report.blocking() if not (f.system == "hubspot" and f.creatable)]
    if blocking:
        rt.store.put(CACHE_KEY.format(system=rt.crm_plugin.name), None)   # read afresh once fixed
        rt.store.put(CACHE_KEY.format(system="hubspot"), None)
        raise ConfigError(problems(blocking) + [_hint()])
    return report


def _hint() -> Problem:
    return Problem("(setup)", "", "run `leadsync setup` for the full list and `leadsync setup --apply` "
                                  "to create what leadsync may create")


def _younger_than(stamp: str | None, now: datetime, ttl: timedelta) -> bool:
    if not stamp:
        return False
    try:
        return now - datetime.fromisoformat(stamp) < ttl
    except (TypeError, ValueError):
        return False
