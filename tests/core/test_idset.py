"""The compact id set behaves as ``set[str]`` on every id, packed or not."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.core.idset import IdSet, _checksum

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def sf_id(core: str, long: bool = True) -> str:
    return core + _checksum(core) if long else core


def test_the_salesforce_suffix_is_salesforces_own() -> None:
    # Salesforce's documented example: 001D000000IqhSL is 001D000000IqhSLIAZ case-insensitively.
    assert sf_id("001D000000IqhSL") == "001D000000IqhSLIAZ"


hubspot_ids = st.integers(min_value=0, max_value=10**18 - 1).map(str)
salesforce_ids = st.builds(sf_id, st.text(BASE62, min_size=15, max_size=15), st.booleans())
other_ids = st.one_of(st.uuids().map(str), st.text(max_size=20), st.sampled_from(["007", "00", "0", ""]),
                      st.text(BASE62, min_size=18, max_size=18))   # (18 characters, not Salesforce's suffix)
ids = st.one_of(hubspot_ids, salesforce_ids, other_ids)


@settings(max_examples=300)
@given(st.lists(st.tuples(st.sampled_from(["add", "discard"]), ids), max_size=400), st.lists(ids, max_size=50))
def test_given_any_adds_and_discards_then_it_agrees_with_a_set(steps: list[tuple[str, str]],
                                                               probes: list[str]) -> None:
    compact, plain = IdSet(), set()
    for op, record_id in steps:
        getattr(compact, op)(record_id)
        getattr(plain, op)(record_id)
    assert len(compact) == len(plain)
    assert bool(compact) == bool(plain)
    assert sorted(compact) == sorted(plain)        # each id back as the string it was, once
    for record_id in probes + [r for _, r in steps]:
        assert (record_id in compact) == (record_id in plain)


def test_given_a_hundred_thousand_ids_then_the_table_holds_them_in_under_23_bytes_each() -> None:
    rng = random.Random(3)
    leads = [sf_id("00Q5g00000" + "".join(rng.choice(BASE62) for _ in range(5))) for _ in range(50_000)]
    contacts = [str(5_000_000 + 3 * i) for i in range(50_000)]
    held = IdSet(leads + contacts)
    assert len(held) == len(set(leads + contacts))
    assert all(i in held for i in leads[::97] + contacts[::89])
    assert sf_id("00Q5g00001AAAAA") not in held and "5000001" not in held
    assert held.table_bytes <= 23 * len(held)       # a set of strings: about 100 bytes an id
    held.difference_update(contacts)
    assert len(held) == len(set(leads)) and contacts[0] not in held and leads[0] in held


def test_given_more_than_256_salesforce_prefixes_then_the_rest_are_still_held() -> None:
    many = [sf_id(f"a{n:02d}" + "ABC000000001"[:12]) for n in range(10)]
    many += [sf_id(f"{BASE62[a]}{BASE62[b]}{BASE62[c]}000000000001") for a in range(7) for b in range(7)
             for c in range(7)]
    held = IdSet(many)
    assert sorted(held) == sorted(set(many))
    assert all(i in held for i in many)
    held.difference_update(many[::2])
    assert sorted(held) == sorted(set(many) - set(many[::2]))


def test_given_digits_that_are_not_ascii_then_they_are_kept_as_text():
    # str.isdigit() says yes to "²" and "١٢" (Arabic-Indic), int() says no to the first.
    held = IdSet(["²", "١٢", "12"])
    assert sorted(held) == sorted(["²", "١٢", "12"]) and "²" in held and "١٢" in held and "2" not in held
