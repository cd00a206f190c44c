"""Helpers for the fault-injection suite: a seeded sandbox, a runtime on it whose HTTP policy
waits on virtual time, hooks that act after the Nth call, and snapshots of both systems.

The yardstick for "nothing lost" is a fault-free run on an identically seeded sandbox: after
the faults (and whatever later cycles they need), both systems must hold what that run left,
or differ exactly by the records leadsync quarantined and says so.

Why virtual time, and how: backoff, Retry-After waits and pacing are real code paths worth
exercising, but not worth waiting for. ``wiring.build_adapters`` builds the one ``HttpPolicy``
with ``time.monotonic``/``time.sleep``; the tests swap the ``HttpPolicy`` name in that module
for a constructor that passes a ``VirtualTime`` clock and sleep. Nothing in the product's
configuration changes, and every wait the policy decides on is still computed and recorded
(``VirtualTime.waits``), so tests can assert on it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from connector.app.runtime import Runtime
from leadsync_sandbox.server import Sandbox
from connector.transport.policy import HttpPolicy
from tests.crm_helpers import TASK_SUBJECT, driver_for  # noqa: F401  (TASK_SUBJECT: re-exported)

SEED = 7
PEOPLE = 60
ROOMY = 1_000_000     # sandbox limits that never get in the way unless a test lowers them


class VirtualTime:
    """A monotonic clock that only moves when someone sleeps on it. Thread-safe."""

    def __init__(self, start: float = 1_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self.waits: list[float] = []

    def monotonic(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        # Like a real sleep, time always moves on a little: a pacer's tiny top-up waits
        # (float rounding leaves a token at 0.999…) must not spin forever.
        with self._lock:
            self._now += max(1e-6, seconds)
            self.waits.append(seconds)

    @property
    def slept(self) -> float:
        with self._lock:
            return sum(self.waits)


class Clock:
    """The engine's clock: wall time plus an offset a test can move forward."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


def virtual_policy(monkeypatch: Any, vtime: VirtualTime) -> None:
    """Every HttpPolicy the wiring builds from now on sleeps and paces on ``vtime``."""
    def build(settings: Any = None) -> HttpPolicy:
        return HttpPolicy(settings, clock=vtime.monotonic, sleep=vtime.sleep)
    monkeypatch.setattr("connector.app.wiring.HttpPolicy", build)


def new_sandbox(directory: Path, *, people: int = PEOPLE, roomy: bool = True, **kwargs: Any) -> Sandbox:
    """A started sandbox seeded like every other one in the suite. ``roomy``: HubSpot's burst and
    search limits are out of the way (a test of the limits lowers them again)."""
    sandbox = Sandbox(directory, seed=SEED, people=people, hubspot_rate_per_10s=ROOMY if roomy else 100, **kwargs)
    if roomy:
        sandbox.hubspot.limits.search_per_second = ROOMY
    return sandbox.start()


