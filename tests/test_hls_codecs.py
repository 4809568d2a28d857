"""``broadcast.tscodecs``: the RFC 6381 ``codecs`` of TS segments as muxed, checked against ffprobe's reading of
the same bytes (small real encodes: H.264 + AC-3 for ``atsc1``, H.264 + AAC for ``hls``, MPEG-2 refused)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cinealert.broadcast.encode import encode_ts, frames_per_segment, make_profile
from cinealert.broadcast.tscodecs import CodecsError, aac_codecs, avc_codecs, codecs_attribute, ts_codecs

W, H = 320, 180
PROFILE_IDC = {"Baseline": 66, "Constrained Baseline": 66, "Main": 77, "High": 100}


def segment(profile_name: str, atsc1_video: str = "h264") -> bytes:
    """The first TS segment of a one-segment encode (a moving gradient, a tone)."""
    profile = make_profile(profile_name, size=(W, H), atsc1_video=atsc1_video)  # type: ignore[arg-type]
    n = frames_per_segment(2.002)
    x = np.arange(W, dtype=np.int32)[None, :, None]
    frames = [np.broadcast_to((x + 4 * i) % 256, (H, W, 3)).astype(np.uint8) for i in range(n)]
    t = np.arange(round(n / float(profile.fps) * 48_000)) / 48_000
    audio = (0.1 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    out: list[bytes] = []
    encode_ts(frames, lambda: (audio, n), profile, n, lambda _name, data, _d: out.append(data))
    return out[0]


def probe(data: bytes, tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "seg.ts"
    path.write_bytes(data)
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,profile,level", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return list(json.loads(out)["streams"])


@pytest.mark.parametrize(("profile", "audio"), [("atsc1", "ac-3"), ("hls", "mp4a.40.2")])
def test_codecs_of_a_segment_are_what_ffprobe_reads(tmp_path: Path, profile: str, audio: str) -> None:
    data = segment(profile)
    video_codec, audio_codec = ts_codecs(data)
    streams = probe(data, tmp_path)
    assert [s["codec_name"] for s in streams] == ["h264", "ac3" if profile == "atsc1" else "aac"]
    assert video_codec.startswith(f"avc1.{PROFILE_IDC[streams[0]['profile']]:02X}")
    assert int(video_codec[-2:], 16) == streams[0]["level"]
    assert audio_codec == audio
    assert codecs_attribute([data, data]) == f"{video_codec},{audio}"  # each value once


def test_mpeg2_video_has_no_hls_codecs_value() -> None:
    with pytest.raises(CodecsError, match="stream type 0x02"):
        ts_codecs(segment("atsc1", "mpeg2"))


def test_parameter_sets_and_headers() -> None:
    # An SPS after an access unit delimiter: profile 100, constraint byte 0x0C, level 40.
    assert avc_codecs(b"\0\0\0\1\x09\xf0\0\0\0\1\x67\x64\x0c\x28\xac") == "avc1.640C28"
    # ADTS headers: profile field 1 = AAC-LC (object type 2), 0 = AAC Main (object type 1).
    assert aac_codecs(bytes([0xFF, 0xF1, 0x4C, 0x80, 0x2E, 0x7F, 0xFC])) == "mp4a.40.2"
    assert aac_codecs(bytes([0xFF, 0xF1, 0x0C, 0x80, 0x2E, 0x7F, 0xFC])) == "mp4a.40.1"
    with pytest.raises(CodecsError):
        avc_codecs(b"\0\0\1\x09\xf0")
    with pytest.raises(CodecsError):
        ts_codecs(b"\0" * 188)
