"""One definition's score-only path, written out as Python source and compiled once.

Why: run generically, the score-only path spends most of its time interpreting the definition:
looping over rule tuples, looking each rule's predicate up, asking which kind of rule it is. When
the code is written out for one definition, the per-lead work is straight-line code:
- each lead field is read once, and every verdict on it (required, fit, profile, BANT, missing or
  not) is remembered together per text value: one dict lookup however many rules read it;
- behavior rules become one branch per activity type, rule matches remembered per attribute
  value as the matched rule's position, occurrences kept in one local list per rule;
- points, caps, the window, the decay rate and the thresholds are folded in as constants, and
  engagement, gates and stage stay in local variables until the verdict is built.

Exactness: the written code does the float operations ``qualify.evaluate`` does, in its order:
decayed occurrences summed rule by rule in the order met (the ``max_count`` youngest first when
capped), each rule rounded, then the total. ``_round2`` rounds to cents as ``round(x, 2)`` does,
checked exactly (see there); a rounding is left out only where the value is a whole number by
construction. tests/core/test_fastscore.py compares the result with the full path.

Safety: nothing from the definition file becomes source text. Field names, rule names, points
and thresholds are written as literals only when they are plain ``str``/``int``/``float``/
``bool``/``None``, whose ``repr`` reads back as the same value; predicates, memos, tables and
any other value are passed in by name (``_Writer.name``). Generated identifiers are made from
rule positions, never from what the rules are called.
"""

from __future__ import annotations

import linecache
import math
import sys
from bisect import bisect_left, bisect_right
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from itertools import count
from typing import Any, Callable, Iterator, Mapping

from connector.core import model
from connector.core.definition import Definition
from connector.core.predicate import as_bool, is_missing
from connector.core.qualify import _stage

__all__ = ["ScoreCode", "write"]

_MEMO_LIMIT = 20_000          # distinct text values remembered per lead field or activity type
_FORM = "form_submission"
# The order activity types are tried in: what feeds carry most of first (a branch costs a compare).
_TYPE_ORDER = ("page_view", "email_open", "email_click", "form_submission", "webinar_attended",
               "sales_touch", "meeting_booked", "email_unsubscribe")
# From 3.12 ``sum`` of floats is compensated; the full path sums decayed occurrences with
# ``sum``, so from then on the written code must too. Up to 3.11 it adds them one by one.
_COMPENSATED_SUM = sys.version_info >= (3, 12)
_plans = count(1)


class _Memo(dict):
    """value → what a compute function makes of it, filled on first use; cleared past the limit."""

    __slots__ = ("compute",)

    def __init__(self, compute: Callable[[Any], Any]) -> None:
        super().__init__()
        self.compute = compute

    def __missing__(self, key: Any) -> Any:
        if len(self) >= _MEMO_LIMIT:
            self.clear()
        found = self[key] = self.compute(key)
        return found


