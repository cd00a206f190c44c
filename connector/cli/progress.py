"""Progress for long work (a first sync of 20,000 contacts, a resync, a simulation), on a
terminal only: a rich progress display on stderr when stderr is a terminal, nothing at all when
it is piped or logged, so scripts and CI see exactly the output they always saw."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, TextIO, TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

T = TypeVar("T")


class Reporter:
    """What long work calls: ``step(what, n)`` counts, ``phase(text)`` names what is going on."""

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress
        self._tasks: dict[str, Any] = {}

    @property
    def shown(self) -> bool:
        return self._progress is not None

    def step(self, what: str, n: int = 1, total: int | None = None) -> None:
        if self._progress is None:
            return
        if what not in self._tasks:
            self._tasks[what] = self._progress.add_task(what, total=total)
        self._progress.advance(self._tasks[what], n)

    def phase(self, text: str) -> None:
        self.step(text, 0)

    def track(self, items: Iterable[T], what: str, total: int | None = None) -> Iterator[T]:
        for item in items:
            yield item
            self.step(what, 1, total)


def on_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


@contextmanager
def progress(stream: TextIO | None = None) -> Iterator[Reporter]:
    stream = stream or sys.stderr
    if not on_terminal(stream):
        yield Reporter(None)
        return
    display = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                       TimeElapsedColumn(), console=Console(file=stream), transient=True)
    with display:
        yield Reporter(display)


class CountingPulls:
    """Wraps an adapter so every batch it pulls advances the progress display ("pulled from
    HubSpot 12,400"); everything else passes straight through."""

    PULLS = {"changed_people": "contacts pulled from {name}", "changed_records": "records pulled from {name}"}

    def __init__(self, adapter: Any, reporter: Reporter) -> None:
        self._adapter, self._reporter = adapter, reporter

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._adapter, name)
        if name not in self.PULLS:
            return attribute
        label = self.PULLS[name].format(name=getattr(self._adapter, "name", "the system"))

        def batches(*args: Any, **kwargs: Any) -> Iterator[Any]:
            for batch in attribute(*args, **kwargs):
                self._reporter.step(label, len(batch or ()))
                yield batch
        return batches


def count_pulls(engine: Any, reporter: Reporter) -> None:
    """Show the engine's pulls on the terminal (once; a no-op when nothing is shown)."""
    if not reporter.shown:
        return
    for side in ("marketing", "crm"):
        adapter = getattr(engine, side, None)
        if adapter is not None and not isinstance(adapter, CountingPulls):
            setattr(engine, side, CountingPulls(adapter, reporter))
