"""Every ``--json`` output has the shape docs/json-shapes.md documents: the same keys at every
level, each value of a documented type. A key added or renamed without the docs fails here."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests import json_shape_samples as samples
from tests.cli.test_logs_view import fill as fill_logs
from tests.cli.test_reports import rt  # noqa: F401 (fixture)

DOC = Path(__file__).resolve().parents[2] / "docs" / "json-shapes.md"
BLOCK = re.compile(r"```json shape=\"([^\"]+)\"\n(.*?)\n```", re.S)


def documented() -> dict[str, Any]:
    return {name: json.loads(body) for name, body in BLOCK.findall(DOC.read_text(encoding="utf-8"))}


def _is(value: Any, kind: str) -> bool:
    checks = {"str": lambda v: isinstance(v, str), "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
              "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
              "bool": lambda v: isinstance(v, bool), "null": lambda v: v is None, "any": lambda v: True,
              "object": lambda v: isinstance(v, dict), "list": lambda v: isinstance(v, list),
              "datetime": lambda v: isinstance(v, str) and bool(datetime.fromisoformat(v))}
    return any(checks[k](value) for k in kind.split("|"))


def mismatches(value: Any, shape: Any, path: str = "$") -> list[str]:
    """Where ``value`` departs from ``shape`` (a skeleton: dicts of keys, one-item lists, type names)."""
    if isinstance(shape, str):   # any scalar may be null (documented)
        return [] if value is None or _is(value, shape) else [f"{path}: {value!r} is not {shape}"]
    if isinstance(shape, list):
        if value is None:
            return []
        if not isinstance(value, list):
            return [f"{path}: expected a list, got {value!r}"]
        return [m for item in value for m in mismatches(item, shape[0], f"{path}[]")] if shape else []
    if shape is None:
        return [] if value is None else [f"{path}: expected null"]
    if value is None and shape.get("$nullable"):
        return []
    if not isinstance(value, dict):
        return [f"{path}: expected an object, got {value!r}"]
    keys = set(shape) - {"$nullable", "$any_keys"}
    if shape.get("$any_keys"):   # a map: every value has the one documented shape
        return [m for k, v in value.items() for m in mismatches(v, shape["$any_keys"], f"{path}.{k}")]
    found = [f"{path}: undocumented key {k!r}" for k in sorted(set(value) - keys)]
    found += [f"{path}: documented key {k!r} missing" for k in sorted(keys - set(value))]
    return found + [m for k in sorted(keys & set(value)) for m in mismatches(value[k], shape[k], f"{path}.{k}")]


@pytest.fixture
def actual(rt, tmp_path):  # noqa: F811
    from connector.state.store import Store
    logs_store = Store(f"sqlite:///{tmp_path}/logs.db")
    fill_logs(logs_store)
    config = tmp_path / "c.toml"
    config.write_text(f'[state]\nurl = "{rt.config.state_url}"\n')
    found = {**samples.reports(rt), **samples.logs(logs_store), **samples.sync_summary(), **samples.simulation(),
             **samples.explain(rt), **samples.resync(), **samples.quarantine(rt),
             **samples.quarantine_actions(str(config))}
    logs_store.close()
    return found


def test_given_every_json_output_then_it_matches_its_documented_shape(actual):
    shapes = documented()
    assert set(actual) <= set(shapes), f"undocumented outputs: {sorted(set(actual) - set(shapes))}"
    problems = {name: mismatches(doc, shapes[name]) for name, doc in actual.items()}
    assert {name: p for name, p in problems.items() if p} == {}


def test_given_the_shape_checker_when_a_key_is_added_then_it_is_reported():
    assert mismatches({"a": 1, "b": "x"}, {"a": "int"}) == ["$: undocumented key 'b'"]
    assert mismatches({"a": "x"}, {"a": "int"}) == ["$.a: 'x' is not int"]
    assert mismatches({"a": [{"x": 1}]}, {"a": [{"x": "int", "y": "str"}]}) == ["$.a[]: documented key 'y' missing"]
