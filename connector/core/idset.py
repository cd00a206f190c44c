"""A set of record ids that stays small when it holds a whole portal or org.

A first run remembers ids by the hundred thousand: the ones a keyset read has yielded (so a
record written meanwhile is not yielded twice), the CRM's unconverted Leads, the people with
activities the pass has not met yet. In a Python ``set`` each id costs its string or int
object plus the set's slot, about 60 to 100 bytes; a million of them is 60 to 100 MB. Here an
id that packs into 64 bits (a HubSpot id: digits; a Salesforce id: 15 or 18 letters and
digits) is one slot of an open-addressing table in an ``array('Q')``: 8 bytes a slot, kept
between 0.35 and 0.7 full (it doubles past 0.7), so 11 to 23 bytes an id. Anything else (a SugarCRM UUID) goes in an
ordinary set.

Exact, not probabilistic: the packing is one-to-one, and ``iter`` gives the ids back as the
strings they were.
"""

from __future__ import annotations

import threading
from array import array
from typing import Iterable, Iterator

EMPTY, GONE = 0, 1                     # slot markers; every packed id is above both
_TAG_DIGITS, _TAG_SF18, _TAG_SF15 = 1, 2, 3   # the top two bits: how the id is packed
_TAG_SHIFT = 62
_PREFIX_SHIFT = 54                     # Salesforce: 8 bits for the id's first six characters...
_PREFIXES = 1 << (_TAG_SHIFT - _PREFIX_SHIFT)
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_DIGIT = {c: i for i, c in enumerate(_BASE62)}
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_GOLDEN = 0x9E3779B97F4A7C15          # Fibonacci hashing: spreads sequential ids over the table
_MASK64 = (1 << 64) - 1


class SetOfIds:
    """A set's single-id calls and truth, from the batch calls and ``len`` a set of ids has."""

    __slots__ = ()

    def update(self, ids: Iterable[str]) -> None:
        raise NotImplementedError

    def difference_update(self, ids: Iterable[str]) -> None:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def add(self, record_id: str) -> None:
        self.update((record_id,))

    def discard(self, record_id: str) -> None:
        self.difference_update((record_id,))

    def __bool__(self) -> bool:
        return len(self) > 0


