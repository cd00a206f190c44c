"""The HTTP policy without HTTP: classification as a table, the retry loop on a fake clock."""

from __future__ import annotations

import json
import socket

import pytest
import requests
import urllib3
from hubspot.crm.contacts.exceptions import ApiException as ContactsApiException
from hubspot.crm.companies.exceptions import ApiException as CompaniesApiException
from simple_salesforce.exceptions import SalesforceExpiredSession, SalesforceRefusedRequest

from connector.core.errors import (ConfigError, FatalError, QuotaExhausted, RateLimited, Retryable,
                              SkippableRecord)
from connector.transport import HttpPolicy, HttpStatusError, PolicySettings, classify
from connector.transport.classify import parse_retry_after
from connector.transport.pacing import TokenBucket, read_limit_headers

SF_LIMIT = [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}]
SF_CONCURRENT = [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "ConcurrentPerOrgLongTxn Limit exceeded."}]
SF_SESSION = [{"errorCode": "INVALID_SESSION_ID", "message": "Session expired or invalid"}]
HS_DAILY = {"status": "error", "message": "You have reached your daily limit.", "errorType": "RATE_LIMIT",
            "policyName": "DAILY"}
HS_SECONDLY = {"status": "error", "message": "You have reached your ten_secondly_rolling limit.",
               "errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"}
HS_SCOPE = {"status": "error", "message": "This app hasn't been granted all required scopes",
            "category": "MISSING_SCOPES"}
SOAP_EXPIRED = ("<soapenv:Envelope><soapenv:Body><soapenv:Fault><faultcode>sf:INVALID_SESSION_ID</faultcode>"
                "<faultstring>INVALID_SESSION_ID: Invalid Session ID</faultstring></soapenv:Fault>"
                "</soapenv:Body></soapenv:Envelope>")

SF_NO_COLUMN = [{"message": "\nSELECT Id, HubSpot_Contact_Id__c FROM Contact\n       ^\nERROR at Row:1:Column:12\n"
                            "No such column 'HubSpot_Contact_Id__c' on entity 'Contact'.", "errorCode": "INVALID_FIELD"}]

