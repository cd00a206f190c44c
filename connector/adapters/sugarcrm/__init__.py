"""SugarCRM over its REST API (v11): the seeds' CRM, a peer of Salesforce behind the Crm port."""

from connector.adapters.sugarcrm.adapter import SugarAdapter
from connector.adapters.sugarcrm.auth import SugarAuth, SugarSettings

__all__ = ["SugarAdapter", "SugarAuth", "SugarSettings"]
