"""The state store's tables and their migrations (SQLAlchemy Core; SQLite or PostgreSQL).

Migrations are an ordered list of steps keyed by version; ``schema_version`` records the last
one applied. A new column or table is a new step at the end, never an edit of an old one.
"""

from __future__ import annotations

from typing import Callable

from sqlalchemy import (
    JSON, Boolean, Column, DateTime, Float, Index, Integer, MetaData, String, Table, Text,
    UniqueConstraint, func, inspect, text,
)
from sqlalchemy.engine import Connection

metadata = MetaData()

schema_version = Table(
    "schema_version", metadata,
    Column("version", Integer, primary_key=True),
)

# Where each incremental pull stopped. Advanced only after the writes the pull caused.
cursors = Table(
    "cursors", metadata,
    Column("name", String(64), primary_key=True),
    Column("value", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# The identity map and each person's last known snapshot (HubSpot contact id is the key).
people = Table(
    "people", metadata,
    Column("hubspot_id", String(32), primary_key=True),
    Column("email", String(320), index=True),
    Column("email_domain", String(255), index=True),
    Column("company_id", String(32), index=True),
    Column("crm_id", String(36), index=True),          # the CRM's id of the lead or contact record
    Column("crm_object", String(16)),                  # the record's kind: "lead" | "contact"
    Column("opportunity_id", String(36)),
    Column("opportunity_amount", Float),                      # for the pipeline's value
    Column("account_id", String(36)),
    Column("owner_id", String(36)),
    Column("stage", String(16), nullable=False, default="subscriber"),
    Column("score", Float),
    Column("missing", String(64)),
    Column("reason", Text),                                   # why it holds its stage, in words
    Column("fields", JSON, nullable=False, default=dict),     # canonical fields from HubSpot
    Column("crm_fields", JSON, nullable=False, default=dict), # canonical fields read from the CRM (BANT…)
    Column("crm_status", String(64)),
    Column("handoff_at", DateTime(timezone=True)),
    Column("recycled_at", DateTime(timezone=True)),           # engagement before this no longer counts
    Column("handoffs", Integer, nullable=False, default=0),
    Column("existing_customer", Boolean, nullable=False, default=False),
    Column("definition_version", Integer),
    Column("modified_at", DateTime(timezone=True)),           # HubSpot lastmodifieddate last seen
    Column("deleted", Boolean, nullable=False, default=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

activities = Table(
    "activities", metadata,
    Column("hubspot_id", String(32), nullable=False),
    Column("source", String(16), nullable=False),
    Column("id", String(128), nullable=False),
    Column("type", String(32), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("attrs", JSON, nullable=False, default=dict),
    UniqueConstraint("hubspot_id", "source", "id", name="uq_activity"),
    Index("ix_activity_person_time", "hubspot_id", "occurred_at"),
)

# The value leadsync last wrote per (system, record, field): an unchanged value is never
# written again (a no-op write would bump the remote modstamp and come back as a change).
written = Table(
    "written", metadata,
    Column("system", String(16), primary_key=True),
    Column("record_id", String(64), primary_key=True),
    Column("field", String(128), primary_key=True),
    Column("value", JSON),
    Column("written_at", DateTime(timezone=True), nullable=False),
)

transitions = Table(
    "transitions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("hubspot_id", String(32), nullable=False, index=True),
    Column("from_stage", String(16)),
    Column("to_stage", String(16), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("cause", String(32), nullable=False),      # "definition" | "sales" | "opportunity" | …
    Column("rule", Text),
    Column("definition_version", Integer),
    Column("run_id", Integer),
)

runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),       # sync | hubspot | salesforce | resync | reconcile | sla
    Column("started_at", DateTime(timezone=True), nullable=False, index=True),
    Column("finished_at", DateTime(timezone=True)),
    Column("outcome", String(16), nullable=False, default="running"),  # running | ok | partial | failed | stopped
    Column("counts", JSON, nullable=False, default=dict),
    Column("api", JSON, nullable=False, default=dict),
    Column("message", Text),
    Column("account", String(255)),
)

changes = Table(
    "changes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("hubspot_id", String(32), index=True),
    Column("email", String(320), index=True),
    Column("account", String(255), index=True),
    Column("system", String(16), nullable=False),
    Column("record_id", String(64)),
    Column("field", String(128), nullable=False),
    Column("old", JSON),
    Column("new", JSON),
    Column("rule", Text),
    Column("definition_version", Integer),
)

errors = Table(
    "errors", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, index=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("system", String(16)),
    Column("hubspot_id", String(32)),
    Column("email", String(320)),
    Column("kind", String(32), nullable=False),
    Column("message", Text, nullable=False),
    Column("detail", Text),
)

quarantine = Table(
    "quarantine", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("system", String(16), nullable=False),
    Column("hubspot_id", String(32), nullable=False),
    Column("email", String(320)),
    Column("operation", String(32), nullable=False),   # write | handoff | convert | read
    Column("code", String(64)),
    Column("reason", Text, nullable=False),
    Column("detail", Text),
    Column("transient", Boolean, nullable=False, default=False),
    Column("attempts", Integer, nullable=False, default=1),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("dropped_at", DateTime(timezone=True)),        # v2: a person gave up on it; never retried
    UniqueConstraint("system", "hubspot_id", "operation", name="uq_quarantine"),
)

# Round-robin position and other small pieces of named state.
kv = Table(
    "kv", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", JSON),
)


# The marketing platform's companies as last read: contacts name their primary company's id,
# so a page of contacts needs no company reads once its companies are here.
companies = Table(
    "companies", metadata,
    Column("company_id", String(32), primary_key=True),
    Column("properties", JSON, nullable=False, default=dict),
    Column("modified_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


# A first run's CRM records, read whole before anyone is adopted, wait here (not in memory)
# for their person to come by in the marketing pass: a row per record, for that run only.
crm_waiting = Table(
    "crm_waiting", metadata,
    Column("run_id", Integer, primary_key=True),
    Column("record_id", String(36), primary_key=True),
    Column("hubspot_id", String(32)),     # the external id it carries, if any
    Column("email", String(320)),         # lower-case
    Column("opportunity_id", String(36)),     # the opportunity it names (v7), read once for the run
    Column("record", JSON, nullable=False),
    # Looked up within one run: led by run_id, or a planner without statistics (SQLite's)
    # prefers the primary key's run_id and reads every record of the run for each lookup.
    Index("ix_crm_waiting_run_hubspot_id", "run_id", "hubspot_id"),
    Index("ix_crm_waiting_run_email", "run_id", "email"),
)

# The opportunities a first run's waiting records name, read from the CRM once (a query per
# 100–200 ids) and kept here for the run instead of in memory: adoption reads a batch's back.
# ``opportunity`` is null for an id the CRM did not return (asked once, not asked again).
crm_opportunities = Table(
    "crm_opportunities", metadata,
    Column("run_id", Integer, primary_key=True),
    Column("opportunity_id", String(36), primary_key=True),
    Column("opportunity", JSON),
)


def _v1_initial(conn: Connection) -> None:
    metadata.create_all(conn, tables=[
        cursors, people, activities, written, transitions, runs, changes, errors, quarantine, kv,
    ])


def _v2_quarantine_dropped(conn: Connection) -> None:
    """A dropped entry is kept, marked, so the record stays dropped: leadsync does not write it
    again (and does not quarantine it again) until a person asks for a retry."""
    kind = "TIMESTAMP WITH TIME ZONE" if conn.dialect.name == "postgresql" else "TIMESTAMP"
    if "dropped_at" not in {c["name"] for c in inspect(conn).get_columns("quarantine")}:
        conn.execute(text(f"ALTER TABLE quarantine ADD COLUMN dropped_at {kind}"))


def _v3_record_kinds(conn: Connection) -> None:
    """Person records in the CRM are named by kind ("lead", "contact"), not by a vendor's
    object name: stores written before say "Lead" / "Contact". CRM ids grow to 36 characters
    (SugarCRM's are UUIDs; SQLite does not enforce lengths)."""
    conn.execute(people.update().where(people.c.crm_object.in_(("Lead", "Contact")))
                 .values(crm_object=func.lower(people.c.crm_object)))
    if conn.dialect.name == "postgresql":
        for column in ("crm_id", "opportunity_id", "account_id", "owner_id"):
            conn.execute(text(f"ALTER TABLE people ALTER COLUMN {column} TYPE VARCHAR(36)"))


def _v4_companies(conn: Connection) -> None:
    """A table of the marketing platform's companies, read incrementally (a cache)."""
    metadata.create_all(conn, tables=[companies])


def _v5_crm_waiting(conn: Connection) -> None:
    """Where a first run's CRM records wait for their person (scratch, per run)."""
    metadata.create_all(conn, tables=[crm_waiting])


def _v6_crm_waiting_lookups(conn: Connection) -> None:
    """The waiting room's lookups by HubSpot id and by email are indexed within a run."""
    for name in ("ix_crm_waiting_hubspot_id", "ix_crm_waiting_email"):
        conn.execute(text(f"DROP INDEX IF EXISTS {name}"))
    for index in crm_waiting.indexes:
        index.create(conn, checkfirst=True)


def _v7_crm_opportunities(conn: Connection) -> None:
    """The waiting records' opportunity ids, and a table of the opportunities read for a first
    run (scratch, per run, like the waiting room)."""
    if "opportunity_id" not in {c["name"] for c in inspect(conn).get_columns("crm_waiting")}:
        conn.execute(text("ALTER TABLE crm_waiting ADD COLUMN opportunity_id VARCHAR(36)"))
    metadata.create_all(conn, tables=[crm_opportunities])


MIGRATIONS: list[tuple[int, Callable[[Connection], None]]] = [
    (1, _v1_initial),
    (2, _v2_quarantine_dropped),
    (3, _v3_record_kinds),
    (4, _v4_companies),
    (5, _v5_crm_waiting),
    (6, _v6_crm_waiting_lookups),
    (7, _v7_crm_opportunities),
]

LATEST = MIGRATIONS[-1][0]


def migrate(conn: Connection) -> int:
    """Apply every migration newer than the recorded version; returns the version now."""
    metadata.create_all(conn, tables=[schema_version])
    current = conn.execute(text("SELECT MAX(version) FROM schema_version")).scalar() or 0
    if current == 0 and inspect(conn).has_table("people"):
        current = 1   # created before versioning was recorded
    for version, step in MIGRATIONS:
        if version > current:
            step(conn)
            conn.execute(schema_version.insert().values(version=version))
            current = version
    return current
