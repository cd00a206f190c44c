"""singer tap-hubspot's contacts stream against the sandbox: the read-only peer of bench/sync.py.

Runs inside the tap's own virtualenv (bench/.peer-venv; tap-hubspot pins old versions of
its dependencies), never imports leadsync:

    .peer-venv/bin/python bench/peer_tap.py discover BASE_URL TOKEN CATALOG
    .peer-venv/bin/python bench/peer_tap.py sync BASE_URL TOKEN CATALOG RESULT

tap-hubspot hard-codes https://api.hubapi.com; this points its BASE_URL at the sandbox and its
session at the sandbox's CA (REQUESTS_CA_BUNDLE), and changes nothing else. ``discover`` writes
the catalog a user would keep after ``--discover``, with the contacts stream and every one
of its fields selected; ``sync`` runs the tap's own ``do_sync`` on it, its Singer messages
going to stdout as usual, and writes RESULT: the records it emitted.
"""

from __future__ import annotations

import io
import json
import os
import sys
from typing import Any

import tap_hubspot as tap


class CountingStream(io.TextIOBase):
    """stdout for the tap's messages: passed on unchanged, RECORD messages counted."""

    def __init__(self, target: Any) -> None:
        self.target = target
        self.records = 0

    def write(self, text: str) -> int:
        if text.startswith('{"type": "RECORD"'):      # singer writes one message per call
            self.records += 1
        return self.target.write(text)

    def flush(self) -> None:
        self.target.flush()


def configure(base_url: str, token: str) -> None:
    tap.BASE_URL = base_url.rstrip("/")
    # Its GETs go through SESSION.send, which ignores REQUESTS_CA_BUNDLE: trust the sandbox's CA there.
    tap.SESSION.verify = os.environ.get("REQUESTS_CA_BUNDLE", True)
    tap.CONFIG.update({"api_key": token, "start_date": "2000-01-01T00:00:00Z", "select_fields_by_default": True})


def contacts_catalog() -> dict[str, Any]:
    stream = next(s for s in tap.STREAMS if s.tap_stream_id == "contacts")
    schema, mdata = tap.load_discovered_schema(stream)
    for entry in mdata:
        entry["metadata"]["selected"] = True
    return {"streams": [{"stream": "contacts", "tap_stream_id": "contacts", "schema": schema, "metadata": mdata}]}


def main(argv: list[str]) -> int:
    command, base_url, token, catalog_path = argv[:4]
    configure(base_url, token)
    if command == "discover":
        with open(catalog_path, "w", encoding="utf-8") as out:
            json.dump(contacts_catalog(), out)
        return 0
    with open(catalog_path, encoding="utf-8") as source:
        catalog = json.load(source)
    counter = CountingStream(sys.stdout)
    sys.stdout = counter
    try:
        tap.do_sync({}, catalog)
    finally:
        sys.stdout = counter.target
    with open(argv[4], "w", encoding="utf-8") as out:
        json.dump({"records": counter.records, "version": _version()}, out)
    return 0


def _version() -> str:
    from importlib.metadata import version
    return version("tap-hubspot")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
