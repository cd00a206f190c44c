"""HubSpot webhooks: the v3 signature (vectors computed here, independently), the events a
delivery carries, which contacts they ask a cycle for, the burst queue, the receiver's answers,
and the ``[webhooks]`` config section."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import logging
import threading

import pytest

from connector.app import webhooks as W
from connector.app.config import Secrets, parse_config
from connector.app.webhooks_http import Receiver
from connector.core.errors import ConfigError

SECRET = "a1b2c3d4-0000-4e5f-8a9b-secret-value"
URL = "https://leadsync.example.com/hubspot/webhooks"
TS = 1_790_000_001_000


def independent(secret: str, source: str) -> str:
    """base64(HMAC-SHA256(secret, source)), written out here rather than taken from the module."""
    return base64.b64encode(hmac.new(secret.encode("utf-8"), source.encode("utf-8"), hashlib.sha256).digest()).decode()


def event(**overrides):
    base = {"eventId": 100, "subscriptionId": 1, "portalId": 62515, "appId": 54321, "occurredAt": 1_789_999_999_000,
            "subscriptionType": "contact.creation", "attemptNumber": 0, "objectId": 123, "changeSource": "CRM_UI",
            "changeFlag": "NEW"}
    return {**base, **overrides}


def body_of(*events) -> bytes:
    return json.dumps(list(events), separators=(",", ":")).encode()


# -- the signature ----------------------------------------------------------------------------------

def test_given_hubspot_published_vector_when_signed_then_same_signature_as_hubspot_and_its_client():
    # The v3 vector in HubSpot's Python client tests (hubspot-api-python tests/spec/utils/test_signature.py).
    from hubspot.utils.signature import Signature
    secret, uri, body, ts = ("yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy", "https://www.example.com/webhook_uri",
                             "{'example_field':'example_value'}", "1693657560000")
    expected = "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y="
    assert W.signature_v3(secret, "POST", uri, body.encode(), ts) == expected
    assert Signature.get_signature(secret, body, "v3", uri, "POST", ts) == expected
    assert independent(secret, "POST" + uri + body + ts) == expected


def test_given_genuine_fresh_delivery_when_checked_then_accepted():
    body = body_of(event())
    signature = independent(SECRET, "POST" + URL + body.decode() + str(TS))
    assert W.refusal(SECRET, "POST", URL, body, signature, str(TS), now_ms=TS + 1_000) is None


def test_given_non_ascii_body_when_signed_then_hmac_is_over_its_utf8_bytes():
    body = body_of(event(subscriptionType="contact.propertyChange", propertyName="lastname", propertyValue="Müller-Łukasz"))
    signature = independent(SECRET, "POST" + URL + body.decode("utf-8") + str(TS))
    assert W.refusal(SECRET, "POST", URL, body, signature, str(TS), now_ms=TS) is None


@pytest.mark.parametrize("change, reason", [
    ({"secret": "another-apps-secret"}, "does not match"),
    ({"body": body_of(event(objectId=999))}, "does not match"),          # tampered after signing
    ({"method": "GET"}, "does not match"),
    ({"uri": URL.replace("https://", "http://")}, "does not match"),
    ({"uri": URL + "/"}, "does not match"),
    ({"timestamp": str(TS + 1)}, "does not match"),                      # the stamp is signed too
    ({"now": TS + 300_001}, "old (more than 5 minutes)"),
    ({"now": TS - 300_001}, "ahead (more than 5 minutes)"),
    ({"signature": None}, "no X-HubSpot-Signature-v3 header"),
    ({"timestamp": None}, "no X-HubSpot-Request-Timestamp header"),
    ({"timestamp": "1790000001.5"}, "not a time in epoch milliseconds"),
    ({"signature": "sha256=" + "x" * 44}, "does not match"),
    ({"signature": "ç" * 44}, "does not match"),
])
def test_given_a_wrong_part_when_checked_then_refused_with_the_reason(change, reason):
    body = body_of(event())
    signature = independent(SECRET, "POST" + URL + body.decode() + str(TS))
    args = {"secret": SECRET, "method": "POST", "uri": URL, "body": body, "signature": signature,
            "timestamp": str(TS), "now": TS + 1_000, **change}
    why = W.refusal(args["secret"], args["method"], args["uri"], args["body"], args["signature"],
                    args["timestamp"], now_ms=args["now"])
    assert why is not None and reason in why


def test_given_exactly_five_minutes_old_when_checked_then_still_accepted():
    body = body_of(event())
    signature = independent(SECRET, "POST" + URL + body.decode() + str(TS))
    assert W.refusal(SECRET, "POST", URL, body, signature, str(TS), now_ms=TS + 300_000) is None


def test_given_encoded_characters_in_uri_when_checked_then_the_documented_twelve_are_decoded_only():
    called = "https://leadsync.example.com/hubspot/webhooks?src=hs%3Aapp%2Fv3&x=%28a%29&who=%40me%2c%2A&sp=a%20b"
    as_signed = "https://leadsync.example.com/hubspot/webhooks?src=hs:app/v3&x=(a)&who=@me,*&sp=a%20b"
    body = body_of(event())
    signature = independent(SECRET, "POST" + as_signed + body.decode() + str(TS))
    assert W.signed_uri(called) == as_signed
    assert W.refusal(SECRET, "POST", called, body, signature, str(TS), now_ms=TS) is None
    # Signed over the URI left encoded, or with %20 decoded as well, it is not HubSpot's signature.
    for wrong in (called, as_signed.replace("%20", " ")):
        forged = independent(SECRET, "POST" + wrong + body.decode() + str(TS))
        assert W.refusal(SECRET, "POST", called, body, forged, str(TS), now_ms=TS) is not None


# -- the events -------------------------------------------------------------------------------------

def test_given_mixed_batch_when_parsed_then_contact_events_kept_others_left_out():
    events = W.parse_events(body_of(
        event(),
        event(eventId=101, subscriptionType="contact.propertyChange", objectId=124, propertyName="jobtitle",
              propertyValue="CTO"),
        event(eventId=102, subscriptionType="company.creation", objectId=9),
        event(eventId=103, subscriptionType="object.creation", objectTypeId="0-1", objectId=125),
        event(eventId=104, subscriptionType="object.creation", objectTypeId="0-2", objectId=10),
        event(eventId=105, subscriptionType="contact.deletion", objectId=126)))
    assert [(e.subscription, e.contact_id, e.property_name) for e in events] == [
        ("contact.creation", "123", None), ("contact.propertyChange", "124", "jobtitle"), ("object.creation", "125", None)]


@pytest.mark.parametrize("body, reason", [
    (b'{"eventId": 1}', "expected a JSON array"),
    (b"[{]", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    (body_of(*[event(eventId=n) for n in range(101)]), "at most 100"),
    (b"[1]", "event 0 is not an object"),
    (body_of({"subscriptionType": "contact.creation"}), "no numeric objectId"),
    (body_of(event(objectId=True)), "no numeric objectId"),
])
def test_given_malformed_payload_when_parsed_then_payload_error(body, reason):
    with pytest.raises(W.PayloadError, match=reason):
        W.parse_events(body)


def test_given_retries_and_repeats_when_collected_then_each_contact_once_and_each_event_once():
    seen = W.Seen()
    first = W.parse_events(body_of(event(), event(eventId=101, objectId=124), event(eventId=102, objectId=123)))
    assert W.contacts_to_sync(first, seen, frozenset()) == ["123", "124"]
    retry = W.parse_events(body_of(event(attemptNumber=1), event(eventId=101, objectId=124, attemptNumber=1)))
    assert W.contacts_to_sync(retry, seen, frozenset()) == []     # the same events, attempted again
    later = W.parse_events(body_of(event(eventId=200, occurredAt=1_790_000_000_500)))
    assert W.contacts_to_sync(later, seen, frozenset()) == ["123"]


def test_given_seen_is_bounded_when_full_then_oldest_forgotten():
    seen = W.Seen(size=2)
    assert [seen.first_time((n,)) for n in (1, 2, 3)] == [True, True, True]
    assert seen.first_time((1,)) and not seen.first_time((3,))


def test_given_changes_to_leadsyncs_own_properties_when_collected_then_integration_writes_skipped_others_kept():
    own = frozenset({"leadsync_score", "lifecyclestage"})
    events = W.parse_events(body_of(
        event(eventId=1, subscriptionType="contact.propertyChange", objectId=1, propertyName="leadsync_score",
              changeSource="INTEGRATION"),
        event(eventId=2, subscriptionType="contact.propertyChange", objectId=2, propertyName="lifecyclestage",
              changeSource="FORM"),
        event(eventId=3, subscriptionType="contact.propertyChange", objectId=3, propertyName="jobtitle",
              changeSource="INTEGRATION"),
        event(eventId=4, objectId=4, changeSource="INTEGRATION")))
    assert W.contacts_to_sync(events, W.Seen(), own) == ["2", "3", "4"]


# -- the queue ----------------------------------------------------------------------------------------

def test_given_a_burst_when_taken_then_one_batch_with_each_id_once():
    queue = W.ContactQueue(window=0.2, quiet=0.05)
    assert queue.add(["1", "2"]) == 2 and queue.add(["2", "3"]) == 1
    assert queue.take(threading.Event()) == ["1", "2", "3"]
    assert len(queue) == 0


def test_given_ids_arriving_while_taking_when_taken_then_they_join_the_burst():
    queue = W.ContactQueue(window=5.0, quiet=0.3)
    queue.add(["1"])
    feeder = threading.Timer(0.05, lambda: queue.add(["2"]))
    feeder.start()
    taken = queue.take(threading.Event())
    feeder.join()
    assert taken == ["1", "2"]


def test_given_stopping_and_nothing_queued_when_taken_then_empty():
    stopping = threading.Event()
    stopping.set()
    assert W.ContactQueue().take(stopping) == []


# -- the receiver ---------------------------------------------------------------------------------------

def call(receiver, body: bytes, *, signature=None, timestamp=None, method="POST", path="/hubspot/webhooks",
         host="127.0.0.1:8787", query=""):
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "HTTP_HOST": host,
               "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body), "REMOTE_ADDR": "127.0.0.1"}
    if signature is not None:
        environ["HTTP_X_HUBSPOT_SIGNATURE_V3"] = signature
    if timestamp is not None:
        environ["HTTP_X_HUBSPOT_REQUEST_TIMESTAMP"] = timestamp
    answer = {}

    def start_response(status, headers):
        answer["status"], answer["headers"] = status, dict(headers)
    answer["body"] = b"".join(receiver(environ, start_response))
    return answer


def receiver(public_url=""):
    return Receiver(SECRET, "/hubspot/webhooks", W.ContactQueue(window=0.05, quiet=0.01), public_url=public_url,
                    clock=lambda: TS + 500)


def test_given_signed_delivery_when_received_then_204_and_contacts_queued():
    rx = receiver()
    body = body_of(event(), event(eventId=101, objectId=124))
    signature = independent(SECRET, "POST" + "http://127.0.0.1:8787/hubspot/webhooks" + body.decode() + str(TS))
    assert call(rx, body, signature=signature, timestamp=str(TS))["status"] == "204 No Content"
    assert rx.queue.take(threading.Event()) == ["123", "124"]
    assert (rx.tally.accepted, rx.tally.refused, rx.tally.queued) == (1, 0, 2)


def test_given_public_url_when_received_then_signature_is_over_the_url_hubspot_called():
    rx = receiver(public_url=URL)
    body = body_of(event())
    over_public = independent(SECRET, "POST" + URL + body.decode() + str(TS))
    over_local = independent(SECRET, "POST" + "http://127.0.0.1:8787/hubspot/webhooks" + body.decode() + str(TS))
    assert call(rx, body, signature=over_local, timestamp=str(TS))["status"] == "401 Unauthorized"
    assert call(rx, body, signature=over_public, timestamp=str(TS))["status"] == "204 No Content"
    query = "portal=1%3A2"
    with_query = independent(SECRET, "POST" + URL + "?portal=1:2" + body.decode() + str(TS))
    assert call(rx, body, signature=with_query, timestamp=str(TS), query=query)["status"] == "204 No Content"


def test_given_forged_or_stale_delivery_when_received_then_401_nothing_queued_and_secret_never_logged(caplog):
    rx = receiver()
    body = body_of(event())
    local = "http://127.0.0.1:8787/hubspot/webhooks"
    forged = independent("guessed-secret", "POST" + local + body.decode() + str(TS))
    stale_ts = str(TS - 400_000)
    stale = independent(SECRET, "POST" + local + body.decode() + stale_ts)
    with caplog.at_level(logging.DEBUG, logger="leadsync.webhooks"):
        answers = [call(rx, body, signature=forged, timestamp=str(TS))["status"],
                   call(rx, body, signature=stale, timestamp=stale_ts)["status"],
                   call(rx, body)["status"]]
    assert answers == ["401 Unauthorized"] * 3
    assert len(rx.queue) == 0 and rx.tally.refused == 3 and rx.tally.accepted == 0
    assert SECRET not in caplog.text and SECRET not in repr(rx)
    assert "the signature does not match" in caplog.text and "old" in caplog.text


def test_given_other_requests_when_received_then_404_405_400_413():
    rx = receiver()
    bad = b'{"not": "an array"}'
    signature = independent(SECRET, "POST" + "http://127.0.0.1:8787/hubspot/webhooks" + bad.decode() + str(TS))
    assert call(rx, b"", path="/elsewhere")["status"] == "404 Not Found"
    assert call(rx, b"", method="GET")["status"] == "405 Method Not Allowed"
    assert call(rx, bad, signature=signature, timestamp=str(TS))["status"] == "400 Bad Request"
    answer = {}
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/hubspot/webhooks", "CONTENT_LENGTH": str(2_000_000),
               "wsgi.input": io.BytesIO(b"")}
    rx(environ, lambda status, headers: answer.update(status=status))
    assert answer["status"] == "413 Content Too Large"
    assert len(rx.queue) == 0


# -- the [webhooks] section --------------------------------------------------------------------------------

def test_given_webhooks_section_when_parsed_then_settings_and_defaults():
    config = parse_config({"webhooks": {"port": 8787, "public_url": URL, "coalesce_seconds": 0.5}}, "c.toml")
    hooks = config.webhooks
    assert (hooks.port, hooks.host, hooks.path, hooks.public_url, hooks.secret_env, hooks.coalesce_seconds) == (
        8787, "127.0.0.1", "/hubspot/webhooks", URL, "HUBSPOT_CLIENT_SECRET", 0.5)
    assert parse_config({}, "c.toml").webhooks.port == 0          # off unless asked for
    slash = parse_config({"webhooks": {"path": "/hooks/", "public_url": "https://x.example.com/hooks/"}}, "c.toml")
    assert slash.webhooks.public_url == "https://x.example.com/hooks/"   # kept exactly: it is signed


@pytest.mark.parametrize("section, message", [
    ({"port": 99999}, "webhooks.port: expected a port number"),
    ({"path": "hubspot"}, "webhooks.path: 'hubspot' is not a URL path"),
    ({"public_url": "leadsync.example.com/hooks"}, "webhooks.public_url: 'leadsync.example.com/hooks' is not an http(s) URL"),
    ({"public_url": "https://leadsync.example.com/other"}, "webhooks.public_url: its path '/other' is not webhooks.path"),
    ({"public_url": URL + "?a=1"}, "webhooks.public_url: has a query string"),
    ({"secret_env": "shh-the-secret"}, "webhooks.secret_env: 'shh-the-secret' is not an environment variable name"),
    ({"coalesce_seconds": 30}, "webhooks.coalesce_seconds: at most 10 seconds"),
    ({"coalesce_seconds": 0}, "webhooks.coalesce_seconds: expected a positive number of seconds"),
    ({"secret": "abc"}, "webhooks.secret: unknown key"),
])
def test_given_invalid_webhooks_section_when_parsed_then_error_names_file_key_and_reason(section, message):
    with pytest.raises(ConfigError) as caught:
        parse_config({"webhooks": section}, "leadsync.toml")
    assert f"leadsync.toml: {message}" in str(caught.value)


def test_given_webhook_secret_env_when_read_then_value_redacted_and_missing_one_named():
    config = parse_config({"webhooks": {"port": 8787, "secret_env": "LS_HOOK_SECRET"}}, "c.toml")
    secrets = Secrets(config, {"LS_HOOK_SECRET": SECRET})
    assert secrets.webhook_secret() == SECRET and SECRET in secrets.all_values() and SECRET not in repr(secrets)
    with pytest.raises(ConfigError, match=r"c\.toml: webhooks\.secret_env: environment variable LS_HOOK_SECRET is not set"):
        Secrets(config, {}).webhook_secret()
