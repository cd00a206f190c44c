"""Builds the adapters and their shared HTTP policy from the config and the environment."""

from __future__ import annotations

from typing import Any

from connector.adapters.hubspot.adapter import HubSpotAdapter, HubSpotSettings
from connector.app.config import Secrets
from connector.ports import Crm
from connector.transport.policy import HttpPolicy, PolicySettings


def build_adapters(rt: Any) -> tuple[HubSpotAdapter, Crm, HttpPolicy]:
    config = rt.config
    secrets = Secrets(config, rt.environ)
    plugin = rt.crm_plugin
    policy = HttpPolicy(PolicySettings(
        connect_timeout=min(10.0, config.hubspot.timeout_seconds),
        read_timeout=max(config.hubspot.timeout_seconds, config.salesforce.timeout_seconds,
                         config.sugarcrm.timeout_seconds),
        hubspot_rate_limit_per_10s=config.hubspot.rate_limit_per_10s,
        hubspot_search_per_s=float(config.hubspot.search_per_second),
        max_daily_share={"salesforce": config.salesforce.max_daily_share, "hubspot": 0.5},
    ))
    hubspot = HubSpotAdapter(HubSpotSettings(base_url=config.hubspot.base_url, token=secrets.hubspot_token()),
                             rt.hubspot_mapping, policy)
    return hubspot, plugin.build(config, secrets, rt.crm_mapping, policy), policy
