"""Salesforce sign-in failures, without the sandbox: a login_url that answers 404, one where
nothing listens, and the token endpoint's documented error bodies, each to its own message."""

from __future__ import annotations

import socket

import pytest
import responses

from connector.adapters.salesforce.auth import SalesforceAuth, SalesforceSettings, sign_in_problem
from connector.core.errors import ConfigError
from connector.transport.policy import HttpPolicy, PolicySettings

SETTINGS = SalesforceSettings(login_url="https://acme.my.salesforce.com", client_id="3MVG9id", client_secret="s3cret")


def test_given_a_login_url_without_a_token_endpoint_when_signing_in_then_login_url_is_named():
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, "https://acme.my.salesforce.com/services/oauth2/token", status=404,
                 body="<html>Not Found</html>")
        with pytest.raises(ConfigError) as caught:
            SalesforceAuth(SETTINGS, HttpPolicy()).token()
    assert str(caught.value) == (
        "config: salesforce.login_url: https://acme.my.salesforce.com/services/oauth2/token is not a Salesforce "
        "OAuth token endpoint (it answered HTTP 404 without an OAuth error): use https://login.salesforce.com, "
        "https://test.salesforce.com (sandboxes) or your My Domain, https://<your-domain>.my.salesforce.com")


def test_given_a_login_url_where_nothing_listens_when_signing_in_then_it_is_named_unreachable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]          # closed again when the block ends: nothing listens
    settings = SalesforceSettings(login_url=f"https://127.0.0.1:{port}", client_id="3MVG9id", client_secret="s")
    policy = HttpPolicy(PolicySettings(max_attempts=1))
    with pytest.raises(ConfigError) as caught:
        SalesforceAuth(settings, policy).token()
    assert str(caught.value).startswith(
        f"config: salesforce.login_url: https://127.0.0.1:{port} could not be reached (the connection to "
        "Salesforce failed; leadsync gave up after")
    assert "check the host name" in str(caught.value)


# (error body, flow, key, words the reason starts with)
BODIES = [
    ('{"error":"invalid_client_id","error_description":"client identifier invalid"}', "client_credentials",
     "salesforce.client_id_env", "Salesforce does not know this client id"),
    ('{"error":"invalid_client","error_description":"invalid client credentials"}', "client_credentials",
     "salesforce.client_secret_env", "Salesforce rejected the client secret"),
    ('{"error":"invalid_grant","error_description":"authentication failure"}', "password",
     "salesforce.username_env", "Salesforce did not accept this username and password"),
    ('{"error":"invalid_grant","error_description":"request not supported on this domain"}', "client_credentials",
     "salesforce.login_url", "the client-credentials flow only works on your org's My Domain"),
    ('{"error":"invalid_grant","error_description":"no client credentials user enabled"}', "client_credentials",
     "salesforce.auth", "the connected app has no run-as user"),
    ('{"error":"unsupported_grant_type","error_description":"grant type not supported"}', "password",
     "salesforce.auth", "this org does not allow the password flow"),
    ('{"error":"inactive_user","error_description":"user is inactive"}', "password",
     "salesforce.login_url", "Salesforce refused leadsync's sign-in at"),
]


@pytest.mark.parametrize("body, flow, key, starts", BODIES)
def test_given_a_documented_oauth_error_then_the_problem_names_the_credential(body, flow, key, starts):
    settings = SalesforceSettings(auth=flow, login_url="https://login.salesforce.com")
    problem = sign_in_problem(settings, "https://login.salesforce.com/services/oauth2/token", body, 400)
    assert problem.key == key and problem.reason.startswith(starts)
    assert "HTTP 400" not in problem.reason
