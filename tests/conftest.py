"""Shared fixtures: state stores (SQLite always; PostgreSQL when LEADSYNC_TEST_PG_URL is set)."""

from __future__ import annotations

import os
import uuid
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

PG_URL = os.environ.get("LEADSYNC_TEST_PG_URL")


def _pg_schema_url(base: str):
    """A fresh PostgreSQL schema per test: isolated, and dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    url = f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    return url, lambda: _drop(admin, schema)


def _drop(admin, schema: str) -> None:
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite"] + (["postgresql"] if PG_URL else []))
def state_url(request, tmp_path):
    """A state store URL: SQLite in a temp dir, and the same test again on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    url, cleanup = _pg_schema_url(PG_URL)
    try:
        yield url
    finally:
        cleanup()


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'state.db'}"


@pytest.fixture
def start_sandbox(tmp_path_factory):
    """Starts built-in sandboxes (certificates shared by the session); stops them afterwards."""
    from leadsync_sandbox.server import Sandbox
    started = []

    def start(people: int = 150):
        sandbox = Sandbox(tmp_path_factory.getbasetemp() / "sandbox-certs", people=people)
        sandbox.start()
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def sandbox_config(monkeypatch, tmp_path):
    """Points leadsync at a sandbox: its credentials and CA bundle in the environment, and a
    config file using the given state store. Returns the config path."""
    def connect(sandbox, state_url: str) -> str:
        for key, value in sandbox.env().items():
            monkeypatch.setenv(key, value)
        path = tmp_path / "leadsync.toml"
        sandbox.write_config(path, state_url)
        return str(path)
    return connect
