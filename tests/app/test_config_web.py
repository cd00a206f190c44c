"""``[web]``, ``[alerts]`` and the health limit in the config: defaults, the example, bad input as a table."""

from __future__ import annotations

from datetime import timedelta

import pytest

from connector.app.config import ALERT_RULES, AlertsConfig, WebConfig, load_config, parse_config
from connector.core.errors import ConfigError


def test_given_example_config_when_loaded_then_web_and_alerts_are_the_defaults():
    config = load_config("config.example.toml")
    assert config.web == WebConfig() and config.alerts == AlertsConfig()
    assert config.metrics.healthz_quarantine_above == 25


def test_given_two_lines_when_parsed_then_page_on_and_alerts_to_a_webhook():
    config = parse_config({"web": {"port": 8078}, "alerts": {"webhook_url_env": "ALERT_HOOK",
                                                            "handoffs_stopped_after": "6h"}}, "c.toml")
    assert (config.web.port, config.web.host, config.web.token_env) == (8078, "127.0.0.1", "LEADSYNC_WEB_TOKEN")
    assert config.alerts.webhook_url_env == "ALERT_HOOK" and config.alerts.rules == ALERT_RULES
    assert config.alerts.handoffs_stopped_after == timedelta(hours=6)


@pytest.mark.parametrize("data, key, words", [
    ({"web": {"port": 70000}}, "web.port", "port number"),
    ({"web": {"token_env": "not a name"}}, "web.token_env", "not an environment variable name"),
    ({"web": {"token": "s3cret"}}, "web.token", "unknown key"),
    ({"alerts": {"rules": ["sla_breach", "disk_full"]}}, "alerts.rules", "unknown rule(s) 'disk_full'"),
    ({"alerts": {"rules": "sla_breach"}}, "alerts.rules", "expected a list"),
    ({"alerts": {"slack_webhook_env": "https://hooks.slack.com/services/T0/B0/x"}}, "alerts.slack_webhook_env",
     "secrets are read from the environment"),
    ({"alerts": {"email_to": ["revops"]}}, "alerts.email_to", "email addresses"),
    ({"alerts": {"quarantine_above": -1}}, "alerts.quarantine_above", "0 or more"),
    ({"alerts": {"handoffs_stopped_after": "a day"}}, "alerts.handoffs_stopped_after", "not a duration"),
    ({"metrics": {"healthz_quarantine_above": "many"}}, "metrics.healthz_quarantine_above", "whole number"),
])
def test_given_bad_web_or_alerts_key_when_parsed_then_error_names_file_key_and_reason(data, key, words):
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "c.toml")
    [problem] = caught.value.problems
    assert (problem.file, problem.key) == ("c.toml", key) and words in problem.reason
