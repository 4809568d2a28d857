"""The Korean-only and the bilingual sample through ``MediaStage`` to ``atsc1`` (MPEG-2 and H.264): every
language's CEA-708 service read back by the tests' own reader says that language's headline and instruction,
the PMT declares the services, CC1 still decodes in FFmpeg, and each language's captions (708 service, 608,
sidecar WebVTT) are timed to that language's own audio track, measured on the decoded track."""

from __future__ import annotations

import json
import re
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

from cinealert.cap.classify import classify
from cinealert.cap.parse import parse_alert
from cinealert.config import parse
from cinealert.media.stage import MediaStage
from dtvccreader import caption_service_descriptor, read_dtvcc
from test_broadcast_cea708 import decode_608
from test_media_ts import H, W, provider
from tsreader import parse_pmt, sections

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
RATE = 48000


def render(tmp: Path, sample: str, codec: str) -> tuple[Path, object]:
    settings = parse({
        "broadcast": {"output_dir": str(tmp / "out"), "profiles": ["atsc1"], "languages": ["ko", "en"],
                      "atsc1_video_codec": codec},
        "render": {"cache_dir": str(tmp / "cache")},
    })  # fmt: skip
    alert = parse_alert((SAMPLES / sample).read_bytes())
    folder = tmp / "out" / alert.key.slug()
    MediaStage(settings, loop_provider=provider, size=(W, H)).render(
        alert, classify(alert), threading.Event(), directory=folder
    )
    return folder, alert


@pytest.fixture(scope="module")
def korean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    return render(tmp_path_factory.mktemp("dtvcc_ko"), "ko_flood.xml", "mpeg2")


