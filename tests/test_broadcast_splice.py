"""The rich-media fast paths: pruned true peak, AAC spliced at silent frames, speculative segment removal."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import numpy as np
import pytest

from cinealert.broadcast.audio import RATE, lead_in
from cinealert.broadcast.encode import encode_audio, encode_audio_spliced, silent_cuts
from cinealert.broadcast.loudness import oversampled_abs, true_peak
from cinealert.broadcast.publish import OutputDir


@pytest.mark.parametrize("n", [12, 13, 255, 256, 257, 4801, 48_000])
def test_pruned_true_peak_equals_full_interpolation(n: int) -> None:
    rng = np.random.default_rng(n)
    for scale in (0.01, 0.3, 1.0):
        x = rng.standard_normal(n) * scale
        x[rng.integers(0, n)] *= 4  # one outstanding peak, as in speech
        assert true_peak(x) == pytest.approx(float(oversampled_abs(x).max()), rel=1e-12)
    assert true_peak(np.zeros(n)) == 0.0


def speech_like() -> np.ndarray:
    """Lead-in, then voiced bursts (harmonics of a gliding pitch) separated by exact silence, like utterances."""
    parts = [lead_in()]
    for seconds, f0 in ((1.3, 120.0), (2.1, 210.0), (0.9, 160.0)):
        t = np.arange(int(seconds * RATE)) / RATE
        phase = 2 * np.pi * f0 * (t + 0.1 * t * t)
        burst = sum(np.sin(k * phase) / k for k in range(1, 12)) * np.sin(np.pi * t / seconds) * 0.1
        parts += [burst.astype(np.float32), np.zeros(int(0.35 * RATE), np.float32)]
    return np.concatenate(parts).astype(np.float32)


def decode(packets: list) -> np.ndarray:  # type: ignore[type-arg]
    ctx = av.CodecContext.create("aac", "r")
    ctx.sample_rate, ctx.layout = RATE, "mono"
    out = [f.to_ndarray()[0] for p in packets for f in ctx.decode(p)]
    out += [f.to_ndarray()[0] for f in ctx.decode(None)]
    return np.concatenate(out)


def test_silent_cuts_lie_in_silence_on_the_frame_grid() -> None:
    x = speech_like()
    cuts = silent_cuts(x)
    assert len(cuts) > 3
    assert all(c % 1024 == 0 for c in cuts)
    for c in cuts:
        assert not np.any(x[c - 3 * 1024 : c + 2 * 1024])
    assert silent_cuts(np.ones(RATE, np.float32)).size == 0


def test_spliced_aac_matches_one_continuous_encode() -> None:
    x = speech_like()
    single = encode_audio(x, "aac")
    with ThreadPoolExecutor(2) as pool:
        spliced = encode_audio_spliced(x, "aac", prefix=lead_in(), parts=3, pool=pool)
        again = encode_audio_spliced(x, "aac", prefix=lead_in(), parts=3, pool=pool)  # cached lead-in packets
    assert [p.pts for p in spliced] == [p.pts for p in single]  # same timeline, priming once
    assert [bytes(p) for p in again] == [bytes(p) for p in spliced]
    a, b = decode(single), decode(spliced)
    assert len(a) == len(b)
    ref = np.zeros(len(a), np.float32)
    ref[1024 : 1024 + len(x)] = x[: len(a) - 1024]  # the decoder's output starts with the priming delay

    def snr(y: np.ndarray) -> float:
        return float(10 * np.log10(np.sum(ref**2) / np.sum((y - ref) ** 2)))

    assert snr(b) > 20.0
    assert snr(b) == pytest.approx(snr(a), abs=1.0)  # no seam: as good as the continuous encode
    for c in silent_cuts(x):  # silence stays silent across the splice points
        assert np.abs(b[c : c + 1024]).max() < 1e-4  # decoded = input delayed by 1024


def test_splice_falls_back_without_silence_and_for_other_codecs() -> None:
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(RATE * 2) * 0.05).astype(np.float32)
    assert [p.pts for p in encode_audio_spliced(x, "aac", parts=2)] == [p.pts for p in encode_audio(x, "aac")]
    ac3 = encode_audio_spliced(speech_like(), "ac3", prefix=lead_in())
    assert [p.pts for p in ac3] == [p.pts for p in encode_audio(speech_like(), "ac3")]


def test_discarded_speculative_file_is_gone_and_not_listed(tmp_path: Path) -> None:
    with OutputDir(tmp_path / "o") as out:
        out.write("a.m4s", b"12345")
        out.write("b.m4s", b"678")
        out.discard("b.m4s")
        out.commit_dir()
        assert [p.name for p in out.files] == ["a.m4s"]
        assert out.bytes_written == 5
        assert sorted(p.name for p in out.path.iterdir()) == ["a.m4s"]
        with pytest.raises(ValueError, match="was not written"):
            out.discard("c.m4s")


def test_link_publishes_an_existing_file_without_copying(tmp_path: Path) -> None:
    source = tmp_path / "cache.m4s"
    source.write_bytes(b"segment bytes")
    with OutputDir(tmp_path / "o") as out:
        published = out.link("v_00000.m4s", source)
        assert published.read_bytes() == b"segment bytes"
        assert published.stat().st_ino == source.stat().st_ino
        assert out.files == [published] and out.bytes_written == len(b"segment bytes")
        with pytest.raises(ValueError, match="plain file names"):
            out.link("../x.m4s", source)


def small_video():  # type: ignore[no-untyped-def]
    from cinealert.broadcast.encode import encode_fmp4_video, make_profile
    from cinealert.media.videocache import CachedVideo

    profile = make_profile("atsc3", size=(64, 48))
    frames = [np.full((48, 64, 3), 40 * i % 255, np.uint8) for i in range(20)]
    track = encode_fmp4_video(frames, 20, profile, 10)
    return CachedVideo("k", track.init, track.timescale, tuple(track.segments), True)


@pytest.mark.parametrize("store_ok", [True, False])
def test_cached_video_segments_are_linked_from_the_timeline_or_written(
    tmp_path: Path, store_ok: bool
) -> None:
    from cinealert.broadcast.encode import retime, tfdt
    from cinealert.media.clock import Clock
    from cinealert.media.videocache import VideoWriter

    cached = small_video()
    ticks = cached.segment_ticks
    store = tmp_path / "store"
    if not store_ok:
        store.write_bytes(b"not a directory")  # linking is impossible: the bytes must be written instead
    for run in range(2):  # the second run finds the timeline already there
        with OutputDir(tmp_path / f"o{run}") as out:
            writer = VideoWriter(out, "atsc3", cached, ticks, Clock(0.0), store)
            writer.write(5)
            writer.trim(3)
            names = sorted(p.name for p in out.path.iterdir())
            assert names == sorted(p.name for p in out.files)
            assert names == ["atsc3_video_00000.m4s", "atsc3_video_00001.m4s", "atsc3_video_00002.m4s",
                             "atsc3_video_init.mp4"]  # fmt: skip
            for k in range(3):
                data = (out.path / f"atsc3_video_{k:05d}.m4s").read_bytes()
                assert data == retime(cached.segments[k % 2], k * ticks, k + 1)
                assert tfdt(data) == k * ticks
                assert ((out.path / f"atsc3_video_{k:05d}.m4s").stat().st_nlink > 1) == store_ok
