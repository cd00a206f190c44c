"""Prometheus metrics from cycle summaries, and the health check's verdict over time."""

from __future__ import annotations

import urllib.error
import urllib.request
from datetime import timedelta

import pytest

from connector.app.metrics import Metrics
from connector.engine.summary import Summary


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def summary(kind="hubspot", outcome="ok", calls=5, remaining=9_000, **counts):
    s = Summary(kind=kind, outcome=outcome)
    s.counts.update(counts)
    s.api = {"hubspot": {"calls": calls, "remaining": remaining}, "salesforce": {"calls": 2, "remaining": None}}
    return s


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def metrics(clock):
    return Metrics(timedelta(seconds=15), clock=clock)


def value(m: Metrics, name: str, **labels) -> float | None:
    return m.registry.get_sample_value(name, labels)


def test_given_two_cycles_when_recorded_then_counters_add_up_per_kind_outcome_and_system(metrics):
    metrics.record_summary(summary(pulled_hubspot=40, pulled_crm=3, written_hubspot=5, written_crm=1, handed_off=1))
    metrics.record_summary(summary(kind="salesforce", outcome="partial", pulled_crm=7, quarantined=2))
    assert value(metrics, "leadsync_cycles_total", kind="hubspot", outcome="ok") == 1
    assert value(metrics, "leadsync_cycles_total", kind="salesforce", outcome="partial") == 1
    assert value(metrics, "leadsync_records_pulled_total", system="salesforce") == 10
    assert value(metrics, "leadsync_records_written_total", system="hubspot") == 5
    assert value(metrics, "leadsync_records_quarantined_total") == 2
    assert value(metrics, "leadsync_handoffs_total") == 1


def test_given_running_total_of_api_calls_when_recorded_then_counter_grows_by_the_difference(metrics):
    for calls in (5, 12, 12, 3):          # 3: a new transport started counting again
        metrics.record_summary(summary(calls=calls, remaining=9_000 - calls))
    assert value(metrics, "leadsync_api_calls_total", system="hubspot") == 5 + 7 + 0 + 3
    assert value(metrics, "leadsync_api_remaining", system="hubspot") == 8_997
    assert value(metrics, "leadsync_api_remaining", system="salesforce") is None    # never reported


def test_given_failed_cycle_when_recorded_then_counted_and_no_success_time(metrics):
    metrics.record_failure("hubspot")
    assert value(metrics, "leadsync_cycles_total", kind="hubspot", outcome="failed") == 1
    assert value(metrics, "leadsync_last_success_timestamp_seconds", kind="hubspot") is None


def test_given_no_cycle_yet_when_checked_then_healthy_while_starting_then_unhealthy(metrics, clock):
    assert metrics.health().ok and "starting" in metrics.health().reason
    clock.now += 46
    assert not metrics.health().ok and "no successful cycle" in metrics.health().reason


def test_given_success_when_time_passes_then_healthy_until_three_intervals(metrics, clock):
    metrics.record_summary(summary())
    clock.now += 45
    assert metrics.health().ok
    metrics.record_summary(summary(outcome="failed"))
    clock.now += 1
    health = metrics.health()
    assert not health.ok and "46s ago, more than 45s" in health.reason and "failed" in health.reason


def test_given_stopped_on_quota_when_recorded_then_not_counted_as_success(metrics, clock):
    metrics.record_summary(summary(outcome="stopped"))
    assert metrics.last_success is None


def test_given_sla_check_when_recorded_then_breach_gauges_and_queue_set(metrics):
    metrics.record_sla({"first touch after deadline": 2, "too few touches": 0}, waiting=4)
    assert value(metrics, "leadsync_sla_breaches", breach="first touch after deadline") == 2
    assert value(metrics, "leadsync_queue_waiting") == 4


def test_given_server_when_scraped_then_metrics_and_health_over_http(metrics, clock):
    server = metrics.serve("127.0.0.1", 0)
    base = f"http://127.0.0.1:{server.port}"
    try:
        metrics.record_summary(summary(handed_off=3))
        body = urllib.request.urlopen(f"{base}/metrics", timeout=5).read().decode()
        assert 'leadsync_cycles_total{kind="hubspot",outcome="ok"} 1.0' in body
        assert "leadsync_handoffs_total 3.0" in body
        assert urllib.request.urlopen(f"{base}/healthz", timeout=5).status == 200
        clock.now += 100
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(f"{base}/healthz", timeout=5)
        assert failed.value.code == 503 and b"more than 45s" in failed.value.read()
    finally:
        server.stop()


def test_given_two_metrics_objects_when_created_then_registries_do_not_collide(clock):
    a, b = Metrics(timedelta(seconds=1), clock), Metrics(timedelta(seconds=1), clock)
    a.record_summary(summary())
    assert value(b, "leadsync_cycles_total", kind="hubspot", outcome="ok") is None
