"""What Sugar will not check, leadsync checks before writing: required fields, dropdown
values and text lengths, read from the instance's own ``metadata`` and ``<Module>/enum``.

Sugar's API saves a record without its required fields, keeps any text in a dropdown field
and cuts long text silently, so a bad value would land in the CRM unnoticed. A write that
would do any of that is quarantined instead, with a reason naming the module and field.
"""

from __future__ import annotations

from typing import Any, Mapping

from connector.adapters.sugarcrm.client import SugarClient

TEXT_TYPES = frozenset({"varchar", "name", "phone", "email", "url", "text", "enum", "id", "relate"})


class SugarSchema:
    def __init__(self, client: SugarClient) -> None:
        self._client = client
        self._fields: dict[str, dict[str, dict[str, Any]]] = {}
        self._options: dict[tuple[str, str], frozenset[str]] = {}

    def fields(self, module: str) -> dict[str, dict[str, Any]]:
        if module not in self._fields:
            answer = self._client.call("GET", "metadata", params={"type_filter": "modules", "module_filter": module})
            self._fields[module] = ((answer or {}).get("modules", {}).get(module) or {}).get("fields", {})
        return self._fields[module]

    def options(self, module: str, field: str) -> frozenset[str]:
        key = (module, field)
        if key not in self._options:
            self._options[key] = frozenset((self._client.call("GET", f"{module}/enum/{field}") or {}).keys())
        return self._options[key]

    def problem(self, module: str, values: Mapping[str, Any], *, creating: bool) -> str | None:
        """Why Sugar would silently store this write wrongly, or None."""
        fields = self.fields(module)
        for name, value in values.items():
            meta = fields.get(name)
            if meta is None:
                return f"{module} has no field {name} (Sugar would ignore it)"
            if meta.get("required") and _blank(value) and name != "id":
                return f"{module}.{name} is required"
            if meta.get("type") == "enum" and meta.get("options") and not _blank(value):
                if str(value) not in self.options(module, name):
                    return f"{module}.{name}: {value!r} is not a value of the {meta['options']} dropdown"
            limit = meta.get("len")
            if isinstance(value, str) and isinstance(limit, int) and len(value) > limit:
                return f"{module}.{name} takes at most {limit} characters; Sugar would cut this {len(value)}-character value"
        if creating:
            for name, meta in fields.items():
                if meta.get("required") and name not in ("id",) and _blank(values.get(name)):
                    return f"{module}.{name} is required"
        return None


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())
