"""The sandbox portal's copy of the shipped definition, with its forms named by GUID.

The shipped ``qualification.toml`` names forms by placeholders (``<GUID of your demo request
form>``) that match nothing until a team puts its own form GUIDs in. The sandbox does what such
a team does after ``leadsync setup`` lists its forms: it writes a copy with the placeholders
replaced by the GUIDs of the sandbox portal's forms.
"""

from __future__ import annotations

from pathlib import Path

from leadsync_sandbox.seed_catalog import FORM_GUIDS


def placeholder(slug: str) -> str:
    return f"<GUID of your {slug.replace('-', ' ')} form>"


def definition_for_portal(text: str) -> str:
    for slug, guid in FORM_GUIDS.items():
        text = text.replace(placeholder(slug), guid)
    return text


def write_portal_definition(source: Path, target: Path) -> Path:
    target.write_text(definition_for_portal(source.read_text(encoding="utf-8")), encoding="utf-8")
    return target
