"""The media stage's small parts: the per-key lock table stays bounded, and each profile has its writer."""

from __future__ import annotations

import threading
import time

from cinealert.media.dash import DashWriter
from cinealert.media.profiles import writer_for
from cinealert.media.richmedia import RichMediaWriter
from cinealert.media.stage import KeyLocks
from cinealert.media.ts import HlsWriter, TsWriter


def test_key_locks_serialise_one_key_and_leave_nothing_behind() -> None:
    locks = KeyLocks()
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
    assert len(locks) == 0  # an entry lives only while a render holds or awaits it


def test_every_profile_and_mode_has_its_writer() -> None:
    assert isinstance(writer_for("burn-in", "atsc1"), TsWriter)
    assert isinstance(writer_for("burn-in", "hls"), HlsWriter)
    assert isinstance(writer_for("burn-in", "atsc3"), DashWriter)
    assert isinstance(writer_for("rich-media", "atsc3"), RichMediaWriter)
    # Rich media is ATSC 3.0's AEA: the other profiles are burned in in that mode too.
    assert type(writer_for("rich-media", "atsc1")) is TsWriter
    assert isinstance(writer_for("rich-media", "hls"), HlsWriter)
