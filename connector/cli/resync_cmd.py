"""``leadsync resync --account KEY``: one account by hand.

The account is resolved first and said out loud (its name and domain, the CRM Account, the
HubSpot company, the people found in each system by name and email), so an operator sees what
the command is about to touch before reading a diff. A key that matches nothing is bad usage
(exit 2), never "nothing to write". The dry run prints the planned field changes; the real run
prints the changes it applied. The "rule" column is the field's sync rule from the mappings;
"why" is the qualification verdict behind the value.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from rich.console import Console
from rich.table import Table

from connector.core.errors import ConfigError, Problem
from connector.core.mapping import email_domain
from connector.state.logquery import LogFilter
from connector.state.store import json_safe

DASH = "—"


# -- the key -------------------------------------------------------------------------------------------

def account_key(raw: str) -> tuple[str | None, str | None]:
    """(domain, id): ``https://www.Summit.com/x`` and ``www.summit.com`` are the domain
    ``summit.com``; anything without a dot is an id (HubSpot company or CRM Account)."""
    text = (raw or "").strip()
    lowered = text.lower()
    if "://" in lowered or "." in lowered:
        host = lowered.split("://", 1)[-1].split("/", 1)[0].split("?", 1)[0].split(":", 1)[0]
        host = host.removeprefix("www.").strip(".")
        return (host or None), None
    return None, (text or None)


# -- who is in it ------------------------------------------------------------------------------------

@dataclass
class Account:
    key: str
    domain: str | None = None
    name: str | None = None
    crm_account: Any = None                       # the CRM's Account (id, name, owner, customer)
    company_id: str | None = None                 # HubSpot company id
    marketing_people: list[Any] = field(default_factory=list)
    crm_records: list[Any] = field(default_factory=list)
    known: list[dict[str, Any]] = field(default_factory=list)   # people in the state store

    @property
    def engine_key(self) -> str:
        """What the engine re-pulls by (and the run records): the domain, else the id given."""
        return self.domain or self.company_id or self.key

    @property
    def found(self) -> bool:
        return bool(self.marketing_people or self.crm_records or self.crm_account or self.known or self.company_id)


def _most_common(values: Sequence[str | None]) -> str | None:
    counted = Counter(v for v in values if v)
    return counted.most_common(1)[0][0] if counted else None


def resolve(store: Any, marketing: Any, crm: Any, raw: str) -> Account:
    domain, ident = account_key(raw)
    account = Account(raw.strip(), domain)
    if ident:
        account.known = store.find_people(company_id=ident) + store.find_people(account_id=ident)
        if ident.isdigit():
            account.marketing_people = marketing.people_of_company(ident)
            account.company_id = ident if account.marketing_people else None
        account.domain = _most_common([p.fields.get("email_domain") or email_domain(p.fields.get("email"))
                                       for p in account.marketing_people]
                                      + [p.get("email_domain") for p in account.known])
    if account.domain:
        if not account.marketing_people:
            account.marketing_people = marketing.people_of_company(account.domain)
        account.crm_account = crm.accounts_by_domain([account.domain]).get(account.domain)
        seen = {p["hubspot_id"] for p in account.known}
        account.known += [p for p in store.find_people(domain=account.domain) if p["hubspot_id"] not in seen]
    account.company_id = account.company_id or _most_common([p.company_id for p in account.marketing_people])
    emails = sorted({e for e in [p.fields.get("email") for p in account.marketing_people]
                     + [p.get("email") for p in account.known] if e})
    ids = sorted({p.id for p in account.marketing_people} | {p["hubspot_id"] for p in account.known})
    account.crm_records = crm.find_records(emails=emails, hubspot_ids=ids) if emails or ids else []
    account.name = ((account.crm_account.name if account.crm_account else None)
                    or _most_common([p.fields.get("company") for p in account.marketing_people])
                    or _most_common([(p.get("fields") or {}).get("company") for p in account.known]))
    if not account.found:
        raise ConfigError(Problem("command line", "--account", (
            f"{raw!r} matches no HubSpot company, no Salesforce Account and nobody leadsync knows "
            "(give a company domain such as acme.com, a HubSpot company id or a Salesforce Account Id)")))
    return account


def _name(fields: Mapping[str, Any]) -> str:
    return " ".join(str(v) for v in (fields.get("first_name"), fields.get("last_name")) if v) or "(no name)"


def account_dict(a: Account) -> dict[str, Any]:
    crm = a.crm_account
    return json_safe({
        "key": a.key, "domain": a.domain, "name": a.name, "hubspot_company_id": a.company_id,
        "crm_account": {"id": crm.id, "name": crm.name, "owner_id": crm.owner_id, "customer": crm.is_customer}
        if crm else None,
        "hubspot_people": [{"hubspot_id": p.id, "name": _name(p.fields), "email": p.fields.get("email")}
                           for p in a.marketing_people],
        "crm_people": [{"id": r.id, "object": r.kind, "name": _name(r.fields), "email": r.email,
                        "hubspot_id": r.hubspot_id, "converted": r.is_converted} for r in a.crm_records]})


def print_account(out: Console, d: Mapping[str, Any], mask: Any = str) -> None:
    out.print(f"[bold]Account {d['domain'] or d['key']}[/]: {d['name'] or '(no name on record)'}")
    crm = d["crm_account"]
    rows = [("Salesforce Account", f"{crm['id']} ({crm['name']}{', customer' if crm['customer'] else ''}"
                                   f", owner {crm['owner_id'] or DASH})" if crm else "none with this domain"),
            ("HubSpot company", d["hubspot_company_id"] or "none found")]
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for label, value in rows:
        grid.add_row(label, value)
    grid.add_row(f"In HubSpot ({len(d['hubspot_people'])})",
                 "\n".join(f"{p['name']} <{mask(p['email'] or DASH)}>" for p in d["hubspot_people"]) or "nobody")
    grid.add_row(f"In Salesforce ({len(d['crm_people'])})",
                 "\n".join(f"{r['object']} {r['id']}: {r['name']} <{mask(r['email'] or DASH)}>"
                           + (" (converted)" if r["converted"] else "") for r in d["crm_people"]) or "nobody")
    out.print(grid)


# -- what changes, and by which rule --------------------------------------------------------------------

def field_rules(rt: Any) -> dict[tuple[str, str], str]:
    """(side, vendor field) → the sync rule that decides it, from the mappings."""
    maps = rt.write_maps()
    rules: dict[tuple[str, str], str] = {("hubspot", prop): "leadsync writes" for prop in maps.hubspot_write.values()}
    rules[("hubspot", "lifecyclestage")] = "stage map (forward only)"
    rules[("hubspot", "hs_lead_status")] = "stage map"
    rules.update({("crm", field): "leadsync writes" for field in maps.crm_write.values()})
    rules.update({("crm", field): sync for field, sync in maps.crm_fields.values()})
    return rules


# What the CRM adapter adds to a write of its own accord: the external id, the opening status
# of a handoff, the routed owner and account.
BOOKKEEPING = "handoff bookkeeping"


def _default_rule(system: str | None) -> str:
    return "leadsync writes" if _side(system) == "hubspot" else BOOKKEEPING


def _side(system: str | None) -> str:
    return "hubspot" if system == "hubspot" else "crm"


def plan_rows(planned: Sequence[Mapping[str, Any]], people: Mapping[str, Mapping[str, Any]],
              rules: Mapping[tuple[str, str], str]) -> list[dict[str, Any]]:
    rows = []
    for write in planned:
        current = write.get("current") or {}
        who = people.get(str(write.get("key")), {})
        for name, value in (write.get("values") or {}).items():
            rows.append({"person": who.get("name"), "email": who.get("email"), "hubspot_id": write.get("key"),
                         "system": write.get("system"), "object": write.get("object"),
                         "record": write.get("record"), "field": name, "current": current.get(name),
                         "planned": value, "rule": rules.get((_side(write.get("system")), name), _default_rule(write.get("system"))),
                         "why": write.get("rule")})
    return rows


def applied_rows(changes: Sequence[Mapping[str, Any]], people: Mapping[str, Mapping[str, Any]],
                 rules: Mapping[tuple[str, str], str]) -> list[dict[str, Any]]:
    rows = []
    for c in changes:
        who = people.get(str(c.get("hubspot_id")), {})
        rows.append({"person": who.get("name"), "email": c.get("email") or who.get("email"),
                     "hubspot_id": c.get("hubspot_id"), "system": c.get("system"), "record": c.get("record_id"),
                     "field": c.get("field"), "old": c.get("old"), "new": c.get("new"),
                     "rule": rules.get((_side(c.get("system")), c.get("field")), _default_rule(c.get("system"))),
                     "why": c.get("rule")})
    return rows


def _people_index(account: Account) -> dict[str, dict[str, Any]]:
    index = {p["hubspot_id"]: {"name": _name(p.get("fields") or {}), "email": p.get("email")} for p in account.known}
    index.update({p.id: {"name": _name(p.fields), "email": p.fields.get("email")} for p in account.marketing_people})
    return index


def _text(value: Any) -> str:
    return DASH if value is None or value == "" else str(value)


def print_changes(out: Console, rows: Sequence[Mapping[str, Any]], title: str, before: str, after: str,
                  mask: Any = str) -> None:
    table = Table("person", "system", "field", "change", "rule", title=title, title_justify="left")
    table.columns[0].overflow = table.columns[3].overflow = "fold"
    for r in rows:
        who = f"{r['person'] or ''} <{mask(r['email'] or r['hubspot_id'])}>".strip()
        table.add_row(who, _text(r["system"]), _text(r["field"]), f"{_text(r[before])} → {_text(r[after])}",
                      _text(r["rule"]))
    out.print(table)


def dry_run_doc(account: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``resync --dry-run --json`` (shape in docs/json-shapes.md)."""
    return json_safe({"dry_run": True, "account": account, "changes": list(rows)})


