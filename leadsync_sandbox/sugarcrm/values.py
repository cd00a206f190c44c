"""Sugar's value handling: what a save does to a posted value, and how values are rendered.

Saves never refuse a value: text is cut to the field's length, numbers that do not parse
become empty, enums keep whatever was posted. Datetimes have whole seconds.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from leadsync_sandbox.sugarcrm.schema import Field, Module

DATETIME_TYPES = frozenset({"datetime", "datetimecombo"})
TEXT_TYPES = frozenset({"varchar", "text", "name", "id", "relate", "enum", "email", "phone", "url",
                        "parent_type"})


class ApiError(Exception):
    """An error answer: HTTP status, Sugar's ``error`` label and its ``error_message``."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_message": self.message}


def invalid(message: str) -> ApiError:
    return ApiError(422, "invalid_parameter", message)


def missing(message: str) -> ApiError:
    return ApiError(422, "missing_parameter", message)


def not_found(message: str = "Could not find record") -> ApiError:
    return ApiError(404, "not_found", message)


def second(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc).replace(microsecond=0)


def parse_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif value in (None, ""):
        return None
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return second(moment)


def parse_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip()[:10]) if value not in (None, "") else None
    except ValueError:
        return None


def coerce(f: Field, value: Any) -> Any:
    """What the database keeps for a posted value."""
    if value is None:
        return None
    if f.type in DATETIME_TYPES:
        return parse_datetime(value)
    if f.type == "date":
        return parse_date(value)
    if f.type == "bool":
        return value is True or str(value).strip().lower() in ("1", "true", "on", "yes")
    if f.type == "int":
        try:
            return int(float(value)) if str(value).strip() else None
        except (TypeError, ValueError):
            return None
    if f.type == "currency":
        try:
            return float(value) if str(value).strip() else None
        except (TypeError, ValueError):
            return None
    text = value if isinstance(value, str) else str(value)
    return text[:f.len] if f.len else text


def render(f: Field | None, value: Any) -> Any:
    if value is None:
        return "" if f is not None and f.type in TEXT_TYPES else None
    if isinstance(value, datetime):
        return second(value).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    if isinstance(value, date):
        return value.isoformat()
    if f is not None and f.type == "currency":
        return f"{value:.6f}"
    return value


def render_record(module: Module, record: dict[str, Any], fields: list[str] | None = None) -> dict[str, Any]:
    if record.get("deleted"):
        return {"id": record["id"], "deleted": True, "_module": module.name}
    names = [n for n in module.fields if n != "email"] if fields is None else \
        [n for n in dict.fromkeys(["id", "date_modified", *fields]) if n in module.fields]
    out = {n: render(module.fields[n], record.get(n)) for n in names if n != "email"}
    if "email" in module.fields and (fields is None or "email" in fields):
        address = record.get("email1")
        out["email"] = [{"email_address": address, "primary_address": True, "reply_to_address": False,
                         "invalid_email": False, "opt_out": False}] if address else []
    out["_acl"] = {"fields": {}}
    out["_module"] = module.name
    return out
