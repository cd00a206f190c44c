"""The CRMs leadsync can hand leads to, one line each: ``[crm] system`` → its plugin module.

A CRM is one folder under ``adapters/`` (adapter, mapping, plugin) plus its line here. The
module is imported only when configured, so an unused CRM costs nothing at start-up.
"""

from __future__ import annotations

import importlib
from typing import Any

CRMS: dict[str, str] = {
    "salesforce": "connector.adapters.salesforce.plugin",
    "sugarcrm": "connector.adapters.sugarcrm.plugin",
}


def crm_plugin(system: str) -> Any:
    """The plugin of a registered CRM (a ``CrmPlugin``). Unknown names are caught by config."""
    return importlib.import_module(CRMS[system]).PLUGIN
