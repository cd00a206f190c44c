"""leadsync: one shared qualified-lead definition, applied to HubSpot and Salesforce alike."""

__version__ = "0.1.0"
