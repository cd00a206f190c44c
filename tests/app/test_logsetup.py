"""Logs are text or JSON lines, and no secret (nor, with redact_pii, email or phone) gets out."""

from __future__ import annotations

import io
import json
import logging

import pytest

from connector.app.config import LoggingConfig
from connector.app.logsetup import configure_logging
from connector.core.redact import Redactor

SECRET = "pat-na1-0123456789abcdef"


@pytest.fixture
def output():
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    yield stream
    for handler in [h for h in root.handlers if getattr(h, "_leadsync_handler", False)]:
        root.removeHandler(handler)
    root.setLevel(level)


def emit(stream, fmt="text", redact_pii=False, level="INFO"):
    configure_logging(LoggingConfig(format=fmt, level=level, redact_pii=redact_pii),
                      Redactor([SECRET], redact_pii=redact_pii), stream)
    log = logging.getLogger("leadsync.test")
    log.info("handed off %s with token %s", "ann@acme.com", SECRET, extra={"run_id": 7, "auth": f"Bearer {SECRET}"})
    log.debug("hidden below INFO")
    try:
        raise RuntimeError(f"server said {SECRET} is bad, call +1 415 555 0100")
    except RuntimeError:
        log.exception("cycle failed")
    return stream.getvalue()


def test_given_json_format_when_logging_then_one_object_per_line_with_extra_fields(output):
    lines = [json.loads(line) for line in emit(output, "json").splitlines()]
    assert len(lines) == 2
    first = lines[0]
    assert {"ts", "level", "logger", "message"} <= set(first)
    assert (first["level"], first["logger"], first["run_id"]) == ("INFO", "leadsync.test", 7)
    assert first["message"] == "handed off ann@acme.com with token ***"
    assert first["auth"] == "Bearer ***"
    assert "RuntimeError" in lines[1]["exception"]


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_given_secret_anywhere_in_a_record_when_logging_then_never_emitted(output, fmt):
    assert SECRET not in emit(output, fmt)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_given_redact_pii_when_logging_then_emails_and_phones_masked(output, fmt):
    text = emit(output, fmt, redact_pii=True)
    assert "ann@acme.com" not in text and "a***@acme.com" in text
    assert "555 0100" not in text


def test_given_text_format_when_logging_then_level_logger_message_and_extras_on_one_line(output):
    first = emit(output).splitlines()[0]
    assert " INFO leadsync.test: handed off ann@acme.com with token ***" in first
    assert first.endswith('run_id=7 auth="Bearer ***"')


def test_given_configured_twice_when_logging_then_each_line_once(output):
    configure_logging(LoggingConfig(), Redactor([]), output)
    configure_logging(LoggingConfig(), Redactor([]), output)
    logging.getLogger("leadsync.test").warning("once")
    assert output.getvalue().count("once") == 1


def test_given_debug_level_when_logging_then_debug_lines_pass(output):
    assert "hidden below INFO" in emit(output, level="DEBUG")


def test_given_text_format_when_daemon_logs_a_cycle_then_fields_are_key_value_pairs_not_a_dict(output):
    configure_logging(LoggingConfig(format="text", level="INFO"), Redactor([]), output)
    logging.getLogger("leadsync.daemon").info("hubspot cycle 4: ok", extra={
        "run_id": 4, "outcome": "ok", "counts": {"handed_off": 2, "written_hubspot": 0}, "message_id": "a b"})
    line = output.getvalue().strip()
    assert line.endswith('hubspot cycle 4: ok run_id=4 outcome=ok counts.handed_off=2 message_id="a b"')
    assert "{" not in line


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_given_redact_pii_when_logging_then_timestamps_keep_every_digit(output, fmt):
    configure_logging(LoggingConfig(format=fmt, level="INFO", redact_pii=True), Redactor([], redact_pii=True), output)
    logging.getLogger("leadsync.test").info("handed off at 2026-11-24 12:34:56 and 2026-11-24T12:34:56+00:00, "
                                            "call +1 415 555 0100")
    text = output.getvalue()
    assert "2026-11-24 12:34:56" in text and "2026-11-24T12:34:56+00:00" in text
    assert "555 0100" not in text
    first = text.split(" INFO")[0] if fmt == "text" else json.loads(text)["ts"]
    assert len(first) >= 19 and "***" not in first
