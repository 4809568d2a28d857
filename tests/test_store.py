"""The shared output store on a real S3 API server (moto_server): publish, atomic visibility, retries, markers,
tombstones and lease guards across two "machines" (separate local directories, one bucket)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from cinealert.cap.model import AlertKey
from cinealert.config import parse
from cinealert.config.settings import ConfigError
from cinealert.handlers.leases import LeaseLedger
from cinealert.handlers.pipeline import MediaStage
from cinealert.handlers.references import ReferenceLedger, Tombstoned
from cinealert.objstore import LOCAL, Bucket, S3Files, StoreError, roots, shared_files
from s3server import S3Server, s3_fixture  # noqa: F401 - the fixture
from test_pipeline import FLOOD, H, Provider, W, make_alert

BY = AlertKey("kma@example.kr", "KMA-T-2", "2026-11-26T13:00:00+09:00")
CANCEL = AlertKey("kma@example.kr", "KMA-T-3", "2026-11-26T14:00:00+09:00")


def machine(root: Path, s3: S3Server, bucket: str, **store: Any) -> MediaStage:
    """One daemon's media stage: its own local directories, the shared bucket."""
    settings = parse({
        "broadcast": {"output_dir": str(root / "out"), "profiles": ["atsc1", "hls"]},
        "render": {"cache_dir": str(root / "cache")},
        "handlers": {"dedup_state_dir": str(root / "state")},
        "store": s3.settings(bucket, **store).model_dump(mode="json") | {"access_key_id": "t",
                                                                         "secret_access_key": "t"},
    })  # fmt: skip
    return MediaStage(settings, loop_provider=Provider(), size=(W, H), files=shared_files(settings))


def bucket_names(s3: S3Server, bucket: str, under: str = "") -> dict[str, bytes]:
    client = s3.client()
    out: dict[str, bytes] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"test/{under}"):
        for obj in page.get("Contents", ()):
            out[obj["Key"][len("test/") :]] = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    return out


class Reader(threading.Thread):
    """A playout/CDN reader polling the bucket: every ``result.json`` it sees must name only present files."""

    def __init__(self, s3: S3Server, bucket: str) -> None:
        super().__init__(daemon=True)
        self.client, self.bucket = s3.client(), bucket
        self.stop = threading.Event()
        self.seen_results = 0
        self.violations: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            listing = self.client.list_objects_v2(Bucket=self.bucket, Prefix="test/out/")
            keys = {o["Key"] for o in listing.get("Contents", ())}
            for key in sorted(k for k in keys if k.endswith("/result.json")):
                doc = json.loads(self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())
                self.seen_results += 1
                folder = key.rsplit("/", 1)[0]
                now = {o["Key"] for o in self.client.list_objects_v2(
                    Bucket=self.bucket, Prefix=folder + "/").get("Contents", ())}  # fmt: skip
                missing = [f for f in doc["files"] if f"{folder}/{f}" not in now]
                if missing:
                    self.violations.append(f"{key}: {missing}")
            time.sleep(0.005)


def test_local_store_is_the_default_and_unchanged(tmp_path: Path) -> None:
    settings = parse({})
    assert settings.store.kind == "local" and shared_files(settings) is LOCAL
    assert roots(settings) == {settings.handlers.dedup_state_dir: "state", Path("var/cache"): "cache",
                               Path("var/out"): "out"}  # fmt: skip
    with pytest.raises(ConfigError, match=r"needs store\.bucket"):
        parse({"store": {"kind": "s3"}})