class _Writer:
    """Lines of source with indentation, and the objects the source refers to by name."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 0
        self.names: dict[str, Any] = {}
        self._temp = count()

    def __call__(self, text: str) -> None:
        self.lines.append("    " * self.depth + text)

    @contextmanager
    def block(self, header: str) -> Iterator[None]:
        self(header)
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1

    def name(self, value: Any, hint: str) -> str:
        """Pass ``value`` into the source under a fresh name (made from ``hint``, never from data)."""
        name = f"{hint}_{len(self.names)}"
        self.names[name] = value
        return name

    def const(self, value: Any) -> str:
        """``value`` as a literal when it is a plain constant whose repr reads back exactly,
        otherwise passed in by name."""
        kind = value.__class__
        if value is None or kind is bool or kind is int or kind is str:
            return repr(value)
        if kind is float and math.isfinite(value):
            return f"({value!r})"
        return self.name(value, "K")

    def temp(self) -> str:
        return f"_t{next(self._temp)}"


def _round2(w: _Writer, target: str, expr: str, *, bound: float = math.inf, signed: bool = True) -> None:
    """``target = round(expr, 2)``, without ``round``'s decimal conversion in the usual case.

    ``round(x, 2)`` is the double nearest to x rounded to cents (half to even), i.e. ``n / 100``
    for the integer n nearest to 100·x (an int divided by 100 rounds correctly). For |y| < 1e9,
    ``y = x * 100.0`` is within 6e-8 of 100·x, so when y is clear of a half by 1e-4 the nearest
    integer to y is n; near-halves (ties among them), huge values and zero (its sign) are left to
    ``round`` itself. Where the writer knows |x| ≤ ``bound`` < 1e6, the magnitude check is left
    out; where x is never negative (``signed=False``), so is the zero check (n = 0 gives +0.0).
    """
    x, y, n = w.temp(), w.temp(), w.temp()
    w(f"{x} = {expr}")
    w(f"{y} = {x} * 100.0")
    near = f"-0.4999 < {y} - {n} < 0.4999"
    if bound < 1e6:
        w(f"{n} = floor({y} + 0.5)")
        w(f"{target} = {n} / 100 if {f'{n} and ' if signed else ''}{near} else round({x}, 2)")
        return
    with w.block(f"if -1e9 < {y} < 1e9:"):
        w(f"{n} = floor({y} + 0.5)")
        w(f"{target} = {n} / 100 if {f'{n} and ' if signed else ''}{near} else round({x}, 2)")
    with w.block("else:"):
        w(f"{target} = round({x}, 2)")


def _whole(values: Any) -> bool:
    """Every value a whole number small enough that sums of them (and of them times a count of
    activities, up to millions) are exact."""
    values = list(values)
    return all(float(v).is_integer() and abs(v) < 2 ** 24 for v in values) and len(values) < 2 ** 10


class _Fields:
    """Where each lead field the definition reads is read, and what is asked of it.

    A *source* is a raw field (``lead.get``) or the derived email domain: fit, profile and
    required rules on ``email_domain`` see the domain taken from the email when the field is
    blank, BANT, readiness and "more than an email" see the field as stored (as in ``qualify``).
    """

    def __init__(self, definition: Definition) -> None:
        self.definition = definition
        self.sources: dict[tuple[str, bool], list] = {}     # (field, derived) → [predicates]
        self.missing: set[tuple[str, bool]] = set()         # sources whose is_missing is asked
        for name in definition.required:
            self.ask(name, name == "email_domain", None)
        for rule in definition.fit:
            self.ask(rule.predicate.field, rule.predicate.field == "email_domain", rule.predicate)
            self.missing.add((rule.predicate.field, rule.predicate.field == "email_domain"))
        for rule in definition.profile:
            self.ask(rule.predicate.field, rule.predicate.field == "email_domain", rule.predicate)
        for criterion in definition.bant:
            self.ask(criterion.predicate.field, False, criterion.predicate)
        self.person_fields = tuple(sorted(definition.fields - {"email", "email_domain", "wants_sales_contact"}))
        self.derived = any(derived for _, derived in self.sources)

    def ask(self, field: str, derived: bool, predicate: Any) -> None:
        asked = self.sources.setdefault((field, derived), [])
        if predicate is None:
            self.missing.add((field, derived))
        elif all(p is not predicate for p in asked):
            asked.append(predicate)


class ScoreCode:
    """The compiled functions of one definition, and the source they were compiled from."""

    def __init__(self, source: str, namespace: dict[str, Any]) -> None:
        self.source = source
        self.facts = namespace["facts"]
        self.score = namespace["score"]
        self.prepare = namespace["prepare"]
        self.score_prepared = namespace["score_prepared"]


def write(definition: Definition, *, verdict: type, facts: type, prepared: type) -> ScoreCode:
    """Write and compile ``definition``'s score-only functions, building the given result types:

    - ``facts(lead)`` → ``facts``: what the lead's fields alone decide;
    - ``score(lead, activities, now, current_stage=None)`` → ``verdict``;
    - ``prepare(activities)`` → ``prepared``: each rule's occurrences as epoch microseconds;
    - ``score_prepared(facts, prepared, now_us, current_stage=None)`` → ``verdict``.
    """
    w = _Writer()
    w.names.update(
        Verdict=verdict, Facts=facts, Prepared=prepared, new=tuple.__new__, floor=math.floor, exp2=math.exp2,
        is_missing=is_missing, as_bool=as_bool, stage_of=_stage, bisect_left=bisect_left, bisect_right=bisect_right,
        EPOCH=datetime(1970, 1, 1, tzinfo=timezone.utc), NAIVE_EPOCH=datetime(1970, 1, 1),
        MICROSECOND=timedelta(microseconds=1),
    )
    fields = _Fields(definition)
    gates = _Gates(w, definition)
    behavior = _Behavior(w, definition)

    with w.block("def facts(lead):"):
        _write_fields(w, fields, gates)
        w(f"return new(Facts, (BLOCKED[blocked], missing.bit_count(), "
          f"LONE[missing] if dq is None and missing in LONE else None, dq, profile, ready_field, bant, bant_met, more))")
    w("")
    with w.block("def score(lead, activities, now, current_stage=None):"):
        _write_fields(w, fields, gates)
        behavior.write_scan(w)
        behavior.write_engagement(w, prepared=False)
        w("submitted_form = submitted")
        _write_verdict(w, gates, blocked="BLOCKED[blocked | dynamic]",
                       lone="LONE[missing] if dq is None and missing in LONE else None")
    w("")
    with w.block("def prepare(activities):"):
        behavior.write_prepare(w)
    w("")
    with w.block("def score_prepared(facts, prepared, now, current_stage=None):"):
        w("static, missing, lone, dq, profile, ready_field, bant, bant_met, more = facts")
        w("by_rule, in_order, first_form = prepared")
        behavior.write_engagement(w, prepared=True)
        w("submitted_form = first_form is not None and first_form <= now")
        _write_verdict(w, gates, blocked="static + DYNAMIC[dynamic]", lone="lone")

    source = "\n".join(w.lines) + "\n"
    filename = f"<score plan {next(_plans)}: definition v{definition.version}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)  # readable tracebacks
    namespace = dict(w.names)
    exec(compile(source, filename, "exec"), namespace)   # noqa: S102 - our own source; data only by name
    return ScoreCode(source, namespace)


class _Gates:
    """The gates' bits: one per required field and fit rule, then Score, Engagement and Ready.

    A lead's failing gates are a bit mask while it is scored, and one shared tuple of names
    (``BLOCKED[mask]``) in the verdict. Missing fields are a mask too, one bit per field name.
    """

    def __init__(self, w: _Writer, definition: Definition) -> None:
        names = [f"Required {name}" for name in definition.required] + [r.name for r in definition.fit]
        self.static = len(names)
        names += ["Score", "Engagement", "Ready"]
        self.score_bit, self.engagement_bit, self.ready_bit = (1 << self.static, 2 << self.static, 4 << self.static)
        field_names = list(dict.fromkeys([*definition.required, *(r.predicate.field for r in definition.fit)]))
        self.field_bit = {name: 1 << i for i, name in enumerate(field_names)}
        w.names["BLOCKED"] = _Memo(lambda mask: tuple(n for i, n in enumerate(names) if mask >> i & 1))
        w.names["DYNAMIC"] = {mask: w.names["BLOCKED"][mask] for mask in range(0, 8 << self.static, 1 << self.static)}
        w.names["LONE"] = {bit: name for name, bit in self.field_bit.items()}
        w.names["STAGES"] = {current: tuple(_stage(current, "x" if code & 8 else None, bool(code & 4), bool(code & 2),
                                                   bool(code & 1)) for code in range(16))
                             for current in (None, *model.STAGES)}
        w.names["NOT_NEAR"] = model.HANDED_OFF | {"disqualified"}
        self.definition = definition


def _write_fields(w: _Writer, fields: _Fields, gates: _Gates) -> None:
    """Locals: blocked, missing (masks), dq, profile, bant, bant_met, ready_field, more."""
    definition = fields.definition
    w("get = lead.get")
    raw: dict[str, str] = {}       # field → local holding lead.get(field)

    def read(field: str) -> str:
        if field not in raw:
            raw[field] = f"f{len(raw)}"
            w(f"{raw[field]} = get({w.const(field)})")
        return raw[field]

    for field, derived in fields.sources:
        read("email_domain" if derived else field)
    if fields.derived:
        domain, email = read("email_domain"), read("email")
        w(f"dom = {domain}")
        with w.block("if dom is None or is_missing(dom):"):
            with w.block(f"if isinstance({email}, str) and '@' in {email}:"):
                w(f"dom = {email}.rpartition('@')[2].strip().lower()")

    # Each source: is it missing, and every predicate's verdict on it, remembered per text value.
    missing_of: dict[tuple[str, bool], str] = {}
    verdict_of: dict[int, str] = {}      # id(predicate) on a source → local
    for k, ((field, derived), predicates) in enumerate(fields.sources.items()):
        value = "dom" if derived else raw[field]
        asks_missing = (field, derived) in fields.missing or (not derived and field in fields.person_fields)
        targets = ([f"m{k}"] if asks_missing else []) + [f"x{k}_{j}" for j in range(len(predicates))]
        if not targets:
            continue
        if asks_missing:
            missing_of[(field, derived)] = f"m{k}"
        checks = ([is_missing] if asks_missing else []) + [p.verdict for p in predicates]
        for j, p in enumerate(predicates):
            verdict_of[id(p), derived] = f"x{k}_{j}"
        if not predicates:          # only "is it missing": cheaper asked directly
            w(f"m{k} = (not {value}.strip()) if {value}.__class__ is str else is_missing({value})")
            continue
        if len(checks) == 1:
            memo = w.name(_Memo(checks[0]), "MEMO")
        else:
            memo = w.name(_Memo(lambda v, checks=tuple(checks): tuple(check(v) for check in checks)), "MEMO")
        with w.block(f"if {value}.__class__ is str:"):
            w(f"{', '.join(targets)} = {memo}[{value}]")
        # Whole numbers (company sizes) repeat too; in a memo of their own, as 1 == 1.0 == True
        # would share a key with the float and the boolean, which read differently.
        numbers = w.name(_Memo(w.names[memo].compute), "NUMBERS")
        with w.block(f"elif {value}.__class__ is int:"):
            w(f"{', '.join(targets)} = {numbers}[{value}]")
        with w.block(f"elif {value} is None:"):      # a field the lead does not have: known answers
            w(f"{', '.join(targets)} = {w.name(tuple(check(None) for check in checks), 'ABSENT')}"
              f"{'' if len(checks) > 1 else '[0]'}")
        with w.block("else:"):
            for target, check in zip(targets, checks):
                w(f"{target} = {w.name(check, 'CHECK')}({value})")

    w("blocked = missing = 0")
    w("dq = None")
    for bit, name in enumerate(definition.required):
        with w.block(f"if {missing_of[(name, name == 'email_domain')]}:"):
            w(f"missing |= {gates.field_bit[name]}")
            w(f"blocked |= {1 << bit}")
    for i, rule in enumerate(definition.fit):
        p = rule.predicate
        source = (p.field, p.field == "email_domain")
        verdict = verdict_of[id(p), source[1]]
        with w.block(f"if {verdict} is not True:"):
            w(f"blocked |= {1 << (len(definition.required) + i)}")
            with w.block(f"if {verdict} is None or {missing_of[source]}:"):
                w(f"missing |= {gates.field_bit[p.field]}")
            with w.block("elif dq is None:"):
                w(f"dq = {w.const(rule.name)}")

    w("profile = 0.0")
    for rule in definition.profile:
        with w.block(f"if {verdict_of[id(rule.predicate), rule.predicate.field == 'email_domain']} is True:"):
            w(f"profile += {w.const(rule.points)}")
    if not _whole(r.points for r in definition.profile):
        _round2(w, "profile", "profile")
    w("bant = 0.0")
    for criterion in definition.bant:
        with w.block(f"if {verdict_of[id(criterion.predicate), False]} is True:"):
            w(f"bant += {w.const(criterion.weight)}")
    w(f"bant_met = bant >= {w.const(definition.bant_require)}" if definition.bant_require is not None
      else "bant_met = False")
    if definition.readiness_field is not None:
        w(f"ready_field = as_bool({read(definition.readiness_field)}) is True")
    else:
        w("ready_field = False")
    # More than an email: any person field filled in. Those already judged first.
    known = [f"not {missing_of[(f, False)]}" for f in fields.person_fields if (f, False) in missing_of]
    rest = [f"not is_missing(get({w.const(f)}))" for f in fields.person_fields if (f, False) not in missing_of]
    w(f"more = {' or '.join(known + rest) or 'False'}")


class _Behavior:
    """The behavior rules as one branch per activity type, and engagement rule by rule."""

    def __init__(self, w: _Writer, definition: Definition) -> None:
        self.rules = definition.behavior
        self.decays = definition.engagement.half_life_days > 0
        half_life = definition.engagement.half_life_days * 86400.0
        self.rate = -(1.0 / half_life) if self.decays else 0.0
        w.names["WINDOW"] = timedelta(days=definition.engagement.window_days)
        w.names["WINDOW_US"] = w.names["WINDOW"] // timedelta(microseconds=1)
        by_type: dict[str, list[int]] = {}
        for index, rule in enumerate(self.rules):
            by_type.setdefault(rule.activity, []).append(index)
        order = {kind: i for i, kind in enumerate(_TYPE_ORDER)}
        self.types = sorted(by_type.items(), key=lambda item: (order.get(item[0], len(order)), item[0]))
        # A type whose rules read attributes: its matches remembered per attribute value, as
        # a code (``_Matches``) and, for several rules, a tuple of their lists to append to.
        self.matchers: dict[str, tuple[tuple[str, ...], str, str, str | None, str | None]] = {}
        for t, (kind, indices) in enumerate(self.types):
            read = tuple(sorted({p.field for i in indices for p in self.rules[i].where}))
            if read:
                match = _Matches(self.rules, indices)
                if len(read) == 1:
                    memo = _Memo(lambda value, match=match, attr=read[0]: match({attr: value}))
                else:
                    memo = _Memo(lambda values, match=match, read=read: match(dict(zip(read, values))))
                several = len(indices) > 1
                self.matchers[kind] = (read, w.name(memo, "ACTS"), w.name(match, "MATCH"),
                                       f"L{t}" if several else None, w.name(match.several, "SEVERAL") if several else None)
        self.whole = _whole(r.points for r in self.rules) and not self.decays

    def write_lists(self, w: _Writer) -> None:
        """One list per rule for its occurrences, and per type with several rules a tuple of them
        (position 0 unused: a match code is the position plus one)."""
        for i in range(len(self.rules)):
            w(f"o{i} = []")
        for kind, indices in self.types:
            lists = self.matchers.get(kind, (None,) * 4)[3]
            if lists is not None:
                w(f"{lists} = (None, {', '.join(f'o{i}' for i in indices)})")

    def _dispatch(self, w: _Writer, on_branch: Callable[[str], None], on_hit: Callable[[str], None],
                  on_match: Callable[[list[int]], None]) -> None:
        """if/elif on the activity type ``k``. Each branch starts with ``on_branch(kind)``; where
        the activity matches rules, ``on_hit(kind)`` once, then ``on_match(indices)``."""
        kinds = [kind for kind, _ in self.types]
        branches = list(self.types) + ([(_FORM, [])] if _FORM not in kinds else [])
        for n, (kind, indices) in enumerate(branches):
            with w.block(f"{'if' if n == 0 else 'elif'} k == {w.const(kind)}:"):
                before = len(w.lines)
                on_branch(kind)
                if kind not in self.matchers:
                    if indices:
                        on_hit(kind)
                        on_match(indices)
                    if len(w.lines) == before:
                        w("pass")
                    continue
                read, memo, match, lists, several = self.matchers[kind]
                if len(read) == 1:
                    w(f"v = a.attrs.get({w.const(read[0])})")
                    w(f"m = {memo}[v] if v.__class__ is str else {match}(a.attrs)")
                else:
                    w("attrs = a.attrs")
                    w(f"v = ({', '.join(f'attrs.get({w.const(attr)})' for attr in read)})")
                    plain = " and ".join(f"(v[{i}] is None or v[{i}].__class__ is str)" for i in range(len(read)))
                    w(f"m = {memo}[v] if {plain} else {match}(attrs)")
                with w.block("if m:"):
                    on_hit(kind)
                    if lists is None:
                        on_match(indices)
                    else:
                        with w.block("if m > 0:"):
                            w(f"{lists}[m].append(at)")
                        with w.block("else:"):
                            with w.block(f"for m in {several}[m]:"):
                                w(f"{lists}[m].append(at)")

    def write_scan(self, w: _Writer) -> None:
        """One pass over the activities: each rule's occurrences inside the window (``o<i>``, their
        instants in input order), and whether a form was ever submitted."""
        self.write_lists(w)
        w("submitted = False")
        w("start = now - WINDOW")
        with w.block("for a in activities:"):
            w("at = a.occurred_at")
            with w.block("if at > now:"):
                w("continue")          # not yet happened as of ``now`` (replays evaluate the past)
            w("k = a.type")
            with w.block("if at < start:"):
                with w.block(f"if k == {w.const(_FORM)}:"):
                    w("submitted = True")
                w("continue")

            def on_branch(kind: str) -> None:
                if kind == _FORM:
                    w("submitted = True")

            def on_match(indices: list[int]) -> None:
                for i in indices:
                    w(f"o{i}.append(at)")
            self._dispatch(w, on_branch, lambda kind: None, on_match)

    def write_prepare(self, w: _Writer) -> None:
        """Each rule's occurrences as epoch microseconds in input order, and the first form."""
        self.write_lists(w)
        w("first_form = None")

        def instant() -> None:
            w("at = a.occurred_at")
            w("at = (at - (EPOCH if at.tzinfo is not None else NAIVE_EPOCH)) // MICROSECOND")

        def on_branch(kind: str) -> None:
            if kind == _FORM:          # matched or not: a form makes the person a lead
                instant()
                with w.block("if first_form is None or at < first_form:"):
                    w("first_form = at")

        def on_hit(kind: str) -> None:
            if kind != _FORM:
                instant()

        def on_match(indices: list[int]) -> None:
            for i in indices:
                w(f"o{i}.append(at)")
        with w.block("for a in activities:"):
            w("k = a.type")
            self._dispatch(w, on_branch, on_hit, on_match)
        orders = " and ".join(f"(len(o{i}) < 2 or o{i} == sorted(o{i}))" for i in range(len(self.rules))) or "True"
        w(f"in_order = {orders}")
        rules = "".join(f"tuple(o{i}) if o{i} else None, " for i in range(len(self.rules)))
        w(f"return new(Prepared, (({rules}), in_order, first_form))")

    def write_engagement(self, w: _Writer, prepared: bool) -> None:
        """Locals ``e`` (engagement, rounded as the full path rounds it) and ``sig`` (a buying
        signal occurred in the window), rule by rule in the definition's order."""
        w("e = 0.0")
        w("sig = False")
        if not prepared:
            for i, rule in enumerate(self.rules):
                with w.block(f"if o{i}:"):
                    if self.decays:
                        self._rule_total(w, i, f"o{i}", prepared=False)
                    else:
                        w(f"c = len(o{i})")
                        self._rule_total(w, i, "c", prepared=False)
        else:
            w("start = now - WINDOW_US")
            with w.block("if in_order:"):
                for i, rule in enumerate(self.rules):
                    self._prepared_rule(w, i, ordered=True)
                if not self.rules:
                    w("pass")
            with w.block("else:"):
                for i, rule in enumerate(self.rules):
                    self._prepared_rule(w, i, ordered=False)
                if not self.rules:
                    w("pass")
        if not self.whole:
            with w.block("if e:"):          # round(±0.0, 2) is itself
                _round2(w, "e", "e")

    def _prepared_rule(self, w: _Writer, i: int, ordered: bool) -> None:
        cap = self.rules[i].max_count
        w(f"ts = by_rule[{i}]")
        with w.block("if ts is not None:"):
            if ordered:
                w("hi = bisect_right(ts, now)")
                w("lo = bisect_left(ts, start, 0, hi)")
                with w.block("if hi > lo:"):
                    if not self.decays:
                        w(f"c = hi - lo")
                        self._rule_total(w, i, "c", prepared=True)
                    else:
                        if cap is not None:
                            with w.block(f"if hi - lo > {cap}:"):
                                w(f"w = ts[hi - {cap}:hi][::-1]")     # the youngest first
                            with w.block("else:"):
                                w("w = ts[lo:hi]")
                        else:
                            w("w = ts[lo:hi]")
                        self._rule_total(w, i, "w", prepared=True, capped=True)
            else:
                w("w = [at for at in ts if start <= at <= now]")
                with w.block("if w:"):
                    if not self.decays:
                        w("c = len(w)")
                        self._rule_total(w, i, "c", prepared=True)
                    else:
                        self._rule_total(w, i, "w", prepared=True)

    def _rule_total(self, w: _Writer, i: int, seen: str, prepared: bool, capped: bool = False) -> None:
        """Add rule ``i``'s contribution from its occurrences ``seen`` (instants, or a count)."""
        rule = self.rules[i]
        cap = rule.max_count
        points = w.const(rule.points)
        # An occurrence is worth at most one (its age is never negative), so a capped rule adds at
        # most |points| × cap; points with a positive sign never add a negative amount.
        bound = abs(rule.points) * cap if cap is not None and math.isfinite(rule.points) else math.inf
        signed = math.copysign(1.0, rule.points) < 0 or not math.isfinite(rule.points)
        if not self.decays:
            counted = seen if cap is None else f"({seen} if {seen} <= {cap} else {cap})"
            if self.whole:
                w(f"e += {points} * {counted}")
            else:
                _round2(w, "r", f"{points} * {counted}", bound=bound, signed=signed)
                w("e += r")
        else:
            age = "(now - at) / 1000000" if prepared else "(now - at).total_seconds()"
            rate = w.const(self.rate)
            if cap == 1 and not capped:        # the youngest alone: sorted(..., reverse=True)[:1]
                w(f"at = {seen}[0] if len({seen}) == 1 else max({seen})")
                w(f"t = exp2({age} * {rate})")
            else:
                with w.block(f"if len({seen}) == 1:"):     # one occurrence: the sum is its worth
                    w(f"at = {seen}[0]")
                    w(f"t = exp2({age} * {rate})")
                with w.block("else:"):
                    if cap is not None and not capped:
                        with w.block(f"if len({seen}) > {cap}:"):
                            w(f"{seen} = sorted({seen}, reverse=True)[:{cap}]")    # the youngest first
                    if _COMPENSATED_SUM:
                        w(f"t = sum([exp2({age} * {rate}) for at in {seen}])")
                    else:
                        w("t = 0.0")
                        with w.block(f"for at in {seen}:"):
                            w(f"t += exp2({age} * {rate})")
            _round2(w, "r", f"{points} * t", bound=bound, signed=signed)
            w("e += r")
        if rule.buying_signal:
            w("sig = True")


