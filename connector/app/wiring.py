"""Builds the adapters and their shared HTTP policy from the config and the environment."""

from __future__ import annotations

from typing import Any

from connector.adapters.hubspot.adapter import HubSpotAdapter, HubSpotSettings
from connector.adapters.salesforce.adapter import SalesforceAdapter
from connector.adapters.salesforce.auth import SalesforceAuth, SalesforceSettings
from connector.app.config import Secrets
from connector.transport.policy import HttpPolicy, PolicySettings


def build_adapters(rt: Any) -> tuple[HubSpotAdapter, SalesforceAdapter, HttpPolicy]:
    config = rt.config
    secrets = Secrets(config, rt.environ)
    policy = HttpPolicy(PolicySettings(
        connect_timeout=min(10.0, config.hubspot.timeout_seconds),
        read_timeout=max(config.hubspot.timeout_seconds, config.salesforce.timeout_seconds),
        hubspot_rate_limit_per_10s=config.hubspot.rate_limit_per_10s,
        hubspot_search_per_s=float(config.hubspot.search_per_second),
        max_daily_share={"salesforce": config.salesforce.max_daily_share, "hubspot": 0.5},
    ))
    hubspot = HubSpotAdapter(HubSpotSettings(base_url=config.hubspot.base_url, token=secrets.hubspot_token()),
                             rt.hubspot_mapping, policy)
    sf = config.salesforce
    values = secrets.salesforce()
    settings = SalesforceSettings(auth=sf.auth, login_url=sf.login_url, instance_url=sf.instance_url,
                                  api_version=sf.api_version, **{k: v for k, v in values.items() if v})
    salesforce = SalesforceAdapter(settings, rt.salesforce_mapping, policy, SalesforceAuth(settings, policy))
    return hubspot, salesforce, policy