def test_publish_to_bucket_result_last_and_never_half_visible(tmp_path: Path, s3: S3Server) -> None:
    bucket = s3.new_bucket()
    stage = machine(tmp_path / "a", s3, bucket)
    reader = Reader(s3, bucket)
    reader.start()
    try:
        published = stage.publish(make_alert(), FLOOD, threading.Event())
        time.sleep(0.2)  # let the reader see the committed output too
    finally:
        reader.stop.set()
        reader.join()
    assert reader.violations == []
    assert reader.seen_results > 0
    slug = make_alert().key.slug()
    stored = bucket_names(s3, bucket, f"out/{slug}/")
    doc = json.loads(stored[f"out/{slug}/result.json"])
    assert sorted(doc["files"]) == sorted(n.rsplit("/", 1)[1] for n in stored)
    for path in published.files:  # byte for byte what was written locally
        assert stored[f"out/{slug}/{path.name}"] == path.read_bytes()
    assert any(n.endswith(".ts") for n in stored) and any(n.endswith(".m3u8") for n in stored)


def test_second_machine_finds_the_output_and_marks_it(tmp_path: Path, s3: S3Server) -> None:
    bucket = s3.new_bucket()
    a, b = machine(tmp_path / "a", s3, bucket), machine(tmp_path / "b", s3, bucket)
    key = make_alert().key
    a.publish(make_alert(), FLOOD, threading.Event())
    found = b.existing(key)
    assert found is not None and found.extra["status"] == "published"
    again = b.publish(make_alert(), FLOOD, threading.Event())  # a redelivery on the other machine
    assert again.key == key and b.loop_provider.calls == 0  # type: ignore[attr-defined]  # nothing rendered

    marker = b.supersede(key, BY)
    assert marker is not None and marker.name == "SUPERSEDED.json"
    assert a.existing(key).extra["status"] == "superseded"  # type: ignore[union-attr]
    withdrawn = a.withdraw(key, CANCEL)
    assert withdrawn is not None
    assert b.withdraw(key, BY) is not None  # a second Cancel: the first marker stays
    stored = bucket_names(s3, bucket, f"out/{key.slug()}/WITHDRAWN.json")
    assert json.loads(next(iter(stored.values())))["by"] == str(CANCEL)
    assert "withdrawn" in b.existing(key).extra["markers"]  # type: ignore[union-attr]
    assert b.withdraw(AlertKey("x", "y", "z"), CANCEL) is None  # nothing published: no marker


class StopsServer(Provider):
    """The loop provider of a render during which the object store goes away (after ``existing`` was read)."""

    def __init__(self, server: S3Server) -> None:
        super().__init__()
        self.server = server

    def __call__(self, brief, settings, cancel, size):  # type: ignore[no-untyped-def]
        self.server.stop()
        return super().__call__(brief, settings, cancel, size)


def test_failed_upload_is_retried_and_a_dead_attempts_leftovers_do_not_show(tmp_path: Path) -> None:
    server = S3Server(tmp_path / "moto.log").start()
    try:
        bucket = server.new_bucket()
        stage = machine(tmp_path / "a", server, bucket)
        stage.loop_provider = StopsServer(server)
        with pytest.raises(StoreError):  # the upload fails (after the client's own retries)
            stage.publish(make_alert(), FLOOD, threading.Event())
        assert not (stage.directory(make_alert().key) / "result.json").exists()
        server.start()  # back (moto starts empty): the bucket, and what a killed daemon's upload left behind
        server.client().create_bucket(Bucket=bucket)
        slug = make_alert().key.slug()
        server.client().put_object(
            Bucket=bucket, Key=f"test/out/{slug}/atsc1_seg_00000.ts", Body=b"partial, dead"
        )
        assert stage.existing(make_alert().key) is None  # no result.json: not published
        stage.loop_provider = Provider()
        published = stage.publish(make_alert(), FLOOD, threading.Event())  # the retry
        stored = bucket_names(server, bucket, f"out/{slug}/")
        doc = json.loads(stored[f"out/{slug}/result.json"])
        assert "atsc1_seg_00000.ts" in doc["files"]
        for name in doc["files"][:-1]:
            assert stored[f"out/{slug}/{name}"] == (published.directory / name).read_bytes()
    finally:
        server.stop()