def write_config(sandbox: Sandbox, directory: Path, state_url: str | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return sandbox.write_config(directory / "leadsync.toml", state_url or f"sqlite:///{directory / 'state.db'}")


def sandbox_env(sandbox: Sandbox) -> dict[str, str]:
    """The sandbox's environment, trusting its CA alone: tests never reach anything else, and
    loading the system's whole bundle on every loopback connection is most of a cycle's time."""
    assert sandbox.certs is not None
    return {**sandbox.env(), "REQUESTS_CA_BUNDLE": str(sandbox.certs.ca_path)}


def runtime_for(sandbox: Sandbox, config: Path, monkeypatch: Any, clock: Clock | None = None,
                environ: dict[str, str] | None = None) -> Runtime:
    for key, value in sandbox_env(sandbox).items():
        monkeypatch.setenv(key, value)
    for key, value in (environ or {}).items():
        monkeypatch.setenv(key, value)
    return Runtime.from_config_path(str(config), clock=clock or Clock())


# -- acting at the right moment --------------------------------------------------------------------

@dataclass
class CallHook:
    """Runs ``action`` once, right after the sandbox answered the ``after``-th call matching
    ``system`` and ``path`` (substring), before the client reads that answer: the next call
    sees the changed world. Deterministic, unlike a timer."""

    system: str
    after: int
    action: Callable[[], None]
    path: str = ""
    method: str | None = None
    seen: int = 0
    fired: bool = False


def install_hooks(sandbox: Sandbox, *hooks: CallHook) -> None:
    original = sandbox.calls.record
    lock = threading.Lock()

    def record(system: str, method: str, path: str, status: int, write: bool, *rest: Any) -> None:
        original(system, method, path, status, write, *rest)
        for hook in hooks:
            with lock:
                match = (hook.system == system and hook.path in path
                         and (hook.method is None or hook.method == method.upper()) and not hook.fired)
                if match:
                    hook.seen += 1
                    due = hook.seen >= hook.after
                    hook.fired = hook.fired or due
                else:
                    due = False
            if due:
                hook.action()

    sandbox.calls.record = record   # type: ignore[method-assign]


# -- what both systems hold ------------------------------------------------------------------------

def snapshot(sandbox: Sandbox) -> dict[str, dict[str, Any]]:
    """The synced state of both systems, keyed by HubSpot contact id (crm_helpers.Driver.snapshot)."""
    return driver_for(sandbox).snapshot()


def assert_no_duplicates(sandbox: Sandbox) -> None:
    driver_for(sandbox).assert_no_duplicates()


def differing(expected: dict[str, dict[str, Any]], actual: dict[str, dict[str, Any]]) -> dict[str, set[str]]:
    """Per system, the HubSpot ids whose synced values differ between two snapshots."""
    return {side: {k for k in set(expected[side]) | set(actual[side]) if expected[side].get(k) != actual[side].get(k)}
            for side in ("hubspot", "crm")}


def assert_same_as(expected: dict[str, dict[str, Any]], sandbox: Sandbox) -> None:
    actual = snapshot(sandbox)
    diff = differing(expected, actual)
    detail = {side: {k: (expected[side].get(k), actual[side].get(k)) for k in sorted(ids)[:3]}
              for side, ids in diff.items() if ids}
    assert not any(diff.values()), f"differs from the fault-free run: {detail}"
    assert_no_duplicates(sandbox)


_BASELINES: dict[tuple[int, int, str], dict[str, dict[str, Any]]] = {}
_BASELINE_LOCK = threading.Lock()


def fault_free(directory: Path, monkeypatch: Any, *, people: int = PEOPLE,
               crm: str = "salesforce") -> dict[str, dict[str, Any]]:
    """The snapshot a fault-free sync leaves on a sandbox seeded like the tests' (computed once per
    size and CRM and reused: the seed is deterministic and every timestamp is relative to its start)."""
    key = (SEED, people, crm)
    with _BASELINE_LOCK:
        if key not in _BASELINES:
            with new_sandbox(directory / "sandbox-certs", people=people, crm=crm) as sandbox, \
                    monkeypatch.context() as m:
                virtual_policy(m, VirtualTime())
                with runtime_for(sandbox, write_config(sandbox, directory / f"baseline-{crm}-{people}"), m) as rt:
                    first = rt.sync()
                    assert first.outcome == "ok", first.message
                    assert rt.sync().counts["written_crm"] == 0     # settled after one cycle
                _BASELINES[key] = snapshot(sandbox)
                assert_no_duplicates(sandbox)
        return _BASELINES[key]


def wait_until(condition: Callable[[], bool], timeout: float = 20.0, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


def handed_off_ids(expected: dict[str, dict[str, Any]]) -> list[str]:
    """HubSpot ids the fault-free run hands off, in a stable order (not the people whose record
    sales already had: those are linked on the first run, not handed off)."""
    return sorted((k for k in expected["crm"] if expected["hubspot"].get(k, {}).get("handoff_at")), key=int)


def iter_stage(expected: dict[str, dict[str, Any]], stage: str) -> Iterator[str]:
    return (k for k, v in sorted(expected["hubspot"].items(), key=lambda kv: int(kv[0]))
            if v["leadsync_stage"] == stage)


@dataclass
class FaultRun:
    """What a test drove: the runtime, its engine clock and the policy's virtual time."""

    rt: Runtime
    clock: Clock
    vtime: VirtualTime
    summaries: list[Any] = field(default_factory=list)

    def sync(self) -> Any:
        summary = self.rt.sync()
        self.summaries.append(summary)
        return summary


def forget_sign_in(rt: Runtime) -> None:
    """The CRM adapter's token is dropped: its next call signs in again."""
    crm = rt.engine().crm
    auth = getattr(crm, "auth", None) or crm.client.auth
    auth._token = None


# -- fixtures (import the ones a module uses) --------------------------------------------------------

import pytest  # noqa: E402  (fixtures below; helpers above stay importable without pytest's plugins)


@pytest.fixture
def certs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One CA for the whole session: generating certificates per sandbox is slow."""
    return tmp_path_factory.getbasetemp() / "sandbox-certs"


@pytest.fixture(scope="module")
def crm_name() -> str:
    """The CRM of a module's sandboxes; crm_helpers' fixture of the same name runs both."""
    return "salesforce"


@pytest.fixture
def expected(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
             crm_name: str) -> dict[str, dict[str, Any]]:
    return fault_free(tmp_path_factory.getbasetemp(), monkeypatch, crm=crm_name)


@pytest.fixture
def sandbox(certs_dir: Path, expected: dict[str, dict[str, Any]], crm_name: str) -> Iterator[Sandbox]:
    with new_sandbox(certs_dir, crm=crm_name) as running:
        yield running


@pytest.fixture
def config(sandbox: Sandbox, tmp_path: Path) -> Path:
    return write_config(sandbox, tmp_path)


@pytest.fixture
def run(sandbox: Sandbox, config: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultRun]:
    vtime, clock = VirtualTime(), Clock()
    virtual_policy(monkeypatch, vtime)
    with runtime_for(sandbox, config, monkeypatch, clock) as rt:
        # The readiness check a process runs before its first write happens here, before a
        # test injects its faults: the faults are meant for the cycle.
        rt.preflight()
        forget_sign_in(rt)   # the cycle signs in itself, as the tests' faults expect
        yield FaultRun(rt, clock, vtime)
