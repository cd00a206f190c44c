"""The sandbox's SOQL front end and evaluator, without HTTP: query → result, query → error."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from functools import cmp_to_key

import pytest
from hypothesis import given, settings, strategies as st

from leadsync_sandbox.salesforce_query import Evaluator, _comparable, compile_query, execute, order_rows
from leadsync_sandbox.salesforce_soql import BoolOp, Comparison, Not, SoqlError, parse, tokenize
from leadsync_sandbox.salesforce_values import to_18

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
OWNER = {"Id": to_18("0055g0000000001"), "Name": "Sam Okoro", "IsActive": True}
LEADS = [
    {"Id": to_18("00Q5g0000000001"), "Email": "ada@acme.com", "LastName": "Lovelace",
     "Company": "Acme", "Status": "Open - Not Contacted", "NumberOfEmployees": 250,
     "Leadsync_Score__c": 75.0, "OwnerId": OWNER["Id"], "IsConverted": False,
     "SystemModstamp": NOW - timedelta(hours=2), "CreatedDate": NOW - timedelta(days=3),
     "ConvertedDate": None, "Title": "VP Sales"},
    {"Id": to_18("00Q5g0000000002"), "Email": "bob@beta.io", "LastName": "O'Brien",
     "Company": "Beta", "Status": "Working - Contacted", "NumberOfEmployees": None,
     "Leadsync_Score__c": 40.0, "OwnerId": None, "IsConverted": False,
     "SystemModstamp": NOW - timedelta(days=2), "CreatedDate": NOW - timedelta(days=40),
     "ConvertedDate": None, "Title": None},
    {"Id": to_18("00Q5g0000000003"), "Email": None, "LastName": "Curie", "Company": "Gamma",
     "Status": "Closed - Converted", "NumberOfEmployees": 90, "Leadsync_Score__c": None,
     "OwnerId": OWNER["Id"], "IsConverted": True, "SystemModstamp": NOW,
     "CreatedDate": NOW - timedelta(days=1), "ConvertedDate": date(2026, 3, 10),
     "Title": "Director 50%"},
]


def run(text: str) -> tuple[int, list[dict]]:
    return execute(text, lambda obj: LEADS if obj.name == "Lead" else [OWNER],
                   lambda rid: OWNER if rid == OWNER["Id"] else None, NOW, "/services/data/v59.0")


def names(text: str) -> list[str]:
    return [r["LastName"] for r in run(text)[1]]


# --- parsing ------------------------------------------------------------------------------

def test_given_escaped_string_when_tokenized_then_escapes_are_decoded():
    tokens = tokenize(r"SELECT Id FROM Lead WHERE LastName = 'O\'Brien \\ x\n'")
    assert tokens[-2].value == "O'Brien \\ x\n"


def test_given_nested_conditions_when_parsed_then_tree_keeps_grouping():
    query = parse("select Id from Lead where not (Email = null or Status in ('a','b')) "
                  "and Title like 'VP%' order by CreatedDate desc nulls last, Id limit 5 offset 2")
    assert isinstance(query.where, BoolOp) and query.where.op == "AND"
    assert isinstance(query.where.operands[0], Not)
    assert isinstance(query.where.operands[1], Comparison)
    assert query.order_by[0].descending and query.order_by[0].nulls_last
    assert (query.limit, query.offset) == (5, 2)


@pytest.mark.parametrize("literal, kind", [
    ("'x'", "string"), ("42", "number"), ("-1.5", "number"), ("true", "boolean"),
    ("null", "null"), ("2026-01-01", "date"), ("2026-01-01T00:00:00Z", "datetime"),
    ("2026-01-01T00:00:00+02:00", "datetime"), ("2026-01-01T00:00:00.000Z", "datetime"),
    ("LAST_N_DAYS:7", "relative_date"), ("TODAY", "relative_date"),
])
def test_given_literal_when_parsed_then_its_kind_is_known(literal, kind):
    assert parse(f"SELECT Id FROM Lead WHERE X = {literal}").where.value.kind == kind


@pytest.mark.parametrize("text, code, fragment", [
    ("SELECT Id FROM Lead WHERE", "MALFORMED_QUERY", "unexpected token: <EOF>"),
    ("SELECT FROM Lead", "MALFORMED_QUERY", "unexpected token: 'FROM'"),
    ("SELECT Id FROM Lead WHERE a = 1 AND b = 2 OR c = 3", "MALFORMED_QUERY", "'OR'"),
    ("SELECT Id FROM Lead WHERE a = 1 OR b = 2 AND c = 3", "MALFORMED_QUERY", "'AND'"),
    ("SELECT Id FROM Lead WHERE Email = 'unterminated", "MALFORMED_QUERY", "unterminated"),
    (r"SELECT Id FROM Lead WHERE Email = 'bad \q'", "MALFORMED_QUERY", "Illegal escape"),
    ("SELECT Id FROM Lead LIMIT x", "MALFORMED_QUERY", "unexpected token"),
    ("SELECT Id FROM Lead WHERE Email = 'a' junk", "MALFORMED_QUERY", "'junk'"),
    ("SELECT Owner.Manager.Name FROM Lead", "INVALID_FIELD", "relationship"),
])
def test_given_malformed_query_when_parsed_then_salesforce_error(text, code, fragment):
    with pytest.raises(SoqlError) as caught:
        parse(text)
    assert caught.value.code == code
    assert fragment in caught.value.message
    assert "ERROR at Row:1:Column:" in caught.value.message


# --- schema checks ------------------------------------------------------------------------

@pytest.mark.parametrize("text, code, fragment", [
    ("SELECT Id FROM Leed", "INVALID_TYPE", "sObject type 'Leed' is not supported"),
    ("SELECT Id, Foo__c FROM Lead", "INVALID_FIELD", "No such column 'Foo__c' on entity 'Lead'"),
    ("SELECT Id, Boss.Name FROM Lead", "INVALID_FIELD", "Didn't understand relationship 'Boss'"),
    ("SELECT Id, Owner.Nope FROM Lead", "INVALID_FIELD", "No such column 'Nope' on entity 'User'"),
    ("SELECT Id, id FROM Lead", "MALFORMED_QUERY", "duplicate field selected"),
    ("SELECT Id FROM Lead WHERE SystemModstamp > '2026-01-01T00:00:00Z'",
     "INVALID_QUERY_FILTER_OPERATOR", "must be of type dateTime and should not be enclosed"),
    ("SELECT Id FROM Lead WHERE NumberOfEmployees > '100'", "INVALID_QUERY_FILTER_OPERATOR",
     "must be of type double"),
    ("SELECT Id FROM Lead WHERE Email = 5", "INVALID_QUERY_FILTER_OPERATOR",
     "must be of type string and should be enclosed in quotes"),
    ("SELECT Id FROM Lead WHERE IsConverted = 'true'", "INVALID_QUERY_FILTER_OPERATOR",
     "must be of type boolean"),
    ("SELECT Id FROM Lead WHERE Id = 'abc'", "INVALID_QUERY_FILTER_OPERATOR", "invalid ID field: abc"),
    ("SELECT Id FROM Lead WHERE NumberOfEmployees LIKE '1%'", "INVALID_QUERY_FILTER_OPERATOR",
     "LIKE"),
    ("SELECT Id FROM Lead OFFSET 2001", "NUMBER_OUTSIDE_VALID_RANGE", "2000"),
])
def test_given_query_against_schema_when_checked_then_salesforce_error(text, code, fragment):
    with pytest.raises(SoqlError) as caught:
        run(text)
    assert (caught.value.code, fragment in caught.value.message) == (code, True)


# --- evaluation ---------------------------------------------------------------------------

@pytest.mark.parametrize("where, expected", [
    ("Email = 'ADA@acme.com'", ["Lovelace"]),                      # text compares ignore case
    ("LastName = 'O\\'Brien'", ["O'Brien"]),
    ("Email = null", ["Curie"]),
    ("Email != null", ["Lovelace", "O'Brien"]),
    ("Email != 'ada@acme.com'", ["O'Brien", "Curie"]),             # != keeps nulls, like SOQL
    ("NumberOfEmployees >= 100", ["Lovelace"]),
    ("NumberOfEmployees < 100", ["Curie"]),                        # nulls never compare
    ("Status IN ('Working - Contacted', 'Closed - Converted')", ["O'Brien", "Curie"]),
    ("Status NOT IN ('Working - Contacted')", ["Lovelace", "Curie"]),
    ("Email LIKE '%.COM'", ["Lovelace"]),
    ("Title LIKE '%50\\%'", ["Curie"]),                            # escaped wildcard
    ("Title LIKE 'VP_Sales'", ["Lovelace"]),
    ("NOT (IsConverted = true OR Leadsync_Score__c < 50)", ["Lovelace"]),
    ("SystemModstamp > 2026-03-10T09:00:00Z", ["Lovelace", "Curie"]),
    ("SystemModstamp > 2026-03-10T11:00:00+02:00", ["Lovelace", "Curie"]),
    ("SystemModstamp >= 2026-03-10T12:00:00.000Z", ["Curie"]),
    ("ConvertedDate = 2026-03-10", ["Curie"]),
    ("CreatedDate = LAST_N_DAYS:7", ["Lovelace", "Curie"]),
    ("SystemModstamp = TODAY", ["Lovelace", "Curie"]),
    ("Id = '00Q5g0000000002'", ["O'Brien"]),                       # 15-char ids match 18-char
    ("Owner.Name = 'sam okoro'", ["Lovelace", "Curie"]),
])
def test_given_where_clause_when_run_then_matching_rows(where, expected):
    assert names(f"SELECT LastName FROM Lead WHERE {where}") == expected


def test_given_order_by_when_run_then_soql_null_ordering():
    assert names("SELECT LastName FROM Lead ORDER BY NumberOfEmployees") == \
        ["O'Brien", "Curie", "Lovelace"]                           # ASC: nulls first
    assert names("SELECT LastName FROM Lead ORDER BY NumberOfEmployees DESC") == \
        ["Lovelace", "Curie", "O'Brien"]                           # DESC: nulls last
    assert names("SELECT LastName FROM Lead ORDER BY NumberOfEmployees ASC NULLS LAST") == \
        ["Curie", "Lovelace", "O'Brien"]


def test_given_limit_and_offset_when_run_then_window_applies():
    assert names("SELECT LastName FROM Lead ORDER BY LastName LIMIT 1 OFFSET 1") == ["Lovelace"]


def test_given_count_query_when_run_then_total_without_records():
    assert run("SELECT COUNT() FROM Lead WHERE IsConverted = false") == (2, [])


def test_given_parent_fields_when_rendered_then_nested_with_attributes():
    _, rows = run("SELECT Id, Owner.Name, Leadsync_Score__c, SystemModstamp FROM Lead "
                  "ORDER BY LastName")
    curie, lovelace, obrien = rows
    assert obrien["Owner"] is None                                 # no owner: null, not {}
    assert lovelace["Owner"] == {"attributes": {"type": "User", "url":
                                 f"/services/data/v59.0/sobjects/User/{OWNER['Id']}"},
                                 "Name": "Sam Okoro"}
    assert lovelace["attributes"] == {"type": "Lead", "url":
                                      f"/services/data/v59.0/sobjects/Lead/{LEADS[0]['Id']}"}
    assert lovelace["Leadsync_Score__c"] == 75.0
    assert lovelace["SystemModstamp"] == "2026-03-10T10:00:00.000+0000"
    assert curie["Leadsync_Score__c"] is None


# --- the compiled evaluation against the record-by-record one -------------------------------

WHERES = ["NumberOfEmployees >= 100", "NumberOfEmployees != 90", "NumberOfEmployees = null",
          "LastName < 'm'", "LastName != null AND NumberOfEmployees <= 250",
          "NOT (LastName = 'curie' OR NumberOfEmployees > 10)", "Title LIKE 'VP%'",
          "SystemModstamp >= 2026-03-09T00:00:00Z AND SystemModstamp < 2026-03-10T06:00:00Z"]
ORDER_ITEMS = ["NumberOfEmployees", "LastName", "SystemModstamp", "Title"]


def reference_order(rows: list[dict], query, ev: Evaluator) -> list[dict]:
    """ORDER BY as one comparison of two records, item by item (the definition)."""
    def cmp(a: dict, b: dict) -> int:
        for item in query.order_by:
            f = ev.field(item.field)
            x, y = ev.value(a, item.field), ev.value(b, item.field)
            if x is None or y is None:
                if x is None and y is None:
                    continue
                return (1 if x is None else -1) * (1 if item.nulls_last else -1)
            x, y = _comparable(f, x), _comparable(f, y)
            if x != y:
                return (1 if x > y else -1) * (-1 if item.descending else 1)
        return 0
    return sorted(rows, key=cmp_to_key(cmp))


lead_rows = st.lists(st.fixed_dictionaries({
    "Id": st.integers(1, 10**6).map(lambda n: to_18(f"00Q5g{n:010d}")),
    "LastName": st.one_of(st.none(), st.sampled_from(["Curie", "curie", "Lovelace", "ada", "Zed", "m"])),
    "NumberOfEmployees": st.one_of(st.none(), st.sampled_from([5, 90, 100, 250, 1000])),
    "Title": st.one_of(st.none(), st.sampled_from(["VP Sales", "vp ops", "CTO"])),
    "SystemModstamp": st.integers(0, 72).map(lambda h: NOW - timedelta(hours=h)),
}), max_size=25)
order_clauses = st.lists(st.tuples(st.sampled_from(ORDER_ITEMS), st.sampled_from(["", " ASC", " DESC"]),
                                   st.sampled_from(["", " NULLS FIRST", " NULLS LAST"])), min_size=1, max_size=3)


@settings(max_examples=150, deadline=None)
@given(rows=lead_rows, where=st.sampled_from(WHERES), order=order_clauses, first=st.none() | st.integers(0, 30))
def test_given_random_leads_when_filtered_and_ordered_then_same_as_record_by_record(rows, where, order, first):
    by = ", ".join(f"{name}{direction}{nulls}" for name, direction, nulls in order)
    query, obj, _ = compile_query(f"SELECT Id FROM Lead WHERE {where} ORDER BY {by}")
    ev = Evaluator(obj, NOW, lambda rid: None)
    test = ev.predicate(query.where)
    assert [test(r) for r in rows] == [ev.matches(r, query.where) for r in rows]
    expected = [r["Id"] for r in reference_order(rows, query, ev)]
    assert [r["Id"] for r in order_rows(rows, query, ev, first)] == (expected if first is None else expected[:first])