# (system, status, headers, body, exception, single_record) → (action, kind, retry_after)
TABLE = [
    ("salesforce", 403, {}, SF_LIMIT, None, False, ("quota_exhausted", "daily_quota", None)),
    ("salesforce", 403, {}, json.dumps(SF_CONCURRENT), None, False, ("retry", "concurrency_limit", None)),
    ("salesforce", 401, {}, SF_SESSION, None, False, ("reauth", "session_expired", None)),
    ("salesforce", 500, {}, SOAP_EXPIRED, None, False, ("reauth", "session_expired", None)),
    ("salesforce", 403, {}, [{"errorCode": "INSUFFICIENT_ACCESS"}], None, False,
     ("fatal_config", "insufficient_access", None)),
    ("salesforce", 400, {}, [{"errorCode": "MALFORMED_QUERY"}], None, False, ("fatal", "bad_request", None)),
    ("salesforce", 400, {}, [{"errorCode": "INVALID_FIELD"}], None, True, ("skip_record", "bad_record", None)),
    ("salesforce", 400, {}, SF_NO_COLUMN, None, False, ("fatal_config", "schema_mismatch", None)),
    ("salesforce", 404, {}, [{"errorCode": "NOT_FOUND"}], None, True, ("skip_record", "not_found", None)),
    ("salesforce", 503, {}, "", None, False, ("retry", "server_error", None)),
    ("salesforce", 400, {}, {"error": "invalid_grant", "error_description": "authentication failure"}, None, False,
     ("fatal_config", "credentials_rejected", None)),
    ("hubspot", 429, {}, HS_DAILY, None, False, ("quota_exhausted", "daily_quota", None)),
    ("hubspot", 429, {"Retry-After": "3"}, HS_SECONDLY, None, False, ("rate_limited", "rate_limit", 3.0)),
    ("hubspot", 429, {"X-HubSpot-RateLimit-Remaining": "0", "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"},
     HS_SECONDLY, None, False, ("rate_limited", "rate_limit", 10.0)),
    ("hubspot", 401, {}, {"category": "INVALID_AUTHENTICATION"}, None, False, ("fatal_config", "token_invalid", None)),
    ("hubspot", 403, {}, HS_SCOPE, None, False, ("fatal_config", "missing_scope", None)),
    ("hubspot", 400, {}, {"category": "VALIDATION_ERROR"}, None, False, ("fatal", "bad_request", None)),
    ("hubspot", 400, {}, {"category": "VALIDATION_ERROR"}, None, True, ("skip_record", "bad_record", None)),
    ("hubspot", 408, {}, "", None, False, ("fatal", "bad_request", None)),
    ("hubspot", 502, {"Retry-After": "2"}, "", None, False, ("retry", "server_error", 2.0)),
    ("hubspot", None, {}, None, urllib3.exceptions.ProtocolError("Connection aborted."), False,
     ("retry", "connection", None)),
    ("hubspot", None, {}, None, urllib3.exceptions.MaxRetryError(None, "/", urllib3.exceptions.NewConnectionError(
        None, "refused")), False, ("retry", "connection", None)),
    ("hubspot", None, {}, None, urllib3.exceptions.MaxRetryError(None, "/", urllib3.exceptions.SSLError(
        "CERTIFICATE_VERIFY_FAILED")), False, ("fatal_config", "tls", None)),
    ("hubspot", 0, {}, None, ContactsApiException(status=0, reason="SSLError\ncertificate verify failed"), False,
     ("fatal_config", "tls", None)),
    ("salesforce", None, {}, None, requests.exceptions.ReadTimeout("read timed out"), False,
     ("retry", "timeout", None)),
    ("salesforce", None, {}, None, requests.exceptions.ConnectionError(ConnectionResetError(104, "reset")), False,
     ("retry", "connection", None)),
    ("salesforce", None, {}, None, socket.timeout("timed out"), False, ("retry", "timeout", None)),
    ("salesforce", 302, {}, "", None, False, ("fatal", "unexpected_status", None)),
]


@pytest.mark.parametrize("system,status,headers,body,exc,single,expected", TABLE)
def test_given_a_failed_response_when_classified_then_the_table_decides(system, status, headers, body, exc,
                                                                        single, expected):
    verdict = classify(system, status, headers, body, exc, single_record=single, now=0.0)
    assert (verdict.action, verdict.kind, verdict.retry_after) == expected
    assert verdict.message and "{" not in verdict.message


def test_given_a_verdict_then_the_message_is_for_people_and_the_detail_keeps_the_body():
    verdict = classify("salesforce", 403, {}, SF_LIMIT, None)
    assert verdict.message == "Salesforce's daily API allocation is used up (HTTP 403)"
    assert "TotalRequests" in verdict.detail and "TotalRequests" not in verdict.message
    assert verdict.code == "REQUEST_LIMIT_EXCEEDED"


def test_given_retry_after_as_http_date_then_it_is_seconds_from_now():
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("120", now=None) == 120.0
    assert parse_retry_after("soon", now=0.0) is None


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make_policy(clock: FakeClock, **settings) -> HttpPolicy:
    return HttpPolicy(PolicySettings(**settings), clock=clock, sleep=clock.sleep, wall_clock=clock,
                      rng=lambda: 1.0)


def failing(*errors, result="ok"):
    """An attempt that raises each error in turn, then returns ``result``."""
    remaining = list(errors)
    calls = []

    def attempt():
        calls.append(1)
        if remaining:
            raise remaining.pop(0)
        return result
    attempt.calls = calls
    return attempt


def status_error(status, body="", headers=None):
    return HttpStatusError(status, headers or {}, body)


