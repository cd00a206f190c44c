"""The built-in sandbox: local HubSpot and Salesforce emulators with sample data.

``Sandbox`` (server.py) runs both over loopback HTTPS; ``faults.py`` and ``tls.py`` are the
shared plumbing; ``seed.py`` builds the deterministic sample data of a fresh portal,
``seed_brownfield.py`` one with two years of someone else's use (and ``brownfield_manifest.py``
its ground truth); ``second_writer.py`` edits contacts while a sync pages. Imported lazily so the
plumbing modules stay cheap to import on their own.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Sandbox"]


def __getattr__(name: str) -> Any:
    if name == "Sandbox":
        from leadsync_sandbox.server import Sandbox
        return Sandbox
    raise AttributeError(name)
