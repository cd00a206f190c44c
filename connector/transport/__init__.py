"""All HTTP goes through here: one classification table, one retry loop, pacing and budget."""

from connector.transport.classify import ACTIONS, HttpStatusError, Verdict, classify
from connector.transport.policy import HttpPolicy, PolicySettings

__all__ = ["ACTIONS", "HttpPolicy", "HttpStatusError", "PolicySettings", "Verdict", "classify"]
