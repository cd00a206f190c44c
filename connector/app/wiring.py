"""Builds the adapters and their shared HTTP policy from the config and the environment."""

from __future__ import annotations

from typing import Any

from connector.adapters.hubspot.adapter import HubSpotAdapter, HubSpotSettings
from connector.app.config import Secrets
from connector.core.errors import ConfigError, Problem
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
                             rt.hubspot_mapping, policy, auth=_hubspot_auth(rt, secrets, policy), book=rt.store)
    return hubspot, plugin.build(config, secrets, rt.crm_mapping, policy), policy


def _hubspot_auth(rt: Any, secrets: Secrets, policy: HttpPolicy) -> Any:
    """None (the private app's static token), or a public app's refresh flow."""
    if rt.config.hubspot.auth != "oauth":
        return None
    from connector.adapters.hubspot.auth import HubSpotOAuth, OAuthApp
    try:
        from connector.app.vault import StoreVault
    except ImportError:   # the rotated refresh token is kept encrypted: that needs cryptography
        raise ConfigError(Problem(rt.config.file, "hubspot.auth",
                                  'auth = "oauth" keeps the rotated refresh token encrypted; '
                                  "install it with: pip install 'leadsync[oauth]'")) from None
    app = OAuthApp(**secrets.hubspot_oauth())
    return HubSpotOAuth(rt.config.hubspot.base_url, app, policy, StoreVault(rt.store, app.client_secret))
