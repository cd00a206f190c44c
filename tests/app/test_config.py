"""Configuration: every mistake named with file, key and reason, all at once; secrets from env."""

from __future__ import annotations

import pytest

from connector.cli.commands import main
from connector.app.config import Secrets, load_config, parse_config, parse_duration
from connector.core.errors import ConfigError

INVALID = [
    ({"hubspot": {"rate_limit_per_10s": 0}}, "hubspot.rate_limit_per_10s: expected a positive whole number"),
    ({"hubspot": {"base_url": "api.hubapi.com"}}, "hubspot.base_url: 'api.hubapi.com' is not an http(s) URL"),
    ({"hubspot": {"token": "pat-na1-123"}}, "hubspot.token: unknown key"),
    ({"hubspot": {"token_env": "pat-na1-123"}}, "hubspot.token_env: 'pat-na1-123' is not an environment variable name"),
    ({"salesforce": {"auth": "oauth"}}, "salesforce.auth: expected one of 'client_credentials', 'password', 'session'"),
    ({"salesforce": {"auth": "session"}}, 'salesforce.instance_url: required when auth = "session"'),
    ({"salesforce": {"max_daily_share": 1.5}}, "salesforce.max_daily_share: expected a fraction in (0, 1]"),
    ({"state": {"url": "mysql://root:hunter22@db/x"}}, "state.url: expected a sqlite:/// or postgresql:// URL"),
    ({"schedule": {"hubspot_every": "fast"}}, "schedule.hubspot_every: 'fast' is not a duration"),
    ({"schedule": {"reconcile_cron": "3am"}}, "schedule.reconcile_cron: '3am' is not a 5-field cron expression"),
    ({"logging": {"format": "xml"}}, "logging.format: expected one of 'text', 'json'"),
    ({"metrics": {"port": 70000}}, "metrics.port: expected a port number"),
    ({"hubspt": {}}, "hubspt: unknown section"),
]


@pytest.mark.parametrize("data, message", INVALID, ids=[m.split(":")[0] for _, m in INVALID])
def test_given_invalid_config_when_parsed_then_error_names_file_key_and_reason(data, message):
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "leadsync.toml")
    assert f"leadsync.toml: {message}" in str(caught.value)


def test_given_several_mistakes_when_parsed_then_all_are_reported_at_once():
    with pytest.raises(ConfigError) as caught:
        parse_config({"hubspot": {"rate_limit_per_10s": -1}, "logging": {"format": "xml"}, "x": {}}, "c.toml")
    assert len(caught.value.problems) == 3


def test_given_database_password_when_rejected_then_message_masks_it():
    with pytest.raises(ConfigError) as caught:
        parse_config({"state": {"url": "mysql://root:hunter22@db/x"}}, "c.toml")
    assert "hunter22" not in str(caught.value)


def test_given_broken_toml_when_leadsync_runs_then_exit_2_names_the_file(tmp_path, capsys):
    bad = tmp_path / "broken.toml"
    bad.write_text("[hubspot\nbase_url = 1\n")
    assert main(["--config", str(bad), "sync"]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "not valid TOML" in err


def test_given_missing_secret_env_when_read_then_names_variable_not_value(tmp_path):
    config = parse_config({"hubspot": {"token_env": "MY_HS_TOKEN"}}, "c.toml")
    with pytest.raises(ConfigError) as caught:
        Secrets(config, environ={}).hubspot_token()
    assert "MY_HS_TOKEN is not set" in str(caught.value)
    assert Secrets(config, environ={"MY_HS_TOKEN": "pat-secret-value"}).hubspot_token() == "pat-secret-value"
    assert "pat-secret-value" not in repr(Secrets(config, environ={"MY_HS_TOKEN": "pat-secret-value"}))


def test_given_example_config_when_loaded_then_it_is_valid():
    config = load_config("config.example.toml")
    assert config.schedule.hubspot_every.total_seconds() == 15
    assert config.definition_path.name == "qualification.toml" and config.definition_path.exists()


@pytest.mark.parametrize("text, seconds", [("15s", 15), ("2m", 120), ("1d", 86400), ("1.5h", 5400), ("250ms", 0.25)])
def test_durations(text, seconds):
    assert parse_duration(text).total_seconds() == seconds
