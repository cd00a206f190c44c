"""Fixtures for driving the sandbox with the real clients. Import the ones a module uses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterator

import pytest
from hubspot import HubSpot

from leadsync_sandbox.server import Sandbox

NOW = datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc)


@dataclass
class HubSpotApis:
    """One ApiClient per API: each ``client.crm.contacts.basic_api`` access builds a new one."""

    client: HubSpot
    contacts: Any
    contacts_batch: Any
    contacts_search: Any
    companies: Any
    properties: Any
    groups: Any
    associations: Any
    events: Any


def hubspot_apis(sandbox: Sandbox, token: str | None = None) -> HubSpotApis:
    assert sandbox.certs is not None
    client = HubSpot(access_token=token or sandbox.hubspot.token, host=sandbox.hubspot_url,
                     ssl_ca_cert=str(sandbox.certs.bundle_path))
    return HubSpotApis(
        client=client,
        contacts=client.crm.contacts.basic_api,
        contacts_batch=client.crm.contacts.batch_api,
        contacts_search=client.crm.contacts.search_api,
        companies=client.crm.companies.basic_api,
        properties=client.crm.properties.core_api,
        groups=client.crm.properties.groups_api,
        associations=client.crm.associations.v4.batch_api,
        events=client.events.events_api,
    )


def roomy_sandbox(**kwargs: Any) -> Sandbox:
    """A HubSpot-only sandbox whose limits never get in a functional test's way."""
    sandbox = Sandbox(seed=7, people=60, now=NOW, salesforce=False,
                      hubspot_rate_per_10s=100_000, **kwargs)
    sandbox.hubspot.limits.search_per_second = 10_000
    return sandbox.start()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with roomy_sandbox() as running:
        yield running


@pytest.fixture(scope="module")
def hs(sandbox: Sandbox) -> HubSpotApis:
    return hubspot_apis(sandbox)


@pytest.fixture(autouse=True)
def _no_leftover_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "sandbox" in request.fixturenames:
        request.getfixturevalue("sandbox").faults.clear()
