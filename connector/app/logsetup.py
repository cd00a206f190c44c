"""Logging for long-running leadsync: readable text or JSON lines for a log shipper.

The Redactor sits on the handler, so every record that reaches the output, from leadsync or
from a library (APScheduler, urllib3), is masked: secrets always, emails and phones with
``redact_pii``. Extra fields and tracebacks are masked too: a secret can hide in either.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any, TextIO

from connector.app.config import LoggingConfig
from connector.core.redact import Redactor

# Attributes every LogRecord has; anything else on a record came in through ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}
_MARKER = "_leadsync_handler"


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


def _masked(value: Any, redactor: Redactor) -> Any:
    if isinstance(value, str):
        return redactor(value)
    if isinstance(value, dict):
        return {k: _masked(v, redactor) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_masked(v, redactor) for v in value]
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return redactor(str(value))


class JsonLines(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, then the record's extra fields."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        line = {"ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                "level": record.levelname, "logger": record.name, "message": self.redactor(record.getMessage())}
        for key, value in extra_fields(record).items():
            line.setdefault(key, _masked(value, self.redactor))
        if record.exc_info:
            line["exception"] = self.redactor(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False, default=str)


class Text(logging.Formatter):
    """``2026-11-24 12:00:00,123 INFO leadsync.daemon: message run_id=7 counts.handed_off=2``

    Extra fields are ``key=value`` pairs a log search can filter on: nested values are flattened
    (``counts.handed_off=2``; zero counts are left out), values with spaces are quoted. The
    timestamp is never masked: only the message, the fields and a traceback pass the redactor."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        head = f"{self.formatTime(record)} {record.levelname} {record.name}: "
        text = self.redactor(record.getMessage())
        pairs = key_values(extra_fields(record))
        if pairs:
            text += " " + self.redactor(" ".join(pairs))
        if record.exc_info:
            text += "\n" + self.redactor(self.formatException(record.exc_info))
        return head + text


def key_values(fields: dict[str, Any], prefix: str = "") -> list[str]:
    pairs = []
    for key, value in fields.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            pairs += key_values({k: v for k, v in value.items() if v not in (0, None, "", {}, [])}, f"{name}.")
        else:
            pairs.append(f"{name}={_scalar(value)}")
    return pairs


def _scalar(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        value = ",".join(str(v) for v in value)
    text = "" if value is None else str(value)
    return json.dumps(text, ensure_ascii=False) if not text or any(c.isspace() or c in '"=' for c in text) else text


def configure_logging(config: LoggingConfig, redactor: Redactor, stream: TextIO | None = None) -> logging.Handler:
    """Install leadsync's one handler on the root logger (replacing a previous one, so calling
    this twice never doubles every line). Returns the handler."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _MARKER, False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    setattr(handler, _MARKER, True)
    handler.addFilter(redactor)
    handler.setFormatter(JsonLines(redactor) if config.format == "json" else Text(redactor))
    root.addHandler(handler)
    root.setLevel(config.level)
    # One line per HTTP connection is noise at INFO; APScheduler's per-run lines too.
    for chatty in ("urllib3", "apscheduler.executors"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLevelName(config.level)))
    return handler
