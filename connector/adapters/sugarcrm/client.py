"""A thin client for Sugar's REST API over the policy's requests session.

Every call goes through the one transport (pacing, retries, classification); a 401 signs in
again through ``SugarAuth.refresh``. Pulls page by keyset filters on (``date_modified``,
``id``), never by ``offset``: Sugar evaluates the query again for every page, so records
saved while a pull pages through (leadsync's own writes included) would shift and be skipped.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable, Iterator, Mapping, Sequence, TypeVar

from connector.adapters.sugarcrm.auth import SYSTEM, SugarAuth, SugarSettings
from connector.transport import HttpPolicy, HttpStatusError

T = TypeVar("T")
PAGE = 200                     # records per filter page; Sugar caps at max_record_fetch_size


def sugar_time(moment: datetime) -> str:
    """Sugar compares datetimes to the second, in ISO 8601 with an offset."""
    return moment.astimezone(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def parse_time(value: Any) -> datetime:
    if not value:
        return datetime.min.replace(tzinfo=timezone.utc)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(timezone.utc)


class SugarClient:
    def __init__(self, settings: SugarSettings, policy: HttpPolicy, auth: SugarAuth | None = None) -> None:
        self.settings, self.policy = settings, policy
        self.auth = auth or SugarAuth(settings, policy)
        self._session = policy.session(SYSTEM)

    def call(self, method: str, path: str, *, single_record: bool = False, **kwargs: Any) -> Any:
        """One request under the transport: paced, retried, classified."""
        return self.guarded(lambda: self.once(method, path, **kwargs), single_record=single_record)

    def guarded(self, attempt: Callable[[], T], *, single_record: bool = False) -> T:
        """Run ``attempt`` (made of ``once`` calls) under the transport as one unit: a retry
        runs all of it again, so a non-idempotent step can look before it acts."""
        return self.policy.call(SYSTEM, attempt, single_record=single_record, reauth=self.auth.refresh)

    def once(self, method: str, path: str, **kwargs: Any) -> Any:
        """One raw request: a non-2xx answer (Sugar's 301 included) raises for classification."""
        url = f"{self.settings.rest_url}/{path.lstrip('/')}"
        response = self._session.request(method, url, headers={**self.auth.headers(), "Accept": "application/json"},
                                         allow_redirects=False, **kwargs)
        if response.status_code >= 300:
            raise HttpStatusError(response.status_code, response.headers, response.text)
        return response.json() if response.content else None

    def bulk(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``POST bulk``: sub-requests run in order and answer each with its own status."""
        if not requests:
            return []
        answers = self.call("POST", "bulk", json={"requests": requests}) or []
        return list(answers) + [{"status": 0, "contents": {}}] * (len(requests) - len(answers))

    def filter_page(self, module: str, conditions: list[dict[str, Any]], fields: Sequence[str],
                    order_by: str = "date_modified:ASC,id:ASC", max_num: int = PAGE) -> list[dict[str, Any]]:
        body = {"filter": conditions, "fields": ",".join(fields), "order_by": order_by, "max_num": max_num}
        return (self.call("POST", f"{module}/filter", json=body) or {}).get("records", [])

    def changed(self, module: str, conditions: list[dict[str, Any]], fields: Sequence[str],
                since: datetime, until: datetime) -> Iterator[dict[str, Any]]:
        """Records modified in [since, until), oldest first, by keyset: each page starts after
        the last (date_modified, id) seen."""
        window = [{"date_modified": {"$gte": sugar_time(since)}}, {"date_modified": {"$lt": sugar_time(until)}}]
        after: tuple[str, str] | None = None
        while True:
            keyset = [] if after is None else [{"$or": [
                {"date_modified": {"$gt": after[0]}},
                {"$and": [{"date_modified": {"$equals": after[0]}}, {"id": {"$gt": after[1]}}]}]}]
            page = self.filter_page(module, conditions + window + keyset, fields)
            yield from page
            if len(page) < PAGE:
                return
            after = (page[-1]["date_modified"], page[-1]["id"])

    def by_values(self, module: str, field: str, values: Sequence[str], fields: Sequence[str],
                  extra: Sequence[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
        """Records whose ``field`` is one of ``values`` (in chunks of 100 values)."""
        found: list[dict[str, Any]] = []
        wanted = sorted({v for v in values if v})
        for start in range(0, len(wanted), 100):
            found += self.matching(module, [{field: {"$in": wanted[start:start + 100]}}, *extra], fields)
        return found

    def matching(self, module: str, conditions: Sequence[Mapping[str, Any]], fields: Sequence[str]) -> list[dict[str, Any]]:
        """Every record matching ``conditions``, paged by keyset on id."""
        found: list[dict[str, Any]] = []
        after = ""
        while True:
            keyset = [{"id": {"$gt": after}}] if after else []
            page = self.filter_page(module, [*conditions, *keyset], fields, order_by="id:ASC")
            found += page
            if len(page) < PAGE:
                return found
            after = page[-1]["id"]