def test_given_two_server_errors_when_called_then_it_backs_off_exponentially_and_succeeds():
    clock = FakeClock()
    attempt = failing(status_error(503), status_error(502))
    assert make_policy(clock).call("salesforce", attempt) == "ok"
    assert len(attempt.calls) == 3
    assert clock.sleeps == [0.5, 1.0]


def test_given_persistent_server_errors_then_it_gives_up_with_retryable_after_max_attempts():
    clock = FakeClock()
    policy = make_policy(clock, max_attempts=4)
    attempt = failing(*[status_error(500)] * 10)
    with pytest.raises(Retryable) as caught:
        policy.call("salesforce", attempt)
    assert len(attempt.calls) == 4
    assert "gave up" in str(caught.value)
    assert policy.usage()["salesforce"] == {"calls": 4, "retries": 3, "remaining": None, "limit": None}


def test_given_retry_after_then_the_wait_is_the_servers_not_the_backoff():
    clock = FakeClock()
    exc = ContactsApiException(status=429)  # the hubspot client's own exception, status/headers/body
    exc.headers, exc.body = {"Retry-After": "7"}, json.dumps(HS_SECONDLY)
    attempt = failing(exc)
    assert make_policy(clock).call("hubspot", attempt) == "ok"
    assert clock.sleeps == [7.0]


def test_given_a_retry_after_beyond_the_time_budget_then_it_gives_up_at_once_as_rate_limited():
    clock = FakeClock()
    attempt = failing(status_error(429, headers={"Retry-After": "600"}))
    with pytest.raises(RateLimited) as caught:
        make_policy(clock, max_elapsed=60).call("hubspot", attempt)
    assert caught.value.retry_after == 600.0
    assert len(attempt.calls) == 1 and 600.0 not in clock.sleeps


def test_given_a_bad_request_then_it_is_never_retried():
    clock = FakeClock()
    attempt = failing(SalesforceRefusedRequest("u", 400, "query", [{"errorCode": "MALFORMED_QUERY"}]))
    with pytest.raises(FatalError) as caught:
        make_policy(clock).call("salesforce", attempt)
    assert len(attempt.calls) == 1 and caught.value.kind == "bad_request"


def test_given_a_single_record_call_then_a_400_skips_the_record():
    exc = CompaniesApiException(status=400)
    exc.headers, exc.body = {}, json.dumps({"category": "VALIDATION_ERROR", "message": "bad value"})
    with pytest.raises(SkippableRecord) as caught:
        make_policy(FakeClock()).call("hubspot", failing(exc), single_record=True)
    assert caught.value.code == "VALIDATION_ERROR" and not caught.value.transient


def test_given_an_expired_session_then_it_reauthenticates_once_and_retries_at_once():
    clock = FakeClock()
    reauths = []
    attempt = failing(SalesforceExpiredSession("u", 401, "query", SF_SESSION))
    assert make_policy(clock).call("salesforce", attempt, reauth=lambda: reauths.append(1)) == "ok"
    assert reauths == [1] and sum(clock.sleeps) == 0


def test_given_a_401_after_reauth_then_it_is_a_config_error_naming_the_system():
    reauths = []
    expired = [SalesforceExpiredSession("u", 401, "query", SF_SESSION) for _ in range(3)]
    with pytest.raises(ConfigError) as caught:
        make_policy(FakeClock()).call("salesforce", failing(*expired), reauth=lambda: reauths.append(1))
    assert reauths == [1]
    assert "[salesforce]" in str(caught.value)


def test_given_a_401_without_a_way_to_reauth_then_it_is_a_config_error():
    with pytest.raises(ConfigError):
        make_policy(FakeClock()).call("hubspot", failing(status_error(401)))


def test_given_request_limit_exceeded_then_quota_exhausted_without_retry():
    attempt = failing(SalesforceRefusedRequest("u", 403, "query", SF_LIMIT))
    with pytest.raises(QuotaExhausted):
        make_policy(FakeClock()).call("salesforce", attempt)
    assert len(attempt.calls) == 1


