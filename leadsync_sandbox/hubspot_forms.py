"""Marketing forms v3 (``/marketing/v3/forms/``): the portal's forms, by GUID and name.

A form submission event carries the form's GUID; the name marketers know it by ("Request a
demo") lives on the form definition. A rule written against names has to be resolved to GUIDs
through this API. List: ``limit`` default 20, at most 100 here, ``after`` an opaque cursor,
``archived`` to see archived forms only. Get by id: 404 with HubSpot's error body when unknown.
"""

from __future__ import annotations

from typing import Any

import flask

from leadsync_sandbox.hubspot_http import ApiError, decode_cursor, encode_cursor, int_param
from leadsync_sandbox.hubspot_state import HubSpotState


def register_form_routes(app: flask.Flask, state: HubSpotState) -> None:
    @app.get("/marketing/v3/forms/", endpoint="forms")
    @app.get("/marketing/v3/forms", endpoint="forms_no_slash")
    def forms() -> Any:
        limit = int_param("limit", 20, high=100)
        offset = decode_cursor(flask.request.args.get("after"))
        archived = flask.request.args.get("archived", "false").lower() == "true"
        with state.lock:
            matching = [f for f in state.forms if bool(f.get("archived")) == archived]
        page = matching[offset:offset + limit]
        body: dict[str, Any] = {"results": [form_json(f) for f in page]}
        if offset + limit < len(matching):
            cursor = encode_cursor(offset + limit)
            body["paging"] = {"next": {"after": cursor, "link": f"{flask.request.base_url}?after={cursor}"}}
        return body

    @app.get("/marketing/v3/forms/<form_id>", endpoint="form")
    def form(form_id: str) -> Any:
        with state.lock:
            found = next((f for f in state.forms if f["id"] == form_id), None)
        if found is None:
            raise ApiError(404, f"Form {form_id} does not exist", "OBJECT_NOT_FOUND")
        return form_json(found)


def form_json(form: dict[str, Any]) -> dict[str, Any]:
    """A form definition in the v3 shape (the fields a connector reads, and their neighbours)."""
    return {
        "id": form["id"], "name": form["name"], "formType": "hubspot",
        "createdAt": form["createdAt"], "updatedAt": form.get("updatedAt", form["createdAt"]),
        "archived": bool(form.get("archived")),
        "fieldGroups": [{"groupType": "default_group", "richTextType": "text", "fields": [
            {"objectTypeId": "0-1", "name": name, "label": label, "required": name == "email", "hidden": False,
             "fieldType": "email" if name == "email" else "single_line_text"}
            for name, label in form.get("fields", (("email", "Email"),))]}],
        "configuration": {"language": "en", "cloneable": True, "editable": True, "archivable": True,
                          "postSubmitAction": {"type": "thank_you", "value": ""}, "recaptchaEnabled": False,
                          "notifyContactOwner": False, "notifyRecipients": [], "createNewContactForNewEmail": False,
                          "prePopulateKnownValues": True, "allowLinkToResetKnownValues": False,
                          "lifecycleStages": []},
        "displayOptions": {"renderRawHtml": False, "theme": "default_style", "submitButtonText": "Submit",
                           "style": {}, "cssClass": ""},
        "legalConsentOptions": {"type": "none"},
    }