def applied_doc(summary: Mapping[str, Any], account: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``resync --json``: the run's summary, the account and the changes applied."""
    return json_safe({**summary, "dry_run": False, "account": account, "changes": list(rows)})


# -- the command -----------------------------------------------------------------------------------------

def resync_command(rt: Any, raw_key: str, *, dry_run: bool, as_json: bool, console: Console | None = None) -> int:
    from connector.cli.render import summary_dict
    from connector.cli.progress import progress
    out = console or Console()
    engine = rt.engine()
    with progress() as shown:
        shown.phase(f"resolving the account {raw_key}")
        account = resolve(rt.store, engine.marketing, engine.crm, raw_key)
    described = account_dict(account)
    if not as_json:
        print_account(out, described, rt.redactor)
    with progress() as shown:
        shown.phase(f"re-pulling and re-qualifying {len(account.marketing_people)} people")
        summary, planned = rt.resync(account.engine_key, dry_run=dry_run)
    rules, people = field_rules(rt), _people_index(account)
    if dry_run:
        rows = plan_rows(planned, people, rules)
        if as_json:
            print(json.dumps(dry_run_doc(described, rows), indent=2, ensure_ascii=False))
        elif rows:
            print_changes(out, rows, f"Planned changes (dry run, nothing written): {len(rows)}", "current", "planned",
                          rt.redactor)
        else:
            out.print("Nothing to write: both systems already agree for this account.")
        return 0
    applied = applied_rows(rt.store.log_rows("changes", LogFilter(run_id=summary.run_id, limit=None)), people, rules)
    if as_json:
        print(json.dumps(applied_doc(summary_dict(summary), described, applied), indent=2, ensure_ascii=False))
        return 0
    out.print(f"resync run {summary.run_id}: {summary.outcome}" + (f" ({summary.message})" if summary.message else ""))
    if applied:
        print_changes(out, applied, f"Changes applied: {len(applied)}", "old", "new", rt.redactor)
    else:
        out.print("Nothing written: both systems already agreed for this account.")
    if summary.counts.get("quarantined"):
        out.print(f"{summary.counts['quarantined']} record(s) quarantined: see `leadsync quarantine list`.")
    return 0