def test_given_usage_near_the_share_then_the_governor_refuses_before_calling():
    policy = make_policy(FakeClock(), max_daily_share={"salesforce": 0.5})
    policy.observe("salesforce", {"Sforce-Limit-Info": "api-usage=48/100"})
    assert policy.call("salesforce", lambda: "ok") == "ok"          # 49 of 50
    assert policy.call("salesforce", lambda: "ok") == "ok"          # 50 of 50
    attempt = failing()
    with pytest.raises(QuotaExhausted) as caught:
        policy.call("salesforce", attempt)
    assert attempt.calls == [] and "50%" in str(caught.value)
    assert policy.usage()["salesforce"] == {"calls": 2, "retries": 0, "remaining": 50, "limit": 100}


def test_given_hubspot_daily_headers_then_the_budget_follows_them():
    policy = make_policy(FakeClock(), max_daily_share={"hubspot": 0.1})
    policy.observe("hubspot", {"X-HubSpot-RateLimit-Daily": "1000", "X-HubSpot-RateLimit-Daily-Remaining": "900"})
    with pytest.raises(QuotaExhausted):
        policy.call("hubspot", lambda: "ok")


def test_given_many_calls_then_no_rolling_ten_seconds_holds_more_than_the_limit():
    clock = FakeClock()
    policy = make_policy(clock, hubspot_rate_limit_per_10s=100)
    stamps = []
    for _ in range(300):
        policy.call("hubspot", lambda: stamps.append(clock.now))
    busiest = max(sum(1 for t in stamps if start <= t < start + 10.0) for start in stamps)
    assert 90 <= busiest < 100, "close to the limit, never at it"


