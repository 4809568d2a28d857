"""ATSC 1.0 / HLS transport streams checked the way a station's ingest checks them: AC-3 dialnorm against the
loudness target, continuity and PCR across joined segments, PAT/PMT signalling (CRC, AC-3 descriptors, ISO 639
language, no DVB SDT), the rate buffer held across segments and the declared bandwidth, BT.709 colour.

Independent readers: FFmpeg's own demuxer/decoders (system ffmpeg 5.1) and ``tsreader`` (written from the
standards for these tests)."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from cinealert.broadcast.encode import (
    AudioEncoder,
    Profile,
    SegmentInfo,
    dialnorm_for,
    encode_ts,
    frames_per_segment,
    m3u8_master,
    make_profile,
)
from tsreader import (
    AC3_RATES,
    ac3_frames,
    continuity_errors,
    packets,
    parse_pat,
    parse_pmt,
    pes_payloads,
    sections,
)

W, H = 160, 96
SEG = frames_per_segment(2.002)
FPS = 30000 / 1001


def tone(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * 48000)) / 48000
    return (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def gradient(n: int, w: int = W, h: int = H, noise: int = 0, seed: int = 0):  # type: ignore[no-untyped-def]
    """Moving colour ramps, optionally with noise of +-``noise`` levels (hard to code, so the rate caps bite)."""
    rng = np.random.default_rng(seed)
    x = np.arange(w, dtype=np.int32)[None, :]
    y = np.arange(h, dtype=np.int32)[:, None]
    for i in range(n):
        base = np.stack(
            [(x * 2 + 3 * i) % 256 + 0 * y, 60 + y * 150 // h + 0 * x, (200 - x // 2 + 0 * y) % 256], -1
        )
        if noise:
            base = base + rng.integers(-noise, noise + 1, base.shape)
        yield np.clip(base, 0, 255).astype(np.uint8)


@dataclass(frozen=True, slots=True)
class Clip:
    directory: Path
    profile: Profile
    segments: list[SegmentInfo]

    def data(self, seg: SegmentInfo) -> bytes:
        return (self.directory / seg.name).read_bytes()

    @property
    def joined(self) -> Path:
        path = self.directory / "joined.ts"
        if not path.exists():
            path.write_bytes(b"".join(self.data(s) for s in self.segments))
        return path


def encode_clip(
    directory: Path,
    profile: Profile,
    n_segments: int,
    frames=None,
    **kwargs: object,  # type: ignore[no-untyped-def]
) -> Clip:
    """As the pipeline encodes: the lead-in tone known up front, the rest of the audio from ``plan()``."""
    directory.mkdir(parents=True, exist_ok=True)
    n = n_segments * SEG
    head = tone(2.1)
    audio = np.concatenate([head, tone(n / FPS - 2.1 - 0.05)])
    segs = encode_ts(
        frames if frames is not None else gradient(n + SEG, profile.width, profile.height), lambda: (audio, n),
        profile, SEG, lambda name, data, _d: (directory / name).write_bytes(data), head=head, **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip
    return Clip(directory, profile, segs)


@pytest.fixture(scope="module")
def atsc1(tmp_path_factory: pytest.TempPathFactory) -> Clip:
    profile = make_profile("atsc1", size=(W, H))
    return encode_clip(tmp_path_factory.mktemp("atsc1"), profile, 3, loudness_lkfs=-24.0, language="en-US")


@pytest.fixture(scope="module")
def hls(tmp_path_factory: pytest.TempPathFactory) -> Clip:
    profile = make_profile("hls", size=(W, H))
    return encode_clip(tmp_path_factory.mktemp("hls"), profile, 3, loudness_lkfs=-24.0, language="ko-KR")


def ffmpeg_verbose(path: Path) -> str:
    return subprocess.run(
        ["ffmpeg", "-hide_banner", "-v", "verbose", "-i", str(path), "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    ).stderr  # fmt: skip


# --- AC-3 dialnorm --------------------------------------------------------------------------------------------


def test_dialnorm_rounds_the_target_into_the_field_range() -> None:
    assert [dialnorm_for(v) for v in (-24.0, -23.6, -24.4, -40.0, -0.2)] == [-24, -24, -24, -31, -1]


def test_ac3_dialnorm_states_the_loudness_target(atsc1: Clip) -> None:
    """A receiver attenuates by 31 + dialnorm dB: a -24 LKFS programme labelled -31 would play 7 dB too loud."""
    pmt = parse_pmt(sections(atsc1.joined.read_bytes(), 0x1000)[0])
    ac3_pid = next(s.pid for s in pmt.streams if s.stream_type == 0x81)
    frames = ac3_frames(b"".join(pes_payloads(atsc1.joined.read_bytes(), ac3_pid)))
    assert len(frames) > 150  # ~6 s of 32 ms frames
    assert {(f.dialnorm, f.bsid, f.acmod, f.kbps) for f in frames} == {
        (24, 8, 1, 96)
    }  # -24 dB, mono, 96 kbit/s
    # Any target: the field follows it (one frame straight from the encoder).
    encoder = AudioEncoder("ac3", 96, dialnorm=-27)
    raw = b"".join(bytes(p) for p in encoder.feed(tone(0.2)) + encoder.finish())
    assert {f.dialnorm for f in ac3_frames(raw)} == {27}


# --- continuity, PCR, standalone segments ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["atsc1", "hls"])
def test_joined_segments_are_one_continuous_transport_stream(
    name: str, request: pytest.FixtureRequest
) -> None:
    """A playout server or multiplexer that concatenates the segments sees no boundary."""
    clip: Clip = request.getfixturevalue(name)
    log = ffmpeg_verbose(clip.joined)
    assert "Packet corrupt" not in log and "Continuity check failed" not in log, log[-2000:]
    data = clip.joined.read_bytes()
    assert continuity_errors(data) == []
    # PCR only goes forward, at most 100 ms apart (ISO/IEC 13818-1 2.7.2), across the joints too.
    pcrs = [p.pcr for p in packets(data) if p.pcr is not None]
    gaps = np.diff(np.array(pcrs, dtype=np.int64)) / 27_000
    assert gaps.min() > 0 and gaps.max() <= 100, (gaps.min(), gaps.max())
    for seg in clip.segments:
        # Still standalone: each segment opens with PAT then PMT (HLS: after FFmpeg's SDT), and its first picture
        # is a random access point.
        first = [p for p in packets(clip.data(seg)) if p.pid != 0x0011]
        assert [p.pid for p in first[:2]] == [0x0000, 0x1000]
        video = next(p for p in first if p.pid == 0x100)
        assert video.pusi and video.random_access


# --- PSI ------------------------------------------------------------------------------------------------------


def test_atsc1_pmt_signals_ac3_and_its_language_and_there_is_no_sdt(atsc1: Clip) -> None:
    data = atsc1.joined.read_bytes()
    pats = sections(data, 0x0000)
    assert len(pats) >= 3 and len(set(pats)) == 1  # one per segment at least, all the same
    assert parse_pat(pats[0]) == {1: 0x1000}
    pmts = sections(data, 0x1000)  # every one is CRC-checked by parse_pmt
    assert len(pmts) >= 3 and len(set(pmts)) == 1
    pmt = parse_pmt(pmts[0])
    assert pmt.pcr_pid == 0x100
    types = {s.stream_type: s for s in pmt.streams}
    assert set(types) == {0x02, 0x81}  # MPEG-2 video (A/53 Part 4), AC-3 audio (ATSC stream type)
    ac3 = types[0x81]
    assert ac3.descriptor(0x05) == b"AC-3"  # registration descriptor
    assert ac3.descriptor(0x0A) == b"eng\x00"  # ISO 639 language, audio_type 0 (undefined)
    body = ac3.descriptor(0x81)  # ATSC AC-3 audio stream descriptor (A/52 Annex A)
    assert body is not None
    # What the descriptor says is what the bit stream is.
    stream = ac3_frames(b"".join(pes_payloads(data, ac3.pid)))[0]
    assert body[0] >> 5 == stream.fscod == 0 and body[0] & 0x1F == stream.bsid == 8
    assert body[1] >> 2 == AC3_RATES.index(stream.kbps)  # exact bit rate code
    assert (body[2] >> 5, (body[2] >> 1) & 0x0F, body[2] & 1) == (stream.bsmod, 0b0001, 1)  # main, 1/0, full
    assert stream.acmod == 1
    textlen = body[5] >> 1
    flags = body[6 + textlen]
    assert flags >> 6 == 0b10 and body[7 + textlen : 10 + textlen] == b"eng"
    # ATSC service information is PSIP: no DVB SDT.
    assert not any(p.pid == 0x0011 for p in packets(data))


def test_hls_pmt_carries_the_audio_language(hls: Clip) -> None:
    pmt = parse_pmt(sections(hls.joined.read_bytes(), 0x1000)[0])
    types = {s.stream_type: s for s in pmt.streams}
    assert set(types) == {0x1B, 0x0F}  # H.264, AAC (ADTS)
    assert types[0x0F].descriptor(0x0A) == b"kor\x00"


# --- rate -----------------------------------------------------------------------------------------------------


def vbv_worst(sizes: list[int], rate_bps: int, buffer_bits: int, initial: float = 0.9) -> float:
    """Lowest fullness of the decoder buffer (bits; < 0 is an underflow) fed at ``rate_bps`` from
    ``initial`` full: the hypothetical reference decoder / VBV over the whole joined clip."""
    fullness = initial * buffer_bits
    worst = fullness
    for size in sizes:
        fullness -= size * 8
        worst = min(worst, fullness)
        fullness = min(buffer_bits, fullness + rate_bps / FPS)
    return worst


@pytest.mark.parametrize(("atsc1_video", "noise", "buffer_s"), [("h264", 128, 1.0), ("mpeg2", 32, 0.5)])
def test_one_encoder_holds_the_rate_buffer_across_segments(
    tmp_path: Path, atsc1_video: str, noise: int, buffer_s: float
) -> None:
    """A fresh encoder per segment starts each segment with a full buffer: every segment bursts and the joined
    clip overflows any decoder buffer. One encoder per clip keeps the VBV/HRD model true across the joints, and
    the declared bandwidth (HLS ``BANDWIDTH``) is the peak segment as measured."""
    profile = make_profile("atsc1", size=(320, 180), atsc1_video=atsc1_video)  # type: ignore[arg-type]
    clip = encode_clip(tmp_path, profile, 4, frames=gradient(5 * SEG, 320, 180, noise=noise))
    data = clip.joined.read_bytes()
    sizes = [len(pes) for pes in pes_payloads(data, 0x100)]
    assert len(sizes) == 4 * SEG
    rate = profile.video_kbps * 1000
    assert sum(sizes) * 8 / (len(sizes) / FPS) > 0.7 * rate  # the cap is what limits this content
    # Allow what the muxer adds per picture (H.264 access unit delimiter, PES framing slack).
    assert vbv_worst([s - 16 for s in sizes], rate, round(rate * buffer_s)) >= 0
    master = m3u8_master("m.m3u8", profile, segments=clip.segments, codecs="avc1.640028,ac-3")
    bandwidth = int(re.search(r"[:,]BANDWIDTH=(\d+)", master)[1])  # type: ignore[index]
    average = int(re.search(r"AVERAGE-BANDWIDTH=(\d+)", master)[1])  # type: ignore[index]
    per_segment = [len(clip.data(s)) * 8 / s.duration_s for s in clip.segments]
    assert max(per_segment) <= bandwidth < max(per_segment) + 1
    assert average == pytest.approx(sum(per_segment) / len(per_segment), rel=1e-3)
    assert "CLOSED-CAPTIONS=NONE" in master


def test_h264_signals_its_hrd(tmp_path: Path) -> None:
    profile = make_profile("atsc1", size=(W, H), atsc1_video="h264")
    clip = encode_clip(tmp_path, profile, 2)
    trace = subprocess.run(
        ["ffmpeg", "-v", "trace", "-i", str(clip.joined), "-map", "0:v", "-c", "copy", "-bsf:v", "trace_headers",
         "-f", "null", "-"], capture_output=True, text=True, check=True,
    ).stderr  # fmt: skip
    assert re.search(r"nal_hrd_parameters_present_flag\s+1 = 1", trace)
    assert re.search(r"bit_rate_value_minus1\[0\]\s+[01]+ = (\d+)", trace)


# --- colour ---------------------------------------------------------------------------------------------------

PATCHES = {  # RGB -> BT.709 limited-range Y'CbCr (ITU-R BT.709-6, 8 bits)
    (255, 0, 0): (63, 102, 240),
    (0, 255, 0): (173, 42, 26),
    (0, 0, 255): (32, 240, 118),
    (128, 128, 128): (126, 128, 128),
    (255, 255, 255): (235, 128, 128),
}


def patch_frames(n: int):  # type: ignore[no-untyped-def]
    frame = np.zeros((H, W, 3), np.uint8)
    for i, rgb in enumerate(PATCHES):
        frame[32:64, i * 32 : (i + 1) * 32] = rgb
    for _ in range(n):
        yield frame


@pytest.mark.parametrize(("atsc1_video", "codec"), [("mpeg2", "mpeg2video"), ("h264", "h264")])
def test_bt709_colour_is_signalled_and_true(tmp_path: Path, atsc1_video: str, codec: str) -> None:
    profile = make_profile("atsc1", size=(W, H), atsc1_video=atsc1_video)  # type: ignore[arg-type]
    clip = encode_clip(tmp_path, profile, 2, frames=patch_frames(3 * SEG))
    probe = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v", "-of", "json", "-show_entries",
         "stream=codec_name,color_primaries,color_transfer,color_space,color_range", str(clip.joined)],
        capture_output=True, text=True, check=True,
    ).stdout)["streams"][0]  # fmt: skip
    assert {k: v for k, v in probe.items() if k != "side_data_list"} == {
        "codec_name": codec, "color_primaries": "bt709", "color_transfer": "bt709", "color_space": "bt709",
        "color_range": "tv",
    }  # fmt: skip

    def decode(pix_fmt: str, size: int) -> np.ndarray:
        out = subprocess.run(
            ["ffmpeg", "-v", "error", "-i", str(clip.joined), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt",
             pix_fmt, "-"], capture_output=True, check=True,
        ).stdout  # fmt: skip
        return np.frombuffer(out[:size], np.uint8)

    yuv = decode("yuv420p", W * H * 3 // 2)
    y = yuv[: W * H].reshape(H, W)
    cb = yuv[W * H : W * H * 5 // 4].reshape(H // 2, W // 2)
    cr = yuv[W * H * 5 // 4 :].reshape(H // 2, W // 2)
    rgb = decode("rgb24", W * H * 3).reshape(H, W, 3)
    for i, (colour, expected) in enumerate(PATCHES.items()):
        sl = (slice(40, 56), slice(i * 32 + 8, i * 32 + 24))
        csl = (slice(20, 28), slice(i * 16 + 4, i * 16 + 12))
        coded = (float(y[sl].mean()), float(cb[csl].mean()), float(cr[csl].mean()))
        # The BT.709 matrix, not BT.601 (red would be Y 81 under BT.601).
        assert np.allclose(coded, expected, atol=2.5), (colour, coded, expected)
        back = rgb[sl].reshape(-1, 3).mean(axis=0)
        assert np.allclose(back, colour, atol=4), (colour, back)