@pytest.fixture(scope="module")
def bilingual(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    return render(tmp_path_factory.mktemp("dtvcc_bi"), "bilingual_typhoon.xml", "h264")


def words(text: str) -> str:
    return " ".join(text.split())


def joined(folder: Path) -> bytes:
    doc = json.loads((folder / "result.json").read_text())
    return b"".join((folder / s["name"]).read_bytes() for s in doc["outputs"]["atsc1"]["segments"])


def services_of(data: bytes) -> dict[int, tuple[str, str | None]]:
    """service number -> (ISO 639 language, P16 codec) from the PMT's caption service descriptor."""
    pmt = parse_pmt(sections(data, 0x1000)[0])
    video = next(s for s in pmt.streams if s.stream_type in (0x02, 0x1B))
    body = video.descriptor(0x86)
    assert body is not None, "no caption_service_descriptor on the video stream"
    entries = caption_service_descriptor(body)
    return {
        int(e["service"]): (
            str(e["language"]),
            "euc_kr" if e["language"] == "kor" and e["korean_code"] == 0 else None,
        )
        for e in entries
        if e["digital_cc"]
    }


def speech(media: Path, index: int) -> tuple[list[float], float]:
    """Speech onsets (after >= 0.25 s of quiet) and the end of the last speech in audio track ``index``,
    by a 20 ms energy gate at -45 dBFS on FFmpeg's decode, after the lead-in tone (2.1 s)."""
    pcm = subprocess.run(["ffmpeg", "-v", "error", "-i", str(media), "-map", f"0:a:{index}", "-f", "f32le",
                          "-ac", "1", "-ar", str(RATE), "-"], capture_output=True, check=True).stdout  # fmt: skip
    x = np.frombuffer(pcm, "<f4").astype(np.float64)
    win = RATE // 50
    rms = np.sqrt(np.mean(x[: len(x) // win * win].reshape(-1, win) ** 2, axis=1))
    voiced = rms > 10 ** (-45 / 20)
    t = np.arange(len(voiced)) * 0.02
    onsets, quiet = [], 1.0
    for i, v in enumerate(voiced):
        if t[i] < 2.1:
            continue
        if v and quiet >= 0.25:
            onsets.append(float(t[i]))
        quiet = 0.0 if v else quiet + 0.02
    last = float(t[np.nonzero(voiced)[0][-1]] + 0.02)
    return onsets, last


def check_timing(
    captions: list[tuple[float, float, str]], onsets: list[float], last: float, what: str
) -> float:
    """Every caption within the track's speech; each utterance's first caption on a speech onset. The largest
    start-to-onset offset."""
    assert captions and onsets, what
    worst = 0.0
    prev_end = -1.0
    for start, end, _text in captions:
        assert onsets[0] - 0.25 <= start < last, (what, start, onsets[0], last)  # TTS leading silence
        assert end <= last + 1.1, (what, end, last)  # a caption stays at least 1 s
        if start > prev_end + 0.05:  # a new utterance (cues of one utterance follow each other)
            offset = min(abs(start - o) for o in onsets)
            assert offset <= 0.25, (what, start, onsets)  # espeak-ng starts with up to ~0.2 s of silence
            worst = max(worst, offset)
        prev_end = end
    return worst


def vtt_cues(path: Path) -> list[tuple[float, float, str]]:
    def secs(v: str) -> float:
        h, m, s = v.split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)

    return [(secs(a), secs(b), "") for a, b in re.findall(r"([\d:.]+) --> ([\d:.]+)", path.read_text())]


def test_korean_sample_has_a_korean_service(korean: tuple[Path, object], tmp_path: Path) -> None:
    folder, alert = korean
    data = joined(folder)
    declared = services_of(data)
    assert declared == {1: ("kor", "euc_kr")}  # no Latin language: no CC1, service 1 is Korean
    services, pkts, length = read_dtvcc(data, {n: c for n, (_l, c) in declared.items()})
    info = alert.infos[0]  # type: ignore[attr-defined]
    got = services[1].captions(length)
    assert words(" ".join(text for _s, _e, text in got)) == words(f"{info.headline} {info.instruction}")
    media = tmp_path / "ko.ts"
    media.write_bytes(data)
    onsets, last = speech(media, 0)
    worst = check_timing(got, onsets, last, "ko service 1")
    bits = sum(len(p.data) + 1 for p in pkts) * 8 / length
    print(f"ko: {len(got)} captions, DTVCC {bits:.0f} bit/s average, worst onset offset {worst:.3f} s")


def test_bilingual_sample_services_and_timing(bilingual: tuple[Path, object], tmp_path: Path) -> None:
    folder, alert = bilingual
    data = joined(folder)
    declared = services_of(data)
    assert declared == {1: ("eng", None), 2: ("kor", "euc_kr")}  # service 1 = CC1's English
    services, pkts, length = read_dtvcc(data, {n: c for n, (_l, c) in declared.items()})
    media = tmp_path / "bi.ts"
    media.write_bytes(data)
    infos = {i.language: i for i in alert.infos}  # type: ignore[attr-defined]
    figures = []
    # Audio PIDs: the first language (Korean) first, English second.
    for number, lang, track in ((2, "ko-KR", 0), (1, "en-US", 1)):
        got = services[number].captions(length)
        info = infos[lang]
        assert words(" ".join(t for _s, _e, t in got)) == words(f"{info.headline} {info.instruction}"), lang
        onsets, last = speech(media, track)
        figures.append((lang, len(got), check_timing(got, onsets, last, f"{lang} service {number}")))
        # The sidecar WebVTT of the language: the same timing as its service (the first 708 caption can come a
        # few frames late: loading starts only after the lead-in segment, shared by two services' loads).
        vtt = vtt_cues(folder / f"captions_{lang}.vtt")
        assert len(vtt) == len(got) and 0 <= got[0][0] - vtt[0][0] <= 0.2, (lang, vtt[0], got[0])
        assert all(abs(v[0] - g[0]) <= 1 / 29.97 + 1e-3 for v, g in zip(vtt[1:], got[1:], strict=True)), lang
        check_timing(vtt, onsets, last, f"{lang} vtt")
        if lang == "en-US":
            # CC1 (608, FFmpeg's decoder): English, on the English track's timing, not after the Korean reading.
            cc1 = decode_608(media)
            assert words(" ".join(t.replace("\n", " ") for _s, _e, t in cc1)) == words(
                f"{info.headline} {info.instruction}"
            )
            # The first 608 caption loads at 1 byte pair per 1/29.97 s once the lead-in segment is out, so it may
            # appear up to ~1 s late; the later ones are loaded ahead and land on the English onsets.
            assert -0.25 <= cc1[0][0] - onsets[0] <= 1.2, (cc1[0], onsets[0])
            check_timing(cc1[1:], onsets, last, "en-US CC1")
    bits = sum(len(p.data) + 1 for p in pkts) * 8 / length
    print(f"bilingual: {figures}, DTVCC {bits:.0f} bit/s average")


def test_language_timed_is_the_language_tracks_layout() -> None:
    """``language_timed`` (captions) computes the times ``language_tracks`` (audio) lays each language out at."""
    from cinealert.broadcast.audio import AlertAudio, Utterance, language_tracks
    from cinealert.media.captions import language_timed

    rng = np.random.default_rng(3)
    samples = (0.1 * rng.standard_normal(RATE * 20)).astype(np.float32)
    utts = (
        Utterance("ko", "headline", "가", 2.1, 4.0), Utterance("ko", "instruction", "나", 4.35, 7.5),
        Utterance("en", "headline", "A", 7.85, 10.0), Utterance("en", "instruction", "B", 10.35, 19.9),
    )  # fmt: skip
    audio = AlertAudio(samples, RATE, utts, -24.0, -3.0, int(2.1 * RATE))
    tracks = language_tracks(audio)
    expected = [u for lang in ("ko", "en") for u in tracks[lang].utterances]
    assert sorted(language_timed(audio), key=lambda u: u.language) == sorted(
        expected, key=lambda u: u.language
    )
    assert language_timed(audio)[2].start_s == pytest.approx(
        2.1
    )  # English from the lead-in, not after Korean