def test_tombstones_first_writer_wins_across_machines(tmp_path: Path, s3: S3Server) -> None:
    bucket = s3.new_bucket()
    settings = s3.settings(bucket)
    files_a = S3Files(Bucket(settings), {tmp_path / "a": "state"})
    files_b = S3Files(Bucket(settings), {tmp_path / "b": "state"})
    a, b = ReferenceLedger(tmp_path / "a", files_a), ReferenceLedger(tmp_path / "b", files_b)
    key = make_alert().key
    assert b.lookup(key) is None
    first = a.record("cancel", key, CANCEL)
    second = b.record("cancel", key, BY)  # another daemon's Cancel for the same alert
    assert first.by == CANCEL and second.by == CANCEL
    assert b.lookup(key) is not None and b.lookup(key).kind == "cancel"  # type: ignore[union-attr]
    assert (tmp_path / "a" / "cancelled" / f"{key.slug()}.json").is_file()  # the local working copy


def test_lease_guard_excludes_the_other_machine_and_expires_after_a_kill(
    tmp_path: Path, s3: S3Server
) -> None:
    bucket = s3.new_bucket()
    settings = s3.settings(bucket, lease_s=2.0)
    a = LeaseLedger(tmp_path / "a", S3Files(Bucket(settings), {tmp_path / "a": "state"}), lease_s=2.0)
    b = LeaseLedger(tmp_path / "b", S3Files(Bucket(settings), {tmp_path / "b": "state"}), lease_s=2.0)
    key = make_alert().key
    held = a.acquire(key)
    assert b._try(key) is None
    time.sleep(2.5)  # longer than the lease: the holder's heartbeat keeps it
    assert b._try(key) is None
    held.release()
    taken = b.acquire(key)
    assert a._try(key) is None
    taken._stop.set()  # type: ignore[attr-defined]  # as if SIGKILLed: no renewal, no release
    cancel = threading.Event()
    again = a.acquire(key, cancel)  # waits for the lease to run out (server clock), then takes it over
    assert again.held and b._try(key) is None
    again.release()


def test_scene_cache_reads_through_the_bucket_on_a_cold_machine(tmp_path: Path, s3: S3Server) -> None:
    import numpy as np

    from cinealert.cap.model import DisasterType
    from cinealert.objstore import share_cache
    from cinealert.render.cache import META, SceneCache, cache_key
    from cinealert.render.procedural import ProceduralBackend

    bucket = s3.new_bucket()
    settings = s3.settings(bucket)
    shape = (4, 36, 64, 3)
    scene = ProceduralBackend().build(DisasterType.FLOOD, 0, 64, 36, seed=0)
    key = cache_key({"type": "flood", "variant": 0, "test": bucket})
    warm, cold = tmp_path / "a" / "cache", tmp_path / "b" / "cache"
    remote_a = share_cache(warm, S3Files(Bucket(settings), {warm: "cache"}))
    share_cache(cold, S3Files(Bucket(settings), {cold: "cache"}))
    assert remote_a is not None

    def fill(sink) -> None:  # type: ignore[no-untyped-def]
        for i in range(shape[0]):
            sink[i] = np.full(shape[1:], 40 + i, np.uint8)

    SceneCache(warm, 1 << 30, memory_items=0).put(key, scene, shape, fill, {"type": "flood"})
    remote_a.drain()
    stored = bucket_names(s3, bucket, "cache/")
    assert f"cache/{key[:2]}/{key}/{META}" in stored and len(stored) >= 3
    assert SceneCache(cold, 1 << 30, memory_items=0).get(cache_key({"type": "none"})) is None  # a true miss
    entry = SceneCache(cold, 1 << 30, memory_items=0).get(key)  # the new machine: fetched, not rendered
    assert entry is not None and (cold / key[:2] / key / META).is_file()
    assert np.array_equal(entry.frames.read_all()[2], np.full(shape[1:], 42, np.uint8))
    assert [layer.name for layer in entry.scene().layers] == [layer.name for layer in scene.layers]


