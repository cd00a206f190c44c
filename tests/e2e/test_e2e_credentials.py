"""Credential mistakes through ``leadsync setup`` against the sandbox, table-driven: each one has
its own message naming what to fix and where (exit 2), never a bare HTTP status.

The sandbox answers as the real services document: Salesforce's token endpoint with
``invalid_client_id`` / ``invalid_client`` / ``invalid_grant`` and their descriptions (and the
client-credentials flow only on the org's My Domain host), HubSpot with a 401 whose category
tells an expired token from one it does not know.
"""

from __future__ import annotations

import pytest

from connector.cli.commands import main
from leadsync_sandbox.server import Sandbox

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    with Sandbox(tmp_path_factory.getbasetemp() / "sandbox-certs", people=20) as running:
        yield running


def config_for(sandbox, tmp_path, *, auth="client_credentials", login_url=None):
    path = sandbox.write_config(tmp_path / "leadsync.toml", f"sqlite:///{tmp_path / 'state.db'}")
    text = path.read_text().replace('auth = "client_credentials"', f'auth = "{auth}"')
    if login_url is not None:
        text = text.replace(f'login_url = "{sandbox.salesforce_url}"', f'login_url = "{login_url}"')
    path.write_text(text)
    return str(path)


# (row, environment changes, auth flow, login_url (None = the org's My Domain), exact message line)
ROWS = [
    ("unknown HubSpot token", {"HUBSPOT_TOKEN": "pat-na1-00000000-0000-0000-0000-000000000000"}, "client_credentials",
     None, "config: hubspot.token_env: HubSpot does not recognise the access token (HTTP 401): copy the private "
           "app's access token again (Settings → Integrations → Private apps) into the environment variable "
           "named by hubspot.token_env"),
    ("wrong client id", {"SF_CLIENT_ID": "3MVG9notthisone"}, "client_credentials", None,
     "environment: salesforce.client_id_env: Salesforce does not know this client id (invalid_client_id: client "
     "identifier invalid): set it to the connected app's Consumer Key (Setup → App Manager → the app → View → "
     "Manage Consumer Details)"),
    ("wrong client secret", {"SF_CLIENT_SECRET": "not-the-secret"}, "client_credentials", None,
     "environment: salesforce.client_secret_env: Salesforce rejected the client secret for this client id "
     "(invalid_client: invalid client credentials): set it to the connected app's Consumer Secret"),
    ("unknown user", {"SF_USERNAME": "nobody@example-vendor.com"}, "password", None,
     "environment: salesforce.username_env: Salesforce did not accept this username and password "
     "(invalid_grant: authentication failure): check the user exists and is active, and that the password "
     "ends with the user's security token"),
    ("client credentials on login.salesforce.com", {}, "client_credentials", "generic",
     "config: salesforce.login_url: the client-credentials flow only works on your org's My Domain "
     "(invalid_grant: request not supported on this domain): set login_url to "
     "https://<your-domain>.my.salesforce.com, not {login_url}"),
    ("login_url that is not Salesforce", {}, "client_credentials", "hubspot",   # HubSpot's host answers 401
     "config: salesforce.login_url: {login_url}/services/oauth2/token is not a Salesforce OAuth token endpoint "
     "(it answered HTTP 401 without an OAuth error): use https://login.salesforce.com, "
     "https://test.salesforce.com (sandboxes) or your My Domain, https://<your-domain>.my.salesforce.com"),
]


@pytest.mark.parametrize("row, env, auth, login, expected", ROWS, ids=[r[0] for r in ROWS])
def test_given_a_credential_mistake_when_setup_runs_then_exit_2_with_its_own_message(
        sandbox, tmp_path, monkeypatch, capsys, row, env, auth, login, expected):
    for key, value in {**sandbox.env(), **env}.items():
        monkeypatch.setenv(key, value)
    login_url = {"generic": sandbox.generic_login_url, "hubspot": sandbox.hubspot_url}.get(login)
    config = config_for(sandbox, tmp_path, auth=auth, login_url=login_url)
    assert main(["--config", config, "setup"]) == 2
    err = capsys.readouterr().err
    assert f"  {expected.format(login_url=login_url)}" in err.splitlines(), err
    for secret in (sandbox.credentials["SF_CLIENT_SECRET"], sandbox.credentials["SF_PASSWORD"],
                   sandbox.credentials["HUBSPOT_TOKEN"]):
        assert secret not in err


def test_given_an_expired_hubspot_token_when_setup_runs_then_it_says_expired_not_unknown(
        tmp_path_factory, tmp_path, monkeypatch, capsys):
    with Sandbox(tmp_path_factory.getbasetemp() / "sandbox-certs", people=10, salesforce=False) as sandbox:
        for key, value in sandbox.env().items():
            monkeypatch.setenv(key, value)
        sandbox.hubspot.expire_token()
        config = config_for(sandbox, tmp_path)
        assert main(["--config", config, "setup"]) == 2
    err = capsys.readouterr().err
    assert "config: hubspot.token_env: the HubSpot access token has expired (HTTP 401): refresh it" in err
    assert "does not recognise" not in err


def test_given_a_token_without_a_scope_when_setup_runs_then_the_scope_is_named(tmp_path_factory, tmp_path,
                                                                             monkeypatch, capsys):
    scopes = {"crm.objects.contacts.read", "crm.objects.contacts.write", "crm.objects.companies.read",
              "crm.schemas.contacts.read", "crm.schemas.contacts.write", "crm.schemas.companies.read", "content"}
    with Sandbox(tmp_path_factory.getbasetemp() / "sandbox-certs", people=10, hubspot_scopes=scopes) as sandbox:
        for key, value in sandbox.env().items():
            monkeypatch.setenv(key, value)
        config = config_for(sandbox, tmp_path)
        assert main(["--config", config, "setup"]) == 2
    out = capsys.readouterr().out
    assert "missing forms: the token lacks this scope (needed to list forms) → add forms to the private app's " \
           "scopes" in out
