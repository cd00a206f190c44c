"""Progress shows on a terminal only: piped output stays exactly what scripts always saw."""

from __future__ import annotations

import io

from connector.cli.progress import CountingPulls, count_pulls, progress


class Tty(io.StringIO):
    def isatty(self):
        return True


class Adapter:
    name = "hubspot"

    def changed_people(self, since, until):
        yield [1, 2, 3]
        yield [4, 5]

    def people(self, ids):
        return ids


def test_given_piped_stderr_when_work_reports_progress_then_nothing_is_printed_and_adapters_untouched():
    stream = io.StringIO()
    engine = type("E", (), {"marketing": Adapter(), "crm": None})()
    with progress(stream) as shown:
        count_pulls(engine, shown)
        assert list(shown.track([1, 2], "people replayed", total=2)) == [1, 2]
        shown.step("contacts pulled", 5)
    assert stream.getvalue() == "" and isinstance(engine.marketing, Adapter)


def test_given_terminal_when_pulling_then_batches_counted_and_data_passes_through_unchanged():
    stream = Tty()
    with progress(stream) as shown:
        wrapped = CountingPulls(Adapter(), shown)
        assert list(wrapped.changed_people(None, None)) == [[1, 2, 3], [4, 5]]
        assert wrapped.people(["a"]) == ["a"]
        task = shown._tasks["contacts pulled from hubspot"]
        assert shown._progress.tasks[task].completed == 5
    assert shown.shown