def test_given_the_portal_allows_less_than_the_ceiling_then_its_headers_set_the_pace():
    clock = FakeClock()
    policy = make_policy(clock, hubspot_rate_limit_per_10s=190)
    headers = {"X-HubSpot-RateLimit-Max": "100", "X-HubSpot-RateLimit-Remaining": "99",
               "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}
    stamps = []

    def answered():
        stamps.append(clock.now)
        policy.observe("hubspot", headers)
    for _ in range(300):
        policy.call("hubspot", answered)
    busiest = max(sum(1 for t in stamps if start <= t < start + 10.0) for start in stamps[10:])
    assert busiest < 100


def test_given_another_app_spends_the_window_then_the_remaining_header_slows_leadsync():
    clock = FakeClock()
    policy = make_policy(clock, hubspot_rate_limit_per_10s=100)
    low = {"X-HubSpot-RateLimit-Max": "100", "X-HubSpot-RateLimit-Remaining": "3",
           "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}
    policy.call("hubspot", lambda: policy.observe("hubspot", low))
    start = clock.now
    policy.call("hubspot", lambda: None)
    assert clock.now - start > 0.2


def test_given_searches_then_they_run_under_five_per_second_and_outside_the_window():
    clock = FakeClock()
    policy = make_policy(clock)
    start = clock.now
    for _ in range(11):
        policy.call("hubspot", lambda: None, lane="hubspot_search")
    assert clock.now - start >= 2.0
    assert policy._buckets["hubspot"]._tokens == policy._buckets["hubspot"].burst   # the window untouched


HS_PER_SECOND = {"status": "error", "message": "You have reached your secondly limit.", "errorType": "RATE_LIMIT",
                 "policyName": "SECONDLY"}


def test_given_a_search_refused_by_the_per_second_limit_then_searches_slow_by_a_tenth_down_to_seventy_percent():
    clock = FakeClock()
    policy = make_policy(clock)
    search, window = policy._buckets["hubspot_search"], policy._buckets["hubspot"]
    paced, window_rate = search.rate, window.rate
    assert policy.call("hubspot", failing(status_error(429, HS_PER_SECOND)), lane="hubspot_search") == "ok"
    assert search.rate == pytest.approx(paced * 0.9)
    for _ in range(10):
        policy.call("hubspot", failing(status_error(429, HS_PER_SECOND)), lane="hubspot_search")
    assert search.rate == pytest.approx(0.7 * 5.0)           # never below 70% of HubSpot's 5/s
    assert window.rate == window_rate and not policy.searches_in_window


def test_given_a_call_refused_by_the_ten_second_window_then_the_window_pace_slows_and_searches_do_not():
    clock = FakeClock()
    policy = make_policy(clock, hubspot_rate_limit_per_10s=100)
    search, window = policy._buckets["hubspot_search"], policy._buckets["hubspot"]
    paced, search_rate = window.rate, search.rate
    assert policy.call("hubspot", failing(status_error(429, HS_SECONDLY))) == "ok"
    assert window.rate == pytest.approx(paced * 0.9) and search.rate == search_rate
    # A search refused on the window: this portal charges searches there; the search pace stays.
    policy.call("hubspot", failing(status_error(429, HS_SECONDLY)), lane="hubspot_search")
    assert policy.searches_in_window and search.rate == search_rate


def test_given_the_daily_cap_then_no_pace_is_slowed():
    clock = FakeClock()
    policy = make_policy(clock)
    rates = {name: bucket.rate for name, bucket in policy._buckets.items()}
    with pytest.raises(QuotaExhausted):
        policy.call("hubspot", failing(status_error(429, HS_DAILY)))
    assert {name: bucket.rate for name, bucket in policy._buckets.items()} == rates


def test_given_a_spent_window_then_the_bucket_holds_until_it_rolls():
    clock = FakeClock()
    bucket = TokenBucket(10, 10, clock, clock.sleep)
    bucket.hold(3.0)
    assert bucket.acquire() == pytest.approx(3.0, abs=0.2)


def test_given_limit_headers_then_they_are_read_per_system():
    sf = read_limit_headers("salesforce", {"Sforce-Limit-Info": "api-usage=25/5000;per-app-api-usage=17/250(appName=x)"})
    assert (sf.daily_used, sf.daily_limit) == (25, 5000)
    hs = read_limit_headers("hubspot", {"x-hubspot-ratelimit-daily": "500000",
                                        "x-hubspot-ratelimit-daily-remaining": "499000"})
    assert (hs.daily_used, hs.daily_limit) == (1000, 500000)


def test_given_an_exception_that_is_not_http_then_it_propagates_untouched():
    with pytest.raises(KeyError):
        make_policy(FakeClock()).call("hubspot", failing(KeyError("bug")))


def test_given_a_policy_session_then_it_has_timeouts_no_retries_and_reads_limits(monkeypatch):
    policy = make_policy(FakeClock())
    session = policy.session("salesforce")
    seen = {}

    def fake_send(self, request, **kwargs):
        seen.update(kwargs)
        response = requests.Response()
        response.status_code, response.request = 200, request
        response.headers["Sforce-Limit-Info"] = "api-usage=7/100"
        return response
    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", fake_send)
    session.get("https://example.invalid/services/data")
    assert seen["timeout"] == (5.0, 60.0)
    assert session.get_adapter("https://x").max_retries.total == 0
    assert policy.usage()["salesforce"]["remaining"] == 93


def test_given_a_query_naming_a_missing_column_then_the_message_says_so_and_points_at_setup():
    policy = make_policy(FakeClock())
    with pytest.raises(ConfigError) as caught:
        policy.call("salesforce", failing(status_error(400, SF_NO_COLUMN)))
    message = str(caught.value)
    assert message.startswith("config: salesforce.toml: Salesforce has no field or object the mappings name (HTTP 400): "
                              "SELECT Id, HubSpot_Contact_Id__c FROM Contact ^ ERROR at Row:1:Column:12 No such column "
                              "'HubSpot_Contact_Id__c' on entity 'Contact'.")
    assert message.endswith("run `leadsync setup` to see what is missing, and `leadsync setup --apply` to create it")
