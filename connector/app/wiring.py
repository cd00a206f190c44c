"""Builds the adapters and their shared HTTP policy from the config and the environment."""

from __future__ import annotations

from typing import Any

from connector.adapters.hubspot.adapter import HubSpotAdapter, HubSpotSettings
from connector.app.config import Secrets
from connector.core.errors import ConfigError, Problem
from connector.ports import Crm
from connector.transport.policy import HttpPolicy, PolicySettings


def build_adapters(rt: Any, *, dry_run: bool = False) -> tuple[HubSpotAdapter, Crm, HttpPolicy]:
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
                             rt.hubspot_mapping, policy, auth=_hubspot_auth(rt, secrets, policy),
                             book=UnsavedBook(rt.store) if dry_run else rt.store)
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


class UnsavedBook:
    """A dry run's company book: reads what the store keeps, keeps what it reads in memory
    only (a dry run leaves the state store as it found it)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self._kept: dict[str, dict[str, Any]] = {}
        self._cursors: dict[str, Any] = {}

    def companies(self, company_ids: Any) -> dict[str, dict[str, Any]]:
        found = self.store.companies([i for i in company_ids if i not in self._kept])
        found.update({i: self._kept[i] for i in company_ids if i in self._kept})
        return found

    def keep_companies(self, rows: Any, now: Any) -> None:
        self._kept.update({cid: dict(props) for cid, (props, _) in rows.items()})

    def cursor(self, name: str) -> Any:
        return self._cursors.get(name) or self.store.cursor(name)

    def set_cursor(self, name: str, value: Any, now: Any) -> None:
        self._cursors[name] = value
