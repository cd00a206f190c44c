"""What people did and who they belong to: events v3, marketing email events, associations v4.

- ``GET /events/v3/events/``: filter by objectType/objectId, eventType, occurredAfter /
  occurredBefore (ISO-8601); ``sort=occurredAt`` or ``-occurredAt`` (default newest first);
  ``limit`` default 10, at most 100 (the real maximum is not documented; a small page keeps
  paging honest); ``paging.next.after`` is an opaque cursor.
- ``GET /email/public/v1/events``: newest first; ``limit`` up to 1000; ``offset`` +
  ``hasMore`` paging; times in epoch milliseconds.
- associations v4 batch read answers 207 for ids without associations, as the real API does.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import flask

from leadsync_sandbox.hubspot_http import (
    ApiError, batch_inputs, decode_cursor, encode_cursor, int_param, json_body, object_type, time_param,
)
from leadsync_sandbox.hubspot_state import PORTAL_ID, EmailEventRecord, Event, HubSpotState
from leadsync_sandbox.seed import iso

EVENT_TYPES = ("e_visited_page", "e_submitted_form", "e_form_submission_v2", "e_booked_meeting",
               "e_opened_email", "e_clicked_email_link", "pe_webinar_attended")
EMAIL_EVENT_TYPES = frozenset({"SENT", "DELIVERED", "OPEN", "CLICK", "STATUSCHANGE", "BOUNCE",
                               "DROPPED", "PROCESSED", "DEFERRED", "SPAMREPORT", "FORWARD", "PRINT"})
# (from, to) → (primary typeId, unlabeled typeId), HubSpot-defined.
ASSOCIATION_TYPES = {("contacts", "companies"): (1, 279), ("companies", "contacts"): (2, 280)}


def register_activity_routes(app: flask.Flask, state: HubSpotState) -> None:
    _register_events(app, state)
    _register_email_events(app, state)
    _register_associations(app, state)


# ---- events v3 --------------------------------------------------------------------------

def _register_events(app: flask.Flask, state: HubSpotState) -> None:
    @app.get("/events/v3/events/", endpoint="events")
    @app.get("/events/v3/events", endpoint="events_no_slash")
    def events() -> Any:
        args = flask.request.args
        limit = int_param("limit", 10, high=100)
        offset = decode_cursor(args.get("after"))
        wanted = _event_filter()
        descending = args.get("sort", "-occurredAt").startswith("-")
        # One query's pages read the same evaluation while no event changes (events are only
        # added, moved by a merge or erased): page k need not filter the portal's events again.
        query = (tuple(sorted((k, v) for k, v in args.items() if k not in ("after", "limit"))), descending)
        with state.lock:
            cached = _EVALUATED.get(id(state))
            if cached is not None and cached[0] == (query, state.events_version):
                matching = cached[1]
            else:
                matching = [e for e in state.events if wanted(e)]
                matching.sort(key=lambda e: (e.occurred_at, e.id), reverse=descending)
                _EVALUATED[id(state)] = ((query, state.events_version), matching)
        page = matching[offset:offset + limit]
        body: dict[str, Any] = {"results": [_event_json(e) for e in page]}
        if offset + limit < len(matching):
            cursor = encode_cursor(offset + limit)
            link = f"{flask.request.base_url}?{_query_with(after=cursor)}"
            body["paging"] = {"next": {"after": cursor, "link": link}}
        return body

    @app.get("/events/v3/events/event-types", endpoint="event_types")
    def event_types() -> Any:
        return {"eventTypes": list(EVENT_TYPES)}


_EVALUATED: dict[int, tuple[Any, list[Any]]] = {}   # portal → (its last events query, the answer)


def _event_filter() -> Any:
    args = flask.request.args
    kind = args.get("objectType")
    if kind is not None and object_type(kind) != "contacts":
        return lambda _e: False  # the sandbox only records contact events
    object_id = args.get("objectId")
    event_type = args.get("eventType")
    after, before = time_param("occurredAfter"), time_param("occurredBefore")
    if object_id and not kind:
        raise ApiError(400, "objectType is required when objectId is given.", "VALIDATION_ERROR")

    def wanted(event: Event) -> bool:
        return ((object_id is None or event.object_id == object_id)
                and (event_type is None or event.event_type == event_type)
                and (after is None or event.occurred_at >= after)
                and (before is None or event.occurred_at < before))
    return wanted


def _event_json(event: Event) -> dict[str, Any]:
    return {"objectType": "CONTACT", "objectId": event.object_id, "eventType": event.event_type,
            "occurredAt": iso(event.occurred_at), "id": event.id, "properties": dict(event.properties)}


def _query_with(**changes: str) -> str:
    from urllib.parse import urlencode
    params = {k: v for k, v in flask.request.args.items()}
    params.update(changes)
    return urlencode(params)


# ---- marketing email events (v1) ---------------------------------------------------------

def _register_email_events(app: flask.Flask, state: HubSpotState) -> None:
    @app.get("/email/public/v1/events", endpoint="email_events")
    def email_events() -> Any:
        args = flask.request.args
        limit = int_param("limit", 1000, high=1000)
        offset = decode_cursor(args.get("offset"))
        kind = args.get("eventType")
        if kind is not None and kind not in EMAIL_EVENT_TYPES:
            raise ApiError(400, f"Unknown eventType {kind}", "VALIDATION_ERROR")
        start, end = time_param("startTimestamp"), time_param("endTimestamp")
        recipient = (args.get("recipient") or "").lower() or None
        campaign = args.get("campaignId")
        with state.lock:
            matching = [e for e in state.email_events
                        if (recipient is None or e.recipient.lower() == recipient)
                        and (kind is None or e.type == kind)
                        and (campaign is None or str(e.campaign_id) == campaign)
                        and (start is None or e.created >= start)
                        and (end is None or e.created <= end)]
        matching.sort(key=lambda e: (e.created, e.id), reverse=True)
        page = matching[offset:offset + limit]
        more = offset + limit < len(matching)
        return {"hasMore": more, "offset": encode_cursor(offset + len(page)),
                "events": [_email_event_json(e) for e in page]}


def _email_event_json(event: EmailEventRecord) -> dict[str, Any]:
    created = _millis(event.created)
    body: dict[str, Any] = {
        "appId": 113, "appName": "Batch", "emailCampaignId": event.campaign_id,
        "emailCampaignGroupId": event.campaign_id // 10, "portalId": PORTAL_ID,
        "created": created, "id": event.id, "recipient": event.recipient, "type": event.type,
        "sentBy": {"id": event.id, "created": created},
    }
    if event.type in ("OPEN", "CLICK"):
        body.update({"browser": {"name": "Chrome", "family": "Chrome"}, "location": {"country": "United States"}})
    body.update(event.extra)
    return body


def _millis(moment: datetime) -> int:
    return int(moment.astimezone(timezone.utc).timestamp() * 1000)


# ---- associations v4 ---------------------------------------------------------------------

def _register_associations(app: flask.Flask, state: HubSpotState) -> None:
    @app.post("/crm/v4/associations/<from_kind>/<to_kind>/batch/read", endpoint="associations_batch_read")
    def associations_batch_read(from_kind: str, to_kind: str) -> Any:
        pair = (object_type(from_kind), object_type(to_kind))
        results, lonely = [], []
        for item in batch_inputs(json_body(), limit=1000):
            source = str(item.get("id", ""))
            targets = _associated(state, pair, source)
            if targets:
                results.append({"from": {"id": source}, "to": [_to_json(pair, t) for t in targets]})
            else:
                lonely.append(source)
        now = iso(datetime.now(timezone.utc))
        body: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if lonely:
            body["numErrors"] = len(lonely)
            body["errors"] = [{"status": "error", "category": "OBJECT_NOT_FOUND",
                               "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                               "message": f"No {pair[1][:-1] if pair[1] == 'contacts' else 'company'} "
                                          f"is associated with {pair[0][:-1] if pair[0] == 'contacts' else 'company'} {i}.",
                               "context": {"fromObjectId": [i]}} for i in lonely]
        body.update({"startedAt": now, "completedAt": now})
        return body, 207 if lonely else 200

    @app.get("/crm/v4/objects/<from_kind>/<object_id>/associations/<to_kind>", endpoint="associations_of")
    def associations_of(from_kind: str, object_id: str, to_kind: str) -> Any:
        pair = (object_type(from_kind), object_type(to_kind))
        limit = int_param("limit", 500, high=500)
        targets = _associated(state, pair, object_id)
        return {"results": [_to_json(pair, t) for t in targets[:limit]]}


def _associated(state: HubSpotState, pair: tuple[str, str], source: str) -> list[str]:
    with state.lock:
        if pair == ("contacts", "companies"):
            record = state.resolve("contacts", source)
            company = state.primary_company.get(record.id) if record else None
            return [company] if company else []
        if pair == ("companies", "contacts"):
            return sorted((c for c, co in state.primary_company.items() if co == source), key=int)
    return []


def _to_json(pair: tuple[str, str], target: str) -> dict[str, Any]:
    primary, unlabeled = ASSOCIATION_TYPES.get(pair, (0, 0))
    types = [{"category": "HUBSPOT_DEFINED", "typeId": unlabeled, "label": None}]
    if pair == ("contacts", "companies"):
        types.insert(0, {"category": "HUBSPOT_DEFINED", "typeId": primary, "label": "Primary"})
    return {"toObjectId": int(target), "associationTypes": types}
