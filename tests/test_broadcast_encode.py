"""Encode/mux with PyAV, verified with ffprobe/ffmpeg: codecs, sizes, frame rate, GOP alignment, timestamps."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from cinealert.broadcast.dash import TrackRef, mpd
from cinealert.broadcast.encode import (
    encode_fmp4_audio,
    encode_fmp4_video,
    encode_ts,
    frames_per_segment,
    m3u8_media,
    make_profile,
    retime,
    tfdt,
)

W, H = 320, 180
SEG = frames_per_segment(2.002)


def frames(n: int, w: int = W, h: int = H):  # type: ignore[no-untyped-def]
    x = np.arange(w, dtype=np.int32)[None, :]
    y = np.arange(h, dtype=np.int32)[:, None]
    for i in range(n):
        rgb = np.empty((h, w, 3), np.uint8)
        rgb[..., 0] = (x + 4 * i) % 256
        rgb[..., 1] = (y * 255 // h) + 0 * x
        rgb[..., 2] = (x + y + 8 * i) % 256
        yield rgb


def tone(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * 48000)) / 48000
    return (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def ffprobe(path: Path, *args: str, cwd: Path | None = None) -> dict:  # type: ignore[type-arg]
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", *args, str(path)],
        capture_output=True, text=True, check=True, cwd=cwd,
    )  # fmt: skip
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def write_ts(tmp_path: Path, name: str, n_frames: int, seconds: float, size=(W, H), atsc1_video="mpeg2"):  # type: ignore[no-untyped-def]
    profile = make_profile(name, "1080p", size=size, atsc1_video=atsc1_video)  # type: ignore[arg-type]
    consumed = {"n": 0}
    emitted: list[tuple[str, int]] = []

    def source():  # type: ignore[no-untyped-def]
        for f in frames(n_frames + SEG, *size):
            consumed["n"] += 1
            yield f

    def emit(seg: str, data: bytes, duration: float) -> None:
        (tmp_path / seg).write_bytes(data)
        emitted.append((seg, consumed["n"]))

    segs = encode_ts(source(), lambda: (tone(seconds), n_frames), profile, SEG, emit, prefix=f"{name}_")
    return profile, segs, emitted


@pytest.mark.parametrize(("atsc1_video", "codec", "delay"), [("mpeg2", "mpeg2video", 1), ("h264", "h264", 0)])
def test_atsc1_ts_segments_are_gop_aligned_and_continuous(
    tmp_path: Path, atsc1_video: str, codec: str, delay: int
) -> None:
    _profile, segs, emitted = write_ts(tmp_path, "atsc1", 3 * SEG, 5.5, atsc1_video=atsc1_video)
    assert [s.name for s in segs] == ["atsc1_00000.ts", "atsc1_00001.ts", "atsc1_00002.ts"]
    # Each segment is handed out as soon as its own frames are encoded, long before the clip ends (MPEG-2 hands
    # a picture out one frame late: a segment waits for the next one's first frame).
    assert [n for _name, n in emitted] == [SEG + delay, 2 * SEG + delay, 3 * SEG]
    last_video_pts: float | None = None
    last_audio_pts = -1.0
    for seg in segs:
        path = tmp_path / seg.name
        streams = {s["codec_type"]: s for s in ffprobe(path, "-show_streams")["streams"]}
        v, a = streams["video"], streams["audio"]
        assert (v["codec_name"], v["width"], v["height"], v["r_frame_rate"]) == (codec, W, H, "30000/1001")
        assert (a["codec_name"], a["sample_rate"], a["channels"]) == ("ac3", "48000", 1)
        pkts = ffprobe(
            path, "-select_streams", "v", "-show_packets", "-show_entries", "packet=pts_time,flags"
        )
        vpts = [float(p["pts_time"]) for p in pkts["packets"]]
        assert len(vpts) == SEG
        assert pkts["packets"][0]["flags"].startswith("K")  # every segment starts with an IDR frame
        assert sum(p["flags"].startswith("K") for p in pkts["packets"]) == 1  # GOP == segment
        assert vpts == sorted(vpts)
        if last_video_pts is not None:
            assert vpts[0] == pytest.approx(
                last_video_pts + 1001 / 30000, abs=1e-3
            )  # continuous across files
        last_video_pts = vpts[-1]
        apkts = ffprobe(path, "-select_streams", "a", "-show_packets", "-show_entries", "packet=pts_time")
        apts = [float(p["pts_time"]) for p in apkts["packets"]]
        assert apts and apts[0] > last_audio_pts and apts == sorted(apts)
        last_audio_pts = apts[-1]
        assert seg.duration_s == pytest.approx(2.002)
    playlist = m3u8_media(segs, 2.002)
    assert playlist.count("#EXTINF:2.002,") == 3 and playlist.rstrip().endswith("#EXT-X-ENDLIST")
    (tmp_path / "atsc1.m3u8").write_text(playlist)
    decoded = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", "atsc1.m3u8", "-map", "0:v", "-f", "framemd5", "-"],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    )  # fmt: skip
    assert sum(1 for line in decoded.stdout.splitlines() if line and not line.startswith("#")) == 3 * SEG


def test_hls_profile_uses_aac(tmp_path: Path) -> None:
    _profile, segs, _ = write_ts(tmp_path, "hls", SEG, 1.5)
    streams = {s["codec_type"]: s for s in ffprobe(tmp_path / segs[0].name, "-show_streams")["streams"]}
    assert streams["audio"]["codec_name"] == "aac"
    assert streams["video"]["codec_name"] == "h264"


def test_real_1080p_atsc1_segment(tmp_path: Path) -> None:
    """ATSC 1.0's main service video: MPEG-2 Main profile @ High level (A/53 Part 4), 1920x1080 p29.97."""
    _profile, segs, _ = write_ts(tmp_path, "atsc1", SEG, 1.9, size=(1920, 1080))
    v = next(
        s for s in ffprobe(tmp_path / segs[0].name, "-show_streams")["streams"] if s["codec_type"] == "video"
    )
    assert (v["width"], v["height"], v["r_frame_rate"], v["codec_name"]) == (
        1920, 1080, "30000/1001", "mpeg2video"
    )  # fmt: skip
    assert (v["profile"], v["level"], v["field_order"]) == ("Main", 4, "progressive")  # MP@HL
    assert v["display_aspect_ratio"] == "16:9"
    assert float(v["duration"]) == pytest.approx(2.002, abs=0.01)


