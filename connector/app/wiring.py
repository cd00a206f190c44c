"""Builds the adapters and their shared HTTP policy from the config and the environment.

CRMs are a registry keyed by ``[crm] system``: adding one is one entry in ``CRM_BUILDERS``.
"""

from __future__ import annotations

from typing import Any, Callable

from connector.adapters.hubspot.adapter import HubSpotAdapter, HubSpotSettings
from connector.app.config import Config, Secrets
from connector.transport.policy import HttpPolicy, PolicySettings


def _salesforce(rt: Any, secrets: Secrets, policy: HttpPolicy) -> Any:
    from connector.adapters.salesforce.adapter import SalesforceAdapter
    from connector.adapters.salesforce.auth import SalesforceAuth, SalesforceSettings
    sf = rt.config.salesforce
    values = secrets.salesforce()
    settings = SalesforceSettings(auth=sf.auth, login_url=sf.login_url, instance_url=sf.instance_url,
                                  api_version=sf.api_version, **{k: v for k, v in values.items() if v})
    return SalesforceAdapter(settings, rt.crm_mapping, policy, SalesforceAuth(settings, policy))


def _sugarcrm(rt: Any, secrets: Secrets, policy: HttpPolicy) -> Any:
    from connector.adapters.sugarcrm import SugarAdapter, SugarSettings
    sugar = rt.config.sugarcrm
    settings = SugarSettings(base_url=sugar.base_url, api_version=sugar.api_version, platform=sugar.platform,
                             client_id=sugar.client_id, **{k: v or "" for k, v in secrets.sugarcrm().items()})
    return SugarAdapter(settings, rt.crm_mapping, policy)


CRM_BUILDERS: dict[str, Callable[[Any, Secrets, HttpPolicy], Any]] = {
    "salesforce": _salesforce,
    "sugarcrm": _sugarcrm,
}


def _crm_timeout(config: Config) -> float:
    return config.sugarcrm.timeout_seconds if config.crm.system == "sugarcrm" else config.salesforce.timeout_seconds


def build_adapters(rt: Any) -> tuple[HubSpotAdapter, Any, HttpPolicy]:
    config = rt.config
    secrets = Secrets(config, rt.environ)
    policy = HttpPolicy(PolicySettings(
        connect_timeout=min(10.0, config.hubspot.timeout_seconds),
        read_timeout=max(config.hubspot.timeout_seconds, _crm_timeout(config)),
        hubspot_rate_limit_per_10s=config.hubspot.rate_limit_per_10s,
        hubspot_search_per_s=float(config.hubspot.search_per_second),
        max_daily_share={"salesforce": config.salesforce.max_daily_share, "hubspot": 0.5},
    ))
    hubspot = HubSpotAdapter(HubSpotSettings(base_url=config.hubspot.base_url, token=secrets.hubspot_token()),
                             rt.hubspot_mapping, policy)
    crm = CRM_BUILDERS[config.crm.system](rt, secrets, policy)
    return hubspot, crm, policy
