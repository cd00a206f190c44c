"""The Tooling API's CustomField resource: how ``leadsync setup --apply`` creates fields.

``POST /services/data/vNN.N/tooling/sobjects/CustomField/`` with
``{"FullName": "Lead.HubSpot_Contact_Id__c", "Metadata": {"label": …, "type": "Text",
"length": 64, "externalId": true, "unique": true}}`` answers 201
``{"id": "00N…", "success": true, "errors": [], "warnings": [], "infos": []}``; a refusal is
400 ``[{"message", "errorCode", "fields"}]`` as elsewhere in the REST API. Each type demands
what the Metadata API demands (a Text length, a Number precision and scale, a Checkbox
default, a Picklist value set), and a name already taken is DUPLICATE_DEVELOPER_NAME.

Not emulated, and kinder than a real org: a field created this way has no field-level security
for any profile there until an admin grants it; here the integration user sees it at once.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

import flask

from leadsync_sandbox.salesforce_rest import DATA, json_response, request_json, sf_error
from leadsync_sandbox.salesforce_schema import Field, sobject

_NAME = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)\.([A-Za-z][A-Za-z0-9_]*__c)$")


class MetadataError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def register_tooling(app: flask.Flask, state: Any) -> None:
    @app.post(f"{DATA}/tooling/sobjects/CustomField/", strict_slashes=False)
    def create_custom_field(version: str) -> flask.Response:
        if not state.may_customize():
            return sf_error(403, "INSUFFICIENT_ACCESS",
                            "insufficient access rights: the user needs Customize Application")
        body = request_json()
        try:
            sobject_name, created = custom_field(body if isinstance(body, dict) else {})
        except MetadataError as exc:
            return sf_error(400, exc.code, exc.message)
        if sobject(sobject_name).field(created.name) is not None:  # type: ignore[union-attr]
            return sf_error(400, "DUPLICATE_DEVELOPER_NAME",
                            f"There is already a field named {created.name} on {sobject_name}.")
        state.add_custom_field(sobject(sobject_name).name, created)  # type: ignore[union-attr]
        return json_response({"id": "00N" + secrets.token_hex(6).upper()[:12] + "AAA", "success": True,
                              "errors": [], "warnings": [], "infos": []}, 201)


def custom_field(body: dict[str, Any]) -> tuple[str, Field]:
    """(object, field) from a CustomField create body, or MetadataError as the org refuses it."""
    match = _NAME.match(str(body.get("FullName", "")))
    if match is None:
        raise MetadataError("INVALID_FIELD", "FullName must be Object.Field__c, e.g. Lead.My_Field__c")
    sobject_name, name = match.groups()
    if sobject(sobject_name) is None:
        raise MetadataError("INVALID_TYPE", f"sObject type '{sobject_name}' is not supported.")
    meta = body.get("Metadata")
    if not isinstance(meta, dict) or not meta.get("label"):
        raise MetadataError("REQUIRED_FIELD_MISSING", "Required field is missing: label")
    kind = meta.get("type")
    build = _TYPES.get(str(kind))
    if build is None:
        raise MetadataError("FIELD_INTEGRITY_EXCEPTION", f"Invalid type: {kind}")
    return sobject_name, build(name, meta)


def _need(meta: dict[str, Any], key: str, kind: str) -> Any:
    if meta.get(key) in (None, ""):
        raise MetadataError("FIELD_INTEGRITY_EXCEPTION", f"Must specify '{key}' for a CustomField of type {kind}")
    return meta[key]


def _text(name: str, meta: dict[str, Any]) -> Field:
    length = int(_need(meta, "length", "Text"))
    if not 1 <= length <= 255:
        raise MetadataError("FIELD_INTEGRITY_EXCEPTION", "Length must be between 1 and 255")
    external = bool(meta.get("externalId"))
    return Field(name, "string", length, label=str(meta["label"]), external_id=external,
                 unique=bool(meta.get("unique")), custom=True)


def _number(name: str, meta: dict[str, Any]) -> Field:
    precision, scale = int(_need(meta, "precision", "Number")), int(_need(meta, "scale", "Number"))
    if not 1 <= precision <= 18 or not 0 <= scale <= precision:
        raise MetadataError("FIELD_INTEGRITY_EXCEPTION", "Precision must be 1-18 and scale at most the precision")
    return Field(name, "double", label=str(meta["label"]), custom=True)


def _checkbox(name: str, meta: dict[str, Any]) -> Field:
    default = str(_need(meta, "defaultValue", "Checkbox")).lower()
    if default not in ("true", "false"):
        raise MetadataError("FIELD_INTEGRITY_EXCEPTION", "Checkbox default must be true or false")
    return Field(name, "boolean", label=str(meta["label"]), default=default == "true", custom=True)


def _datetime(name: str, meta: dict[str, Any]) -> Field:
    return Field(name, "datetime", label=str(meta["label"]), custom=True)


def _picklist(name: str, meta: dict[str, Any]) -> Field:
    values = ((_need(meta, "valueSet", "Picklist").get("valueSetDefinition") or {}).get("value") or [])
    names = tuple(str(v.get("fullName")) for v in values if isinstance(v, dict) and v.get("fullName"))
    if not names:
        raise MetadataError("FIELD_INTEGRITY_EXCEPTION", "A picklist needs at least one value")
    restricted = bool(meta["valueSet"].get("restricted"))
    return Field(name, "picklist", 255, label=str(meta["label"]), picklist=names, restricted=restricted, custom=True)


_TYPES = {"Text": _text, "Number": _number, "Checkbox": _checkbox, "DateTime": _datetime, "Picklist": _picklist}
