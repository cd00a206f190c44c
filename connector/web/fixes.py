"""What a person does about a quarantined record or an error, by its code or kind.

Data, not code: a new vendor code is one row. Codes are the vendors' own (Salesforce's
``statusCode``, HubSpot's ``category``) or the transport's kinds (``bad_record`` …).
"""

from __future__ import annotations

from typing import Sequence

RETRY = "then `leadsync quarantine retry {ids}`: the next cycle writes it again"
AUTOMATIC = "leadsync retries it by itself on later cycles, with backoff"

FIXES: dict[str, str] = {
    "FIELD_CUSTOM_VALIDATION_EXCEPTION": "A validation rule in the CRM rejected the values: ask the CRM admin whether "
                                         "the rule should allow leadsync's values, or correct the person in HubSpot",
    "REQUIRED_FIELD_MISSING": "A field the CRM requires is empty: fill it in on the HubSpot contact, or map a default "
                              "in mappings/salesforce.toml",
    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST": "A value is not in the CRM picklist: add the value to the picklist, or "
                                               "map it in the mappings file",
    "INVALID_EMAIL_ADDRESS": "The email address is not valid in the CRM: correct it on the HubSpot contact",
    "STRING_TOO_LONG": "A value is longer than the CRM field allows: shorten it at the source or widen the field",
    "DUPLICATE_VALUE": "Another CRM record already holds this unique value: merge the duplicates in the CRM",
    "DUPLICATES_DETECTED": "A CRM duplicate rule blocked the record: merge the duplicates or relax the rule",
    "ENTITY_IS_DELETED": "The CRM record was deleted: restore it from the recycle bin, or drop this entry",
    "UNABLE_TO_LOCK_ROW": "The CRM record was locked by another process (another integration, a bulk job)",
    "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY": "The integration user cannot see the owner or account: grant access",
    "INVALID_CROSS_REFERENCE_KEY": "A referenced owner or account no longer exists: fix the routing in the mappings",
    "VALIDATION_ERROR": "HubSpot rejected a property value: check the property's type and options in HubSpot",
    "PROPERTY_DOESNT_EXIST": "A HubSpot property is missing: run `leadsync setup --apply`",
    "bad_record": "The system rejected this record's values: correct the record at its source",
    "not_found": "The record no longer exists in that system: drop this entry, or re-link the person with "
                 "`leadsync resync --account`",
    "conflict": "The record changed in the meantime",
    "quota": "The daily API budget ran out: the next cycle resumes from the last committed batch; raise "
             "max_daily_share or the org's allocation if this repeats",
    "fatal": "The cycle stopped on this error: see `leadsync logs --errors --detail`, fix, and the next cycle retries",
}


def fix_for(code: str | None, *, transient: bool = False, ids: Sequence[int] = ()) -> str:
    """The plain-language fix, with how to retry once done (``ids``: the entries it is about)."""
    base = FIXES.get(code or "")
    if transient:
        return (base + ": " if base else "") + AUTOMATIC
    if not base:
        base = "Correct the record at its source (the reason says what the system refused)"
    return base + ", " + RETRY.format(ids=" ".join(map(str, ids)) if ids else "ID")


def error_fix(kind: str) -> str:
    return FIXES.get(kind, "See `leadsync logs --errors --detail` for the internal detail")

