"""Where a run keeps its finished items until the reports are written.

Items finish in any order and the reports want them in plan order (test, assistant, then
repeat). :class:`ItemsInMemory` keeps them as objects, which is right for a small run and for
the hosted worker (its store already has each item). :class:`SpilledItems` writes each one to
an anonymous temporary file as it finishes and reads them back one at a time, so a
``--repeat`` run of thousands of items needs the memory of a few hundred, not of all of them.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from array import array
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Protocol, overload

from lamdis_core.domain.results import Item
from lamdis_core.logs import get_logger

logger = get_logger()


class FinishedItems(Protocol):
    """Receives each finished item with its position in the plan (entry x repeat)."""

    def put(self, index: int, item: Item) -> None: ...

    def get(self, index: int) -> Item:
        """The item put at plan position ``index``."""
        ...

    def in_order(self) -> Sequence[Item]:
        """The items received so far, in plan order (a gap where one did not finish)."""
        ...


class ItemsInMemory:
    """Finished items as objects: the default."""

    def __init__(self) -> None:
        self._items: dict[int, Item] = {}

    def put(self, index: int, item: Item) -> None:
        self._items[index] = item

    def get(self, index: int) -> Item:
        return self._items[index]

    def in_order(self) -> list[Item]:
        return [self._items[index] for index in sorted(self._items)]


class SpilledItems(Sequence[Item]):
    """Finished items in a temporary file, read back in plan order on demand.

    The first ``keep`` items to finish stay in memory as they are: a run that small (the
    common case, no ``--repeat``) never touches the file, and a larger one holds at most
    ``keep`` items however many it has. The file is anonymous (unlinked as soon as it is
    made, so no other process can open it) and goes away with :meth:`close` or the process.
    Items are stored with :mod:`pickle`, which gives back exactly the objects that went in (a
    float, a lone surrogate in a reply, a tuple in check details), so every report made from
    them is the one the objects would have made; nothing but what this object wrote is ever
    read from the file. Iterating reads one item at a time; indexing reads the one asked for.
    """

    def __init__(self, *, keep: int = 256, directory: str | None = None) -> None:
        self._keep = keep
        self._directory = directory
        self._file: IO[bytes] | None = None
        self._unwritable = False
        self._end = 0
        self._memory: dict[int, Item] = {}  # by arrival
        self._index = array("q")  # plan position of each item, by arrival
        self._arrival = array("q")  # arrival of each plan position; -1: not put
        self._offsets = array("q")  # in the file, by arrival; -1: in memory
        self._sizes = array("q")
        self._order: array[int] | None = array("q")

    def put(self, index: int, item: Item) -> None:
        arrival = len(self._index)
        self._index.append(index)
        if index >= len(self._arrival):
            self._arrival.extend([-1] * (index + 1 - len(self._arrival)))
        self._arrival[index] = arrival
        self._order = None
        if len(self._memory) >= self._keep and self._spill(item):
            return
        self._memory[arrival] = item
        self._offsets.append(-1)
        self._sizes.append(0)

    def _spill(self, item: Item) -> bool:
        """Write ``item`` to the file; ``False`` (the item stays in memory) when no file can
        be written: a run never fails for want of somewhere to spill."""
        if self._unwritable:
            return False
        data = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            if self._file is None:
                self._file = _temporary_file(self._directory)
            self._file.seek(self._end)
            self._file.write(data)
        except OSError as exc:
            self._unwritable = True
            logger.warning("finished items stay in memory", reason=str(exc))
            if self._file is not None:  # what was written before stays readable
                self._file.seek(self._end)
                self._file.truncate()
            return False
        self._offsets.append(self._end)
        self._sizes.append(len(data))
        self._end += len(data)
        return True

    def get(self, index: int) -> Item:
        arrival = self._arrival[index] if index < len(self._arrival) else -1
        if arrival < 0:
            raise KeyError(index)
        return self._read(arrival)

    def in_order(self) -> SpilledItems:
        return self

    @property
    def spilled(self) -> int:
        """How many items are on disk rather than in memory."""
        return len(self._index) - len(self._memory)

    def _ordered(self) -> array[int]:
        if self._order is None:
            arrivals = sorted(range(len(self._index)), key=self._index.__getitem__)
            self._order = array("q", arrivals)
        return self._order

    def _read(self, arrival: int) -> Item:
        offset = self._offsets[arrival]
        if offset < 0:
            return self._memory[arrival]
        if self._file is None:
            raise ValueError("the spilled items were closed")
        self._file.seek(offset)
        item: Item = pickle.loads(self._file.read(self._sizes[arrival]))
        return item

    def __len__(self) -> int:
        return len(self._index)

    @overload
    def __getitem__(self, n: int) -> Item: ...

    @overload
    def __getitem__(self, n: slice) -> list[Item]: ...

    def __getitem__(self, n: int | slice) -> Item | list[Item]:
        order = self._ordered()
        if isinstance(n, slice):
            return [self._read(arrival) for arrival in order[n]]
        return self._read(order[n])

    def __iter__(self) -> Iterator[Item]:
        for arrival in self._ordered():
            yield self._read(arrival)

    def close(self) -> None:
        """Delete the file."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> SpilledItems:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _temporary_file(directory: str | None) -> IO[bytes]:
    """An anonymous file in ``directory`` (made if missing), else in the system's temporary
    folder."""
    prefix = "lamdis-items-"
    if directory is not None:
        try:
            os.makedirs(directory, exist_ok=True)
            return tempfile.TemporaryFile(prefix=prefix, dir=directory)
        except OSError:
            pass
    return tempfile.TemporaryFile(prefix=prefix)


class InPlanOrder:
    """Hands finished items to ``take`` in plan order, as soon as every earlier one has
    finished, while ``finished`` keeps them.

    Items finish a little out of order (``concurrency`` run at once): one that finishes
    early is held until its turn, up to ``hold`` of them; past that it is left to
    ``finished`` and read back when its turn comes. So a caller's figures are made in plan
    order from the items as they finish, without reading the run back afterwards.
    """

    def __init__(
        self, finished: FinishedItems, take: Callable[[Item], None], *, hold: int = 256
    ) -> None:
        self._finished = finished
        self._take = take
        self._hold = hold
        self._held: dict[int, Item] = {}
        self._left: set[int] = set()  # finished, not held: read back at their turn
        self.taken = 0

    def put(self, index: int, item: Item) -> None:
        self._finished.put(index, item)
        if index != self.taken:
            if len(self._held) < self._hold:
                self._held[index] = item
            else:
                self._left.add(index)
            return
        self._take(item)
        self.taken += 1
        while True:
            held = self._held.pop(self.taken, None)
            if held is None:
                if self.taken not in self._left:
                    return
                self._left.discard(self.taken)
                held = self._finished.get(self.taken)
            self._take(held)
            self.taken += 1