class _Matches:
    """attrs → which of one activity type's rules (``indices``) match, as a code: 0 for none,
    position + 1 for exactly one, and for several a negative code ``several`` maps to their
    positions + 1 (combinations are numbered as they are first met)."""

    def __init__(self, rules: Any, indices: list[int]) -> None:
        self.wheres = tuple(rules[i].where for i in indices)
        self.several: dict[int, tuple[int, ...]] = {}
        self._codes: dict[tuple[int, ...], int] = {}

    def __call__(self, attrs: Mapping[str, Any]) -> int:
        found = tuple(position + 1 for position, where in enumerate(self.wheres)
                      if all(p.verdict(attrs.get(p.field)) is True for p in where))
        if len(found) < 2:
            return found[0] if found else 0
        code = self._codes.get(found)
        if code is None:
            code = self._codes[found] = -1 - len(self._codes)
            self.several[code] = found
        return code


def _write_verdict(w: _Writer, gates: _Gates, blocked: str, lone: str) -> None:
    """The gates, the stage and the verdict, as ``qualify.evaluate`` decides them."""
    definition = gates.definition
    _round2(w, "total", "profile + e")
    w("ready = ready_field or sig")
    w(f"score_ok = total >= {w.const(definition.thresholds.mql_score)}")
    w(f"engagement_ok = e >= {w.const(definition.thresholds.min_engagement)}")
    w("mql = not missing and dq is None and score_ok and engagement_ok and ready")
    w(f"dynamic = (0 if score_ok else {gates.score_bit}) | (0 if engagement_ok else {gates.engagement_bit}) "
      f"| (0 if ready else {gates.ready_bit})")
    w("code = (0 if dq is None else 8) | (4 if mql else 0) | (2 if bant_met else 0) | "
      "(1 if submitted_form or more else 0)")
    w("row = STAGES.get(current_stage)")
    w("stage = row[code] if row is not None else stage_of(current_stage, dq, mql, bant_met, submitted_form or more)")
    w(f"near = {lone}")
    with w.block("if near is not None and not (score_ok and engagement_ok and ready and stage not in NOT_NEAR):"):
        w("near = None")
    w(f"return new(Verdict, (stage, mql, total, profile, e, ready, dq, near, {blocked}, bant))")
