"""What a person should do about each per-record refusal Salesforce returns. Data, not code:
one entry per status code; ``{fields}`` is filled with the fields Salesforce named (or found in
its message). A code without an entry still gets a generic next step."""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

REMEDIES: dict[str, str] = {
    "INVALID_FIELD": "the field {fields} does not exist on the object or is hidden from the integration user: "
                     "run `leadsync setup --apply`, or grant it field-level security, then `leadsync quarantine retry ID`",
    "INVALID_FIELD_FOR_INSERT_UPDATE": "the integration user may not edit {fields}: grant Edit on it in the "
                                       "permission set's field-level security, then retry",
    "REQUIRED_FIELD_MISSING": "Salesforce requires {fields}: fill it in HubSpot (or map a default in "
                              "mappings/salesforce.toml), then retry",
    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST": "{fields} holds a value its restricted picklist does not list: add the "
                                               "value in Setup or change the mapping, then retry",
    "STRING_TOO_LONG": "the value of {fields} is longer than the field allows: shorten it at the source or widen "
                       "the field, then retry",
    "FIELD_CUSTOM_VALIDATION_EXCEPTION": "a validation rule refused the record{on_fields}: read the rule's message "
                                         "(`leadsync logs --errors --detail`), fix the record or the rule, then retry",
    "DUPLICATE_VALUE": "another record already holds this value of {fields}: merge the duplicates in Salesforce, "
                       "then retry",
    "DUPLICATES_DETECTED": "a duplicate rule blocked the record: merge the duplicates or relax the rule, then retry",
    "ENTITY_IS_DELETED": "the record was deleted in Salesforce: restore it from the recycle bin, or drop the entry "
                         "(`leadsync quarantine drop ID`)",
    "INVALID_CROSS_REFERENCE_KEY": "a referenced record ({fields}) does not exist or is not visible: check the owner "
                                   "or account it points at, then retry",
    "CANNOT_UPDATE_CONVERTED_LEAD": "the Lead was converted: the person now lives on its Contact and Opportunity; "
                                    "drop the entry (`leadsync quarantine drop ID`)",
    "INSUFFICIENT_ACCESS_OR_READONLY": "the integration user may not edit this record: share it with the user or "
                                       "grant Edit on the object, then retry",
    "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY": "the integration user cannot see a record this one points at "
                                                     "({fields}): fix its sharing, then retry",
}
GENERIC = "fix the cause in Salesforce, then `leadsync quarantine retry ID` (or `drop ID` to give up)"
# Salesforce names the field in the message when it leaves ``fields`` empty.
_FIELD_IN_MESSAGE = re.compile(r"(?:No such column|field|Field)\s+'?([A-Za-z_][A-Za-z0-9_]*(?:__c)?)'?")


def refused_fields(error: Mapping[str, Any]) -> list[str]:
    fields = [str(f) for f in (error.get("fields") or []) if f]
    if fields:
        return fields
    found = _FIELD_IN_MESSAGE.search(str(error.get("message") or ""))
    return [found.group(1)] if found and found.group(1) not in ("name", "on", "of", "is") else []


def remedy(code: str, fields: Sequence[str]) -> str:
    named = ", ".join(fields) or "(not named by Salesforce)"
    text = REMEDIES.get(code, GENERIC)
    return text.format(fields=named, on_fields=f" on {named}" if fields else "")
