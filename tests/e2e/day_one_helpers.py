"""Shared pieces of the day-one tests: a brownfield sandbox, a second writer, the counts."""

from __future__ import annotations

import random
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from connector.app.runtime import Runtime
from leadsync_sandbox.server import Sandbox


def brownfield(directory: Path, people: int, **kwargs: Any) -> Sandbox:
    sandbox = Sandbox(directory, people=people, portal="brownfield", **kwargs)
    sandbox.start()
    return sandbox


def runtime_for(sandbox: Sandbox, tmp_path: Path, monkeypatch: Any) -> Runtime:
    # The sandbox's CA alone: loading the system's whole bundle on every loopback connection
    # is most of a cycle's time.
    for key, value in {**sandbox.env(), "REQUESTS_CA_BUNDLE": str(sandbox.certs.ca_path)}.items():
        monkeypatch.setenv(key, value)
    config = sandbox.write_config(tmp_path / "leadsync.toml", f"sqlite:///{tmp_path / 'state.db'}")
    return Runtime.from_config_path(str(config))


@contextmanager
def second_writer(hubspot: Any, per_page: int = 25, seed: int = 3, every: float = 0.25) -> Iterator[list[str]]:
    """Another integration editing contacts while leadsync reads: after every contacts search
    page (half of them contacts the page just returned), and every ``every`` seconds besides
    (the nightly pass reads by the list API, which no search hook sees), ``per_page`` contacts get
    their job title written back unchanged. That moves them in ``lastmodifieddate`` exactly as
    a real write does. Yields the ids it edited."""
    rng = random.Random(seed)
    edited: list[str] = []
    lock = threading.Lock()

    def edit(ids: list[str]) -> None:
        records = hubspot.objects["contacts"]
        for contact_id in ids:
            record = records.get(contact_id)
            if record is not None:
                hubspot.apply("contacts", record, {"jobtitle": record.properties.get("jobtitle") or ""})
                edited.append(contact_id)

    def after_page(object_type: str, page_ids: list[str]) -> None:
        if object_type != "contacts":
            return
        with lock:
            picks = rng.sample(page_ids, min(len(page_ids), per_page // 2))
            with hubspot.lock:
                everyone = sorted(hubspot.objects["contacts"])
            edit(picks + rng.sample(everyone, min(len(everyone), per_page - len(picks))))

    stop = threading.Event()

    def on_a_timer() -> None:
        while not stop.wait(every):
            with lock:
                with hubspot.lock:
                    everyone = sorted(hubspot.objects["contacts"])
                edit(rng.sample(everyone, min(len(everyone), per_page)))
    thread = threading.Thread(target=on_a_timer, daemon=True)
    hubspot.search_hooks.append(after_page)
    thread.start()
    try:
        yield edited
    finally:
        stop.set()
        thread.join()
        hubspot.search_hooks.remove(after_page)


def unqualified(sandbox: Sandbox, rt: Runtime) -> list[str]:
    """Contacts leadsync has not qualified: no stage written in HubSpot, or none stored, or
    the two disagreeing."""
    people = rt.store.people()
    return sorted(c["id"] for c in sandbox.hubspot.contacts()
                  if not c.get("leadsync_stage") or c["id"] not in people
                  or people[c["id"]]["stage"] != c["leadsync_stage"])