def test_a_shared_scene_cache_keeps_lz4_frames(tmp_path: Path, s3: S3Server) -> None:
    from cinealert.config.sections import RenderSettings
    from cinealert.objstore import share_cache
    from cinealert.render.service import frame_codec

    big = {"cache_max_bytes": 1 << 40, "resolution": "720p"}
    assert (
        frame_codec(RenderSettings(cache_dir=tmp_path / "alone", **big)) == "raw"
    )  # room for raw: local only
    share_cache(tmp_path / "shared", S3Files(Bucket(s3.settings(s3.new_bucket())), {tmp_path: "cache"}))
    assert (
        frame_codec(RenderSettings(cache_dir=tmp_path / "shared", **big)) == "lz4"
    )  # ~7x fewer bytes to fetch


def test_the_daemon_checks_the_bucket_honours_conditional_writes(tmp_path: Path, s3: S3Server) -> None:
    from cinealert.objstore import check_store

    settings = s3.settings(s3.new_bucket())
    assert check_store(LOCAL) is True
    assert check_store(S3Files(Bucket(settings), {tmp_path: "state"})) is True  # moto refuses the overwrites
    assert bucket_names(s3, settings.bucket) == {}  # the probe cleaned up after itself
    gone = S3Server(tmp_path / "gone.log")  # never started: nothing listens there
    unreachable = s3.settings("x").model_copy(update={"endpoint_url": gone.endpoint})
    assert (
        check_store(S3Files(Bucket(unreachable), {tmp_path: "state"})) is None
    )  # waited for later, not fatal


def test_channel_outputs_map_to_their_own_prefixes(tmp_path: Path, s3: S3Server) -> None:
    settings = parse({
        "broadcast": {"output_dir": str(tmp_path / "out")},
        "handlers": {"dedup_state_dir": str(tmp_path / "state")},
        "render": {"cache_dir": str(tmp_path / "cache")},
        "channels": {"seoul": {}, "busan": {"output_dir": str(tmp_path / "elsewhere" / "busan")}},
    })  # fmt: skip
    files = S3Files(Bucket(s3.settings(s3.new_bucket())), roots(settings))
    assert files.name(tmp_path / "out" / "seoul" / "A-1" / "result.json") == "out/seoul/A-1/result.json"
    assert files.name(tmp_path / "elsewhere" / "busan" / "A-1" / "result.json") == "out-busan/A-1/result.json"
    assert files.name(tmp_path / "state" / "cancelled" / "A-1.json") == "state/cancelled/A-1.json"
    assert files.name(tmp_path / "cache" / "ab" / "abc" / "meta.json") == "cache/ab/abc/meta.json"
    with pytest.raises(ValueError, match="none of the shared roots"):
        files.name(tmp_path / "stray.json")  # never shared by accident


def test_the_publish_gate_never_keeps_a_guard_when_its_lookup_fails(tmp_path: Path, s3: S3Server) -> None:
    settings = s3.settings(s3.new_bucket(), lease_s=2.0)
    # tombstones under a folder this store does not share: every lookup fails after the guard is taken
    broken = LeaseLedger(tmp_path / "unshared", S3Files(Bucket(settings), {tmp_path / "a": "state"}), 2.0)
    other = LeaseLedger(tmp_path / "b", S3Files(Bucket(settings), {tmp_path / "b": "state"}), 2.0)
    key = make_alert().key
    with pytest.raises(ValueError, match="none of the shared roots"):
        broken.gate(key)
    guard = other._try(key)  # free at once: not held by a renewing orphan until the process ends
    assert guard is not None
    guard.release()
    other.record("cancel", key, CANCEL)
    with pytest.raises(Tombstoned):
        other.gate(key)
    again = broken._try(key)  # a tombstoned gate lets go of the guard too
    assert again is not None
    again.release()
