"""Real clients against a running sandbox: hubspot-api-client and simple-salesforce."""

from __future__ import annotations

import json
from typing import Any

import requests
from simple_salesforce import Salesforce

from leadsync_sandbox.server import Sandbox


def error_body(exc: Exception) -> dict[str, Any]:
    return json.loads(exc.body)  # type: ignore[attr-defined]


def salesforce_client(sandbox: Sandbox) -> Salesforce:
    """simple-salesforce on a session from the org's OAuth client-credentials flow."""
    assert sandbox.certs is not None
    bundle = str(sandbox.certs.bundle_path)
    c = sandbox.credentials
    token = requests.post(f"{sandbox.salesforce_url}/services/oauth2/token", verify=bundle, timeout=10,
                          data={"grant_type": "client_credentials", "client_id": c["SF_CLIENT_ID"],
                                "client_secret": c["SF_CLIENT_SECRET"]}).json()
    session = requests.Session()
    session.trust_env = False   # else REQUESTS_CA_BUNDLE from the environment wins over verify
    session.verify = bundle
    return Salesforce(instance_url=token["instance_url"], session_id=token["access_token"], session=session,
                      version="59.0")


def modified_window(until_ms: int) -> list[dict[str, Any]]:
    """leadsync's pull: everything modified before ``until``, oldest first."""
    return [{"filters": [{"propertyName": "lastmodifieddate", "operator": "LT", "value": str(until_ms)}]}]
