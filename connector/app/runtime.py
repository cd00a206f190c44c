"""Builds a running leadsync from its config: state store, definition, mappings, adapters, engine.

Everything that can be wrong with the configuration, mappings or definition is found here,
before the first API call, and reported together (exit 2).
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Callable

from connector.core import plan as P
from connector.app.config import Config, Secrets, load_config
from connector.core.definition import Definition, load_definition
from connector.core.errors import ConfigError
from connector.adapters.registry import crm_plugin
from connector.core.feedback import FeedbackRules
from connector.core.handoff import HandoffRules
from connector.core.mapping import HubSpotMapping, load_hubspot_mapping
from connector.core.redact import Redactor
from connector.state.store import Store

log = logging.getLogger("leadsync")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Runtime:
    config: Config
    hubspot_mapping: HubSpotMapping
    crm_mapping: Any
    definition: Definition
    redactor: Redactor
    clock: Callable[[], datetime] = utcnow
    connect: bool = True
    _store: Store | None = None
    _engine: Any = None
    _policy: Any = None
    _ready: bool = False
    environ: dict[str, str] | None = field(default=None, repr=False)

    @classmethod
    def from_config_path(cls, path: str | None, *, connect: bool = True, environ: dict[str, str] | None = None,
                         clock: Callable[[], datetime] = utcnow) -> "Runtime":
        config = load_config(path)
        return cls.from_config(config, connect=connect, environ=environ, clock=clock)

    @classmethod
    def from_config(cls, config: Config, *, connect: bool = True, environ: dict[str, str] | None = None,
                    clock: Callable[[], datetime] = utcnow) -> "Runtime":
        problems = []
        hubspot = crm_mapping = definition = None
        plugin = crm_plugin(config.crm.system)
        try:
            hubspot = load_hubspot_mapping(config.mappings_dir / "hubspot.toml")
        except ConfigError as exc:
            problems += exc.problems
        try:
            crm_mapping = plugin.load_mapping(config.mappings_dir / plugin.mapping_file)
        except ConfigError as exc:
            problems += exc.problems
        extra = set()
        if hubspot is not None:
            extra |= {f.canonical for f in (*hubspot.contact_fields, *hubspot.company_fields)}
        if crm_mapping is not None:
            extra |= plugin.canonical_fields(crm_mapping)
        try:
            definition = load_definition(config.definition_path, extra_fields=extra)
        except ConfigError as exc:
            problems += exc.problems
        secrets = Secrets(config, environ)
        if connect:
            try:
                secrets.hubspot_token()
                plugin.check_secrets(secrets)
            except ConfigError as exc:
                problems += exc.problems
        if problems:
            raise ConfigError(problems)
        redactor = Redactor(secrets.all_values(), redact_pii=config.logging.redact_pii)
        return cls(config, hubspot, crm_mapping, definition, redactor, clock=clock, connect=connect, environ=environ)

    # -- parts ------------------------------------------------------------------------------------
    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.config.state_url)
        return self._store

    @property
    def crm_plugin(self) -> Any:
        return crm_plugin(self.config.crm.system)

    def write_maps(self) -> P.WriteMaps:
        hs, crm = self.hubspot_mapping, self.crm_plugin.targets(self.crm_mapping)
        return P.WriteMaps(
            hubspot_write={f.canonical: f.name for f in hs.contact_write},
            lifecycle=dict(hs.lifecyclestage), lead_status=dict(hs.lead_status),
            crm_write=dict(crm.crm_write), crm_fields=dict(crm.crm_fields), contact_fields=crm.contact_fields)

    def feedback_rules(self) -> FeedbackRules:
        return self.crm_plugin.feedback_rules(self.crm_mapping)

    def handoff_rules(self) -> HandoffRules:
        return self.crm_plugin.handoff_rules(self.crm_mapping)

    def adapters(self, *, dry_run: bool = False) -> tuple[Any, Any, Any]:
        from connector.app.wiring import build_adapters
        return build_adapters(self, dry_run=dry_run)

    def engine(self, *, dry_run: bool = False) -> Any:
        from connector.engine.cycle import Engine
        if self._engine is None or dry_run:
            marketing, crm, policy = self.adapters(dry_run=dry_run)
            self._policy = policy
            engine = Engine(store=self.store, marketing=marketing, crm=crm, definition=self.definition,
                            maps=self.write_maps(), feedback=self.feedback_rules(), handoff=self.handoff_rules(),
                            clock=self.clock, lookback=self.config.sync.lookback,
                            activities_every=self.config.sync.activities_every,
                            first_run_since=self.config.sync.first_run_since, usage=policy.usage, dry_run=dry_run)
            if dry_run:
                return engine
            self._engine = engine
        return self._engine

    def mapped_fields(self) -> set[str]:
        """Canonical fields some mapping reads (the definition's other fields are always missing)."""
        hs = self.hubspot_mapping
        return {f.canonical for f in (*hs.contact_fields, *hs.company_fields)} | \
            set(self.crm_plugin.canonical_fields(self.crm_mapping))

    def readiness(self) -> Any:
        from connector.app.readiness import Readiness
        engine = self.engine()
        return Readiness(self, engine.marketing, engine.crm)

    def preflight(self) -> None:
        """Both systems checked against the mappings before the first write (once a process)."""
        if self._ready:
            return
        from connector.app.readiness import preflight
        engine = self.engine()
        report = preflight(self, engine.marketing, engine.crm)
        # leadsync's own properties are all there: the first cycle need not look for them again.
        engine._schema_ready = not any(f.system == "hubspot" and f.creatable and f.blocking for f in report.findings)
        self._ready = True

    # -- operations ----------------------------------------------------------------------------------
    def sync(self, kind: str = "sync", legs: tuple[str, ...] = ("crm", "marketing")) -> Any:
        engine = self.engine()
        self.preflight()
        with self.store.cycle_lock(wait=True, timeout=300):
            summary = engine.cycle(kind, legs)
        if kind == "sync":
            self.check_sla(summary)
        return summary

    def dry_run_sync(self) -> tuple[Any, Any]:
        """The whole sync cycle, read only: (summary, the engine holding what it planned)."""
        engine = self.engine(dry_run=True)
        with self.store.cycle_lock(wait=True, timeout=300):
            summary = engine.cycle("sync")
        return summary, engine

    def check_sla(self, summary: Any) -> list[Any]:
        """Handoffs of the last 30 days that broke the follow-up SLA, added to the summary."""
        from connector.app.reporting import sla_breaches
        breaches = sla_breaches(self.store, self.definition, self.clock())
        summary.counts["sla_breaches"] = len(breaches)
        summary.sla_breaches = [{"email": b.email, "handoff_at": b.handoff_at, "breaches": list(b.breaches)}
                                for b in breaches]
        return breaches

    def reconcile(self) -> Any:
        engine = self.engine()
        self.preflight()
        with self.store.cycle_lock(wait=True, timeout=300):
            return engine.reconcile()

    def resync(self, account: str, *, dry_run: bool = False) -> tuple[Any, list[dict[str, Any]]]:
        self.preflight()
        engine = self.engine(dry_run=dry_run)
        with self.store.cycle_lock(wait=True, timeout=300):
            summary = engine.resync(account)
        return summary, list(engine.planned)

    def review_due(self) -> date | None:
        return self.definition.review_due(self.clock().date())

    def warn_if_review_due(self) -> None:
        due = self.review_due()
        if due:
            message = (f"the qualification definition \"{self.definition.name}\" v{self.definition.version} "
                       f"was due for review on {due.isoformat()}")
            log.info(message)   # in the daemon's log; the terminal gets it once, below
            print(f"leadsync: warning: {message}", file=sys.stderr)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    def __enter__(self) -> "Runtime":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

