"""The sandbox answers a keyset search page from its modified-time order: the same page, in the
same order, with the same total as evaluating every record (ties, an index that lags, records
gone), so the speed-up changes nothing a connector could see."""

from __future__ import annotations

import random

from leadsync_sandbox.hubspot_order import ModifiedOrder
from leadsync_sandbox.hubspot_schema import default_properties
from leadsync_sandbox.hubspot_search import keyset_page, run_search


class Rec:
    def __init__(self, rid: str, ms: int) -> None:
        self.id, self.properties = rid, {"lastmodifieddate": str(ms), "email": f"{rid}@x.test"}


def test_given_random_portals_and_queries_then_the_ordered_page_is_the_full_evaluation():
    rng = random.Random(11)
    defs = default_properties()["contacts"]
    for _ in range(60):
        live = {str(i): Rec(str(i), rng.choice(range(1000, 1060))) for i in range(1, rng.randint(2, 400))}
        order = ModifiedOrder({"contacts": "lastmodifieddate"})
        order.load("contacts", live)
        for rid in rng.sample(sorted(live), k=min(20, len(live))):     # writes after loading
            live[rid] = Rec(rid, rng.choice(range(1000, 1080)))
            order.moved("contacts", rid, live[rid])
        for rid in rng.sample(sorted(live), k=min(5, len(live))):      # deleted
            del live[rid]
            order.moved("contacts", rid, None)
        stale = {rid: (Rec(rid, rng.choice(range(990, 1070))) if rng.random() < 0.8 else None)
                 for rid in rng.sample(sorted(live), k=min(8, len(live)))}
        visible = {rid: r for rid, r in live.items() if rid not in stale}
        visible.update({rid: r for rid, r in stale.items() if r is not None})
        for _ in range(5):
            low = rng.choice(range(995, 1075))
            filters = [{"propertyName": "lastmodifieddate", "operator": rng.choice(["GT", "GTE"]), "value": str(low)}]
            if rng.random() < 0.7:
                filters.append({"propertyName": "lastmodifieddate", "operator": rng.choice(["LT", "LTE"]),
                                "value": str(low + rng.randint(0, 40))})
            body = {"filterGroups": [{"filters": filters}], "limit": rng.choice([1, 3, 10, 200]),
                    "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]}
            fast = keyset_page(body, "lastmodifieddate", order, "contacts", live, stale, defs)
            full = run_search(body, ((rid, r.properties) for rid, r in visible.items()), defs)
            assert fast is not None
            assert (fast.ids, fast.total, fast.next_after) == (full.ids, full.total, full.next_after)


def test_given_a_query_the_order_cannot_answer_then_it_says_so():
    defs = default_properties()["contacts"]
    order = ModifiedOrder({"contacts": "lastmodifieddate"})
    body = {"filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": "0"},
                                          {"propertyName": "email", "operator": "NOT_HAS_PROPERTY"}]}],
            "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}], "limit": 5}
    assert keyset_page(body, "lastmodifieddate", order, "contacts", {}, {}, defs) is None
    body = {**body, "filterGroups": [{"filters": body["filterGroups"][0]["filters"][:1]}], "after": "5"}
    assert keyset_page(body, "lastmodifieddate", order, "contacts", {}, {}, defs) is None
