"""A HubSpot public app's OAuth refresh flow through real syncs against the sandbox: the access
token is refreshed before it expires and again when HubSpot says it expired, a rotated refresh
token is kept (encrypted) in the state store and used by the next process, and a refused
refresh token is a configuration error naming it. No token ever reaches the output or, in the
clear, the state store."""

from __future__ import annotations

import sqlite3

import pytest

from connector.cli.commands import main
from leadsync_sandbox.server import Sandbox

pytestmark = pytest.mark.e2e


@pytest.fixture
def oauth(tmp_path_factory, tmp_path, monkeypatch):
    with Sandbox(tmp_path_factory.getbasetemp() / "sandbox-certs", people=30) as sandbox:
        app = sandbox.hubspot.oauth_app
        env = {**sandbox.env(), "HUBSPOT_CLIENT_ID": app["client_id"], "HUBSPOT_CLIENT_SECRET": app["client_secret"],
               "HUBSPOT_REFRESH_TOKEN": app["refresh_token"]}
        env.pop("HUBSPOT_TOKEN")
        monkeypatch.delenv("HUBSPOT_TOKEN", raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        path = sandbox.write_config(tmp_path / "leadsync.toml", f"sqlite:///{tmp_path / 'state.db'}")
        path.write_text(path.read_text().replace('token_env = "HUBSPOT_TOKEN"', 'auth = "oauth"'))
        yield sandbox, str(path), tmp_path / "state.db"


def stored_values(db) -> str:
    with sqlite3.connect(db) as conn:
        return " ".join(str(row) for table in ("kv",) for row in conn.execute(f"SELECT * FROM {table}"))


def test_given_a_public_app_when_the_refresh_token_rotates_then_the_newest_is_kept_sealed_and_used(oauth, capsys):
    sandbox, config, db = oauth
    sandbox.hubspot.rotate_refresh_tokens = True
    first = sandbox.hubspot.oauth_app["refresh_token"]
    assert main(["--config", config, "sync"]) == 0
    rotated = sandbox.hubspot.oauth_app["refresh_token"]
    assert rotated != first
    sandbox.hubspot.expire_oauth_tokens()
    # A new process: the environment still holds the first (now refused) refresh token.
    assert main(["--config", config, "sync"]) == 0
    out = capsys.readouterr()
    assert sandbox.hubspot.oauth_app["refresh_token"] != rotated     # it refreshed again, with the kept one
    for token in (first, rotated, sandbox.hubspot.oauth_app["client_secret"]):
        assert token not in out.out + out.err
        assert token not in stored_values(db)


def test_given_an_access_token_that_expires_mid_run_then_leadsync_refreshes_and_carries_on(oauth, capsys):
    sandbox, config, _ = oauth
    from connector.app.runtime import Runtime
    with Runtime.from_config_path(config) as rt:
        assert rt.sync().outcome == "ok"
        sandbox.hubspot.expire_oauth_tokens()
        sandbox.hubspot.add_page_view("105", "/pricing")
        assert rt.sync().outcome == "ok"


def test_given_a_revoked_refresh_token_when_syncing_then_exit_2_names_it(oauth, monkeypatch, capsys):
    _, config, _ = oauth
    monkeypatch.setenv("HUBSPOT_REFRESH_TOKEN", "na1-revoked")
    assert main(["--config", config, "sync"]) == 2
    err = capsys.readouterr().err
    assert ("environment: hubspot.refresh_token_env: HubSpot refused the refresh token (BAD_REFRESH_TOKEN: "
            "missing or invalid refresh token): the app was uninstalled or the token revoked") in err
    assert "na1-revoked" not in err
