"""The per-key lock tables (``cinealert.keylocks``) the processor (asyncio) and the media stage (threads) share:
one holder per key, other keys in parallel, nothing left behind, released whatever the work raised."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from cinealert.keylocks import AsyncKeyLocks, CountedLocks, KeyLocks


def test_the_counting_core_drops_an_entry_with_its_last_holder() -> None:
    table: CountedLocks[str, threading.Lock] = CountedLocks(threading.Lock)
    first = table.enter("a")
    assert table.enter("a") is first  # a second holder of the key shares its lock
    assert table.enter("b") is not first
    assert len(table) == 2
    table.leave("a")
    assert len(table) == 2  # "a" still has a holder
    table.leave("a")
    table.leave("b")
    assert len(table) == 0
    assert table.enter("a") is not first  # a fresh entry: nothing was kept


def test_threads_hold_one_key_at_a_time_and_leave_nothing_behind() -> None:
    locks: KeyLocks[str] = KeyLocks()
    inside: dict[str, int] = {}
    most: dict[str, int] = {}
    guard = threading.Lock()

    def work(key: str) -> None:
        with locks.hold(key):
            with guard:
                inside[key] = inside.get(key, 0) + 1
                most[key] = max(most.get(key, 0), inside[key])
            time.sleep(0.01)
            with guard:
                inside[key] -= 1

    threads = [threading.Thread(target=work, args=(f"k{i % 3}",)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most == {"k0": 1, "k1": 1, "k2": 1}  # one holder per key at a time
    assert len(locks) == 0  # an entry lives only while someone holds or awaits it


def test_threads_on_different_keys_run_together() -> None:
    locks: KeyLocks[str] = KeyLocks()
    both_in = threading.Barrier(2, timeout=5)

    def work(key: str) -> None:
        with locks.hold(key):
            both_in.wait()  # breaks (BrokenBarrierError) if the other key's holder cannot get in

    threads = [threading.Thread(target=work, args=(key,)) for key in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not both_in.broken
    assert len(locks) == 0


def test_a_thread_that_raises_inside_the_hold_releases_the_key() -> None:
    locks: KeyLocks[str] = KeyLocks()
    with pytest.raises(RuntimeError, match="render failed"), locks.hold("a"):
        raise RuntimeError("render failed")
    assert len(locks) == 0
    got = threading.Event()

    def again() -> None:
        with locks.hold("a"):
            got.set()

    t = threading.Thread(target=again)
    t.start()
    t.join(timeout=5)
    assert got.is_set()


async def test_tasks_hold_one_key_at_a_time_and_other_keys_run_together() -> None:
    locks: AsyncKeyLocks[str] = AsyncKeyLocks()
    inside: dict[str, int] = {}
    most: dict[str, int] = {}
    keys_at_once = 0

    async def work(key: str) -> None:
        nonlocal keys_at_once
        async with locks.hold(key):
            inside[key] = inside.get(key, 0) + 1
            most[key] = max(most.get(key, 0), inside[key])
            keys_at_once = max(keys_at_once, sum(1 for n in inside.values() if n))
            await asyncio.sleep(0.01)
            inside[key] -= 1

    await asyncio.gather(*(work(f"k{i % 3}") for i in range(12)))
    assert most == {"k0": 1, "k1": 1, "k2": 1}
    assert keys_at_once == 3  # the three keys were held at the same time
    assert len(locks) == 0


async def test_a_task_that_raises_or_is_cancelled_releases_the_key() -> None:
    locks: AsyncKeyLocks[str] = AsyncKeyLocks()
    with pytest.raises(RuntimeError, match="stage failed"):
        async with locks.hold("a"):
            raise RuntimeError("stage failed")
    assert len(locks) == 0

    entered = asyncio.Event()

    async def holder() -> None:
        async with locks.hold("a"):
            entered.set()
            await asyncio.sleep(10)

    first = asyncio.create_task(holder())
    await entered.wait()
    waiter = asyncio.create_task(holder())  # waits for "a"
    await asyncio.sleep(0)
    assert len(locks) == 1
    for task in (waiter, first):
        task.cancel()
    await asyncio.gather(first, waiter, return_exceptions=True)
    assert len(locks) == 0
    async with asyncio.timeout(5), locks.hold("a"):
        pass
