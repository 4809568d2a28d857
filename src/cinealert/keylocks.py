"""A lock per key, held while one piece of work on that key runs, for threads and for asyncio tasks alike.

A redelivered alert racing its original must wait for it and then find its result, not clear its directory;
the processor (asyncio, ``handlers.process``) and the media stage (worker threads, ``media.stage``) both need
that. A key's entry lives only while someone holds or awaits its lock (holders are counted, the entry dropped
when the last one leaves), so a table is as large as the work in flight, not as the keys ever seen.

A leaf module (standard library only), like ``cinealert.durable``, so that ``media`` and ``handlers`` share it
without importing each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Hashable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
L = TypeVar("L")


class CountedLocks(Generic[K, L]):
    """The counting core: ``enter`` hands out the key's lock (made by ``make`` for the first holder) and counts
    the holder; ``leave`` uncounts it and drops the entry with the last one. Safe from any thread; it never
    blocks beyond its own short bookkeeping, so an event loop may call it too."""

    def __init__(self, make: Callable[[], L]) -> None:
        self._make = make
        self._guard = threading.Lock()
        self._table: dict[K, tuple[L, int]] = {}

    def enter(self, key: K) -> L:
        with self._guard:
            entry = self._table.get(key)
            lock, holders = entry if entry is not None else (self._make(), 0)
            self._table[key] = (lock, holders + 1)
            return lock

    def leave(self, key: K) -> None:
        with self._guard:
            lock, holders = self._table[key]
            if holders == 1:
                del self._table[key]
            else:
                self._table[key] = (lock, holders - 1)

    def __len__(self) -> int:
        with self._guard:
            return len(self._table)


class KeyLocks(Generic[K]):
    """Per-key ``threading.Lock`` s: ``with locks.hold(key): ...`` in worker threads."""

    def __init__(self) -> None:
        self._locks: CountedLocks[K, threading.Lock] = CountedLocks(threading.Lock)

    @contextlib.contextmanager
    def hold(self, key: K) -> Iterator[None]:
        lock = self._locks.enter(key)
        try:
            with lock:
                yield
        finally:
            self._locks.leave(key)

    def __len__(self) -> int:
        return len(self._locks)


class AsyncKeyLocks(Generic[K]):
    """Per-key ``asyncio.Lock`` s: ``async with locks.hold(key): ...`` in tasks of one event loop."""

    def __init__(self) -> None:
        self._locks: CountedLocks[K, asyncio.Lock] = CountedLocks(asyncio.Lock)

    @contextlib.asynccontextmanager
    async def hold(self, key: K) -> AsyncIterator[None]:
        lock = self._locks.enter(key)
        try:
            async with lock:
                yield
        finally:
            self._locks.leave(key)

    def __len__(self) -> int:
        return len(self._locks)
