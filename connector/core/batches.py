"""Splitting work into the batch sizes the APIs take."""

from __future__ import annotations

from typing import Iterable, Iterator, Sequence, TypeVar

T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> Iterator[list[T]]:
    """Consecutive slices of at most ``size`` (the last may be shorter)."""
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


def unique(items: Iterable[str | None]) -> list[str]:
    """The non-blank values in first-seen order, each once."""
    return list(dict.fromkeys(i for i in items if i))