def write_dash(tmp_path: Path, video, audio, n_frames: int, profile) -> Path:  # type: ignore[no-untyped-def]
    (tmp_path / "v_init.mp4").write_bytes(video.init)
    for i, seg in enumerate(video.segments):
        (tmp_path / f"v_{i:05d}.m4s").write_bytes(seg)
    (tmp_path / "a_init.mp4").write_bytes(audio.init)
    for i, seg in enumerate(audio.segments):
        (tmp_path / f"a_{i:05d}.m4s").write_bytes(seg)
    tracks = [
        TrackRef("video", "v", "v_init.mp4", "v_$Number%05d$.m4s", video.timescale, tuple(video.starts),
                 video.end, video.codecs(), video.peak_bitrate(), W, H, "30000/1001",
                 durations=tuple(video.durations)),
        TrackRef("audio", "a", "a_init.mp4", "a_$Number%05d$.m4s", audio.timescale, tuple(audio.starts),
                 audio.end, audio.codecs(), audio.peak_bitrate(), durations=tuple(audio.durations),
                 offset=audio.offset),
    ]  # fmt: skip
    path = tmp_path / "manifest.mpd"
    path.write_bytes(mpd(tracks, n_frames / profile.fps, 2.002))
    return path


def decode_mpd(directory: Path) -> list[str]:
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", "manifest.mpd", "-map", "0:v", "-f", "framemd5", "-"],
        capture_output=True, text=True, check=True, cwd=directory,
    )  # fmt: skip
    return [line for line in out.stdout.splitlines() if line and not line.startswith("#")]