class IdSet(SetOfIds):
    """``set[str]``'s add/discard/membership/len/iteration for record ids, compactly."""

    __slots__ = ("_slots", "_used", "_filled", "_prefixes", "_prefix_of", "_other", "_lock")

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._slots = array("Q", bytes(8 << 10))
        self._used = 0        # ids held in the table
        self._filled = 0      # slots not EMPTY (ids and GONE markers)
        self._prefixes: list[str] = []          # ...a Salesforce id's first six characters, by number
        self._prefix_of: dict[str, int] = {}
        self._other: set[str] = set()
        self._lock = threading.Lock()    # one writer at a time; readers need none
        self.update(ids)

    # -- set's interface ---------------------------------------------------------------------------
    def update(self, ids: Iterable[str]) -> None:
        with self._lock:
            for record_id in ids:
                self._add(record_id)

    def difference_update(self, ids: Iterable[str]) -> None:
        with self._lock:
            for record_id in ids:
                self._discard(record_id)

    def _add(self, record_id: str) -> None:
        key = self._pack(record_id, create=True)
        if key is None:
            self._other.add(record_id)
            return
        slot, found = self._find(key)
        if found:
            return
        if self._slots[slot] == EMPTY:
            self._filled += 1
        self._slots[slot] = key
        self._used += 1
        if 10 * self._filled > 7 * len(self._slots):     # (linear probing stays short below 0.7)
            self._resize()

    def _discard(self, record_id: str) -> None:
        key = self._pack(record_id, create=False)
        if key is None:
            self._other.discard(record_id)
            return
        slot, found = self._find(key)
        if found:
            self._slots[slot] = GONE
            self._used -= 1

    def __contains__(self, record_id: object) -> bool:
        if not isinstance(record_id, str):
            return False
        key = self._pack(record_id, create=False)
        if key is None:
            return record_id in self._other
        return self._find(key)[1]

    def __len__(self) -> int:
        return self._used + len(self._other)

    def __iter__(self) -> Iterator[str]:
        for key in self._slots:
            if key > GONE:
                yield self._unpack(key)
        yield from self._other

    @property
    def table_bytes(self) -> int:
        """What the table itself takes (the ordinary set for other ids aside)."""
        return self._slots.itemsize * len(self._slots)

    # -- the table ---------------------------------------------------------------------------------
    def _find(self, key: int, slots: array | None = None) -> tuple[int, bool]:
        """(slot, held): the slot holding ``key``, or where it would go (the first GONE marker
        on its probe path, else the EMPTY slot that ends the path). The table is read once, so
        a reader on another thread sees the old table or the new one, never half of each."""
        slots = self._slots if slots is None else slots
        mask = len(slots) - 1
        slot = ((key * _GOLDEN) & _MASK64) >> (65 - len(slots).bit_length())
        reuse = -1
        while True:
            held = slots[slot]
            if held == key:
                return slot, True
            if held == EMPTY:
                return (slot if reuse < 0 else reuse), False
            if held == GONE and reuse < 0:
                reuse = slot
            slot = (slot + 1) & mask

    def _resize(self) -> None:
        keys = [k for k in self._slots if k > GONE]
        bits = 10
        while 2 * len(keys) > (1 << bits):     # at most half full again (0.35 after doubling)
            bits += 1
        slots = array("Q", bytes(8 << bits))
        for key in keys:
            slots[self._find(key, slots)[0]] = key
        self._slots = slots                   # (built whole, then swapped in)
        self._filled = self._used = len(keys)

    # -- packing -----------------------------------------------------------------------------------
    def _pack(self, record_id: str, *, create: bool) -> int | None:
        n = len(record_id)
        if 0 < n <= 18 and record_id.isascii() and record_id.isdigit() and (n == 1 or record_id[0] != "0"):
            return (_TAG_DIGITS << _TAG_SHIFT) | int(record_id)
        if (n == 15 or n == 18) and record_id.isascii() and record_id.isalnum():
            if n == 18 and record_id[15:] != _checksum(record_id[:15]):
                return None         # not a Salesforce id's own suffix: keep it as it is
            prefix = self._prefix_of.get(record_id[:6])
            if prefix is None:
                if not create or len(self._prefixes) >= _PREFIXES:
                    return None     # not held in the table (and, past 256 prefixes, kept in the set)
                prefix = self._prefix_of[record_id[:6]] = len(self._prefixes)
                self._prefixes.append(record_id[:6])
            value = 0
            for c in record_id[6:15]:
                value = value * 62 + _DIGIT[c]
            tag = _TAG_SF18 if n == 18 else _TAG_SF15
            return (tag << _TAG_SHIFT) | (prefix << _PREFIX_SHIFT) | value
        return None

    def _unpack(self, key: int) -> str:
        tag = key >> _TAG_SHIFT
        if tag == _TAG_DIGITS:
            return str(key & ((1 << _TAG_SHIFT) - 1))
        value = key & ((1 << _PREFIX_SHIFT) - 1)
        chars = []
        for _ in range(9):
            value, digit = divmod(value, 62)
            chars.append(_BASE62[digit])
        core = self._prefixes[(key >> _PREFIX_SHIFT) & (_PREFIXES - 1)] + "".join(reversed(chars))
        return core + _checksum(core) if tag == _TAG_SF18 else core


def _checksum(core: str) -> str:
    """The three letters Salesforce appends to a 15-character id: which letters are capitals."""
    out = []
    for start in (0, 5, 10):
        bits = sum(1 << i for i, c in enumerate(core[start:start + 5]) if "A" <= c <= "Z")
        out.append(_SUFFIX[bits])
    return "".join(out)