def test_atsc3_dash_hevc_fmp4_decodes_end_to_end(tmp_path: Path) -> None:
    profile = make_profile("atsc3", "1080p", size=(W, H))
    n = 3 * SEG
    seen: list[int] = []
    video = encode_fmp4_video(frames(n), n, profile, SEG, lambda i, _init, _d: seen.append(i))
    assert seen == [0, 1, 2] and len(video.segments) == 3
    assert video.starts == [0, SEG * 1001, 2 * SEG * 1001] and video.timescale == 30000
    audio = encode_fmp4_audio(tone(n / 29.97), profile, 2.002)
    write_dash(tmp_path, video, audio, n, profile)
    probe = ffprobe(Path("manifest.mpd"), "-show_streams", cwd=tmp_path)
    codecs = {s["codec_type"]: s["codec_name"] for s in probe["streams"]}
    assert codecs == {"video": "hevc", "audio": "aac"}
    assert len(decode_mpd(tmp_path)) == n
    concat = tmp_path / "v_all.mp4"
    concat.write_bytes(video.init + b"".join(video.segments))
    flags = [p["flags"] for p in ffprobe(concat, "-show_packets", "-show_entries", "packet=flags")["packets"]]
    assert [i for i, f in enumerate(flags) if f.startswith("K")] == [0, SEG, 2 * SEG]


def test_retimed_segments_repeat_a_cached_loop_without_reencoding(tmp_path: Path) -> None:
    profile = make_profile("atsc3", "1080p", size=(W, H))
    video = encode_fmp4_video(frames(2 * SEG), 2 * SEG, profile, SEG)
    ticks = video.starts[1] - video.starts[0]
    repeated = [retime(video.segments[k % 2], k * ticks, k + 1) for k in range(5)]
    assert [tfdt(s) for s in repeated] == [k * ticks for k in range(5)]
    # Only tfdt/mfhd changed: the coded pictures (mdat) are byte-identical to the cache.
    assert repeated[2][-1000:] == video.segments[0][-1000:] and len(repeated[2]) == len(video.segments[0])
    video.segments, video.starts, video.durations = repeated, [k * ticks for k in range(5)], [ticks] * 5
    audio = encode_fmp4_audio(tone(5 * SEG / 29.97), profile, 2.002)
    write_dash(tmp_path, video, audio, 5 * SEG, profile)
    lines = decode_mpd(tmp_path)
    assert len(lines) == 5 * SEG
    pts = [int(line.split(",")[2]) for line in lines]
    assert pts == sorted(pts) and len(set(pts)) == len(pts)  # monotonic across the repeats
    md5 = [line.split(",")[-1].strip() for line in lines]
    assert md5[:SEG] == md5[2 * SEG : 3 * SEG]  # the loop really repeats


def test_first_segment_is_published_before_the_speech_is_ready(tmp_path: Path) -> None:
    from cinealert.broadcast.audio import lead_in

    head = lead_in(-24.0)
    full = np.concatenate([head, tone(4.0)])
    profile = make_profile("hls", "1080p", size=(W, H))
    events: list[str] = []

    def plan():  # type: ignore[no-untyped-def]
        events.append("plan")
        return full, 3 * SEG

    def emit(name: str, data: bytes, duration: float) -> None:
        events.append(name)
        (tmp_path / name).write_bytes(data)

    segs = encode_ts(frames(3 * SEG), plan, profile, SEG, emit, head=head)
    assert events == ["seg_00000.ts", "plan", "seg_00001.ts", "seg_00002.ts"]
    # The audio is one continuous stream across the early segment and the later ones.
    playlist = tmp_path / "p.m3u8"
    playlist.write_text(m3u8_media(segs, 2.002))
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", "-select_streams", "a", "-show_packets", "-show_entries",
         "packet=pts_time,duration_time", str(playlist)], capture_output=True, text=True, check=True,
    )  # fmt: skip
    pkts = json.loads(out.stdout)["packets"]
    starts = [float(p["pts_time"]) for p in pkts]
    gaps = [b - (a + float(p["duration_time"])) for a, b, p in zip(starts, starts[1:], pkts, strict=False)]
    assert max(abs(g) for g in gaps) < 1e-3
    assert starts[-1] + float(pkts[-1]["duration_time"]) >= len(full) / 48000 - 0.03
