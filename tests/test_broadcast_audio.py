"""Spoken alert: espeak-ng speech, attention tone, BS.1770 loudness — checked with FFmpeg's ebur128 meter."""

from __future__ import annotations

import itertools
import re
import subprocess
import threading
import wave
from pathlib import Path

import numpy as np
import pytest

from cinealert.broadcast.audio import (
    RATE,
    AudioCancelledError,
    EspeakSpeaker,
    TTSError,
    attention_tone,
    build_audio,
    language_tracks,
)
from cinealert.broadcast.loudness import integrated_loudness, normalize, true_peak_dbtp

TEXTS = [
    ("ko-KR", "headline", "제주도 태풍경보 발효"),
    ("ko-KR", "instruction", "해안가 접근을 금지하고 실내에 머무르십시오."),
    ("en-US", "headline", "Typhoon warning for Jeju"),
    ("en-US", "instruction", "Stay indoors and away from the coast."),
]


def write_wav(path: Path, samples: np.ndarray, rate: int = RATE) -> Path:
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


def ebur128(path: Path) -> tuple[float, float]:
    """Integrated loudness (LUFS) and true peak (dBTP) measured by FFmpeg, an independent implementation."""
    proc = subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-nostats",
            "-i",
            str(path),
            "-af",
            "ebur128=peak=true",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    summary = proc.stderr[proc.stderr.rindex("Summary:") :]
    integrated = float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1))  # type: ignore[union-attr]
    peak = float(re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", summary).group(1))  # type: ignore[union-attr]
    return integrated, peak


@pytest.fixture(scope="module")
def alert_audio():  # type: ignore[no-untyped-def]
    return build_audio(TEXTS, EspeakSpeaker())


def test_alert_audio_meets_a85_loudness_by_ffmpeg(alert_audio, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    integrated, peak = ebur128(write_wav(tmp_path / "alert.wav", alert_audio.samples))
    assert -25.0 <= integrated <= -23.0
    assert peak <= -2.0 + 0.3
    assert abs(alert_audio.loudness_lkfs - integrated) < 0.5  # our meter agrees with FFmpeg's


def test_utterances_are_timed_in_order_after_the_tone(alert_audio) -> None:  # type: ignore[no-untyped-def]
    utts = alert_audio.utterances
    assert [(u.language, u.kind) for u in utts] == [(lang, kind) for lang, kind, _ in TEXTS]
    assert utts[0].start_s >= 1.5  # after the attention tone
    for a, b in itertools.pairwise(utts):
        assert a.end_s <= b.start_s
    assert all(u.end_s - u.start_s > 0.5 for u in utts)
    assert utts[-1].end_s <= alert_audio.duration_s
    # speech actually sits inside each utterance window, silence in the gaps
    s = alert_audio.samples
    for u in utts:
        inside = s[int(u.start_s * RATE) : int(u.end_s * RATE)]
        assert np.sqrt(np.mean(inside**2)) > 0.01
    gap = s[int(utts[0].end_s * RATE) + 100 : int(utts[1].start_s * RATE) - 100]
    assert np.abs(gap).max() < 1e-3


def test_each_language_gets_its_own_track_laid_out_from_the_start(alert_audio, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Issue 14: per language, the lead-in then that language's speech from where the first speech starts,
    as long as the mixed programme, at the target by FFmpeg's meter; the first language keeps its times."""
    tracks = language_tracks(alert_audio)
    assert list(tracks) == ["ko-KR", "en-US"]
    mixed = alert_audio.utterances
    head = alert_audio.head_samples
    for lang, track in tracks.items():
        assert len(track.samples) == len(alert_audio.samples)
        assert np.array_equal(track.samples[:head], alert_audio.samples[:head])  # the same lead-in
        assert [(u.language, u.kind, u.text) for u in track.utterances] == [
            (u.language, u.kind, u.text) for u in mixed if u.language == lang
        ]
        assert track.utterances[0].start_s == pytest.approx(mixed[0].start_s, abs=1e-3)
        own = [u for u in mixed if u.language == lang]
        for u, m in zip(track.utterances, own, strict=True):
            assert u.end_s - u.start_s == pytest.approx(m.end_s - m.start_s, abs=1e-3)
            inside = track.samples[int(u.start_s * RATE) : int(u.end_s * RATE)]
            assert np.sqrt(np.mean(inside**2)) > 0.01  # speech where the track says it is
        after = track.samples[int((track.utterances[-1].end_s + 0.05) * RATE) :]
        assert np.abs(after).max() < 1e-3  # nothing of the other language after its own speech
        integrated, peak = ebur128(write_wav(tmp_path / f"{lang}.wav", track.samples))
        assert -25.0 <= integrated <= -23.0, (lang, integrated)
        assert peak <= -2.0 + 0.3
    assert tracks["ko-KR"].utterances == tuple(u for u in mixed if u.language == "ko-KR")  # primary unchanged
    one = build_audio(TEXTS[2:], EspeakSpeaker())
    assert language_tracks(one) == {"en-US": one}


def test_attention_tone_is_the_853_960_hz_pair_and_quieter_than_speech(alert_audio) -> None:  # type: ignore[no-untyped-def]
    tone = attention_tone(1.5)
    spectrum = np.abs(np.fft.rfft(tone))
    freqs = np.fft.rfftfreq(len(tone), 1 / RATE)
    top = sorted(freqs[np.argsort(spectrum)[-2:]].round())
    assert top == [853.0, 960.0]
    s = alert_audio.samples
    tone_part = s[: int(1.4 * RATE)]
    speech = s[int(alert_audio.utterances[0].start_s * RATE) : int(alert_audio.utterances[-1].end_s * RATE)]
    assert integrated_loudness(tone_part) < integrated_loudness(speech) - 3


def test_our_meter_matches_the_bs1770_reference_sine() -> None:
    # BS.1770: a 997 Hz sine at 0 dBFS peak in one channel reads -3.01 LKFS.
    t = np.arange(RATE * 5) / RATE
    sine = np.sin(2 * np.pi * 997 * t).astype(np.float32)
    assert integrated_loudness(sine) == pytest.approx(-3.01, abs=0.05)
    assert integrated_loudness(sine * 0.1) == pytest.approx(-23.01, abs=0.05)
    assert integrated_loudness(np.zeros(RATE, np.float32)) == -np.inf


def test_peaky_signal_is_limited_to_the_true_peak_ceiling(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    t = np.arange(RATE * 6) / RATE
    signal = 0.05 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 0.7 * t))
    clicks = rng.choice(len(t), 40, replace=False)
    signal[clicks] = 0.9  # sparse spikes: crest factor far beyond what -24 LKFS at -2 dBTP allows
    out = normalize(signal.astype(np.float32), -24.0, -2.0)
    assert true_peak_dbtp(out) <= -2.0
    integrated, peak = ebur128(write_wav(tmp_path / "peaky.wav", out))
    assert peak <= -2.0 + 0.3
    assert -25.0 <= integrated <= -23.0


def test_missing_engine_is_reported_clearly() -> None:
    with pytest.raises(TTSError, match="espeak-ng not found"):
        EspeakSpeaker(binary="espeak-ng-not-installed").speak("test", "en")


def test_nothing_to_say_is_an_error() -> None:
    with pytest.raises(TTSError, match="nothing to speak"):
        build_audio([("en", "headline", "  ")], EspeakSpeaker())


def test_cancel_stops_before_assembling() -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(AudioCancelledError):
        build_audio(TEXTS[:1], EspeakSpeaker(), cancel=cancel)


class ToneSpeaker:
    """A second engine through the same protocol: proves the seam (a neural TTS would plug in the same way)."""

    name = "tones"

    def speak(self, text: str, language: str):  # type: ignore[no-untyped-def]
        t = np.arange(int(0.05 * len(text) * RATE)) / RATE
        return (0.3 * np.sin(2 * np.pi * (300 if language.startswith("ko") else 500) * t)).astype(np.float32)


def test_speaker_protocol_accepts_another_engine() -> None:
    audio = build_audio([("ko", "headline", "가" * 40), ("en", "headline", "a" * 20)], ToneSpeaker())
    assert audio.utterances[0].end_s - audio.utterances[0].start_s == pytest.approx(2.0, abs=0.01)
    assert audio.utterances[1].end_s - audio.utterances[1].start_s == pytest.approx(1.0, abs=0.01)
    assert audio.loudness_lkfs == pytest.approx(-24.0, abs=0.1)


# --- text transport and bounding ----------------------------------------------------------------------------


def _argv_espeak(text: str, voice: str, speed: int = 150) -> np.ndarray:
    """espeak-ng with the text on its command line, the way it was called before (the reference)."""
    from cinealert.broadcast.audio import _wav_pcm16, resample

    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", "--", text], capture_output=True, check=True
    ).stdout
    pcm, rate = _wav_pcm16(wav)
    return resample(pcm.astype(np.float32) / 32768.0, rate)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Typhoon warning for Jeju. Stay indoors.", "en-US"),
        ("해안가 접근을 금지하고 실내에 머무르십시오.", "ko-KR"),
    ],
)
def test_text_through_stdin_sounds_exactly_as_on_the_command_line(text: str, language: str) -> None:
    spoken = EspeakSpeaker().speak(text, language)
    assert np.array_equal(spoken, _argv_espeak(text, language.split("-")[0]))


def test_espeak_transport_takes_a_text_longer_than_one_argument_may_be() -> None:
    """Over 128 KiB (Linux's MAX_ARG_STRLEN) the command line fails with E2BIG; stdin takes any size. The
    padding is whitespace, which espeak-ng skips quickly, so the speech stays two short sentences."""
    text = "Evacuate now." + " " * 250_000 + "Move to higher ground."
    assert len(text.encode()) > 200 * 1024
    with pytest.raises(OSError, match="Argument list too long"):
        _argv_espeak(text, "en")
    samples = EspeakSpeaker().speak(text, "en-US")
    seconds = len(samples) / RATE
    assert 1.0 < seconds < 10.0
    assert np.sqrt(np.mean(samples**2)) > 0.01


def test_speech_items_bound_each_text_by_its_kind() -> None:
    from cinealert.broadcast.audio import SPOKEN_CELLS, speech_items
    from cinealert.render.text import ELLIPSIS, cluster_cells, graphemes

    def cells(text: str) -> int:
        return sum(cluster_cells(c) for c in graphemes(text))

    huge_ko = "즉시 높은 곳으로 대피하십시오 " * 20_000
    items = speech_items(
        [
            ("ko-KR", "headline", huge_ko),
            ("ko-KR", "instruction", "x" * 300_000),
            ("en-US", "headline", "Typhoon\n\nwarning   for Jeju"),
            ("en-US", "instruction", "\n\n \t"),
        ]
    )
    assert [(lang, kind) for lang, kind, _ in items] == [
        ("ko-KR", "headline"),
        ("ko-KR", "instruction"),
        ("en-US", "headline"),
    ]
    head, instr, short = (text for _, _, text in items)
    assert head.endswith(ELLIPSIS) and cells(head) <= SPOKEN_CELLS["headline"]
    assert huge_ko.startswith(head.removesuffix(ELLIPSIS))  # cut after a whole word
    assert instr == "x" * (SPOKEN_CELLS["instruction"] - 1) + ELLIPSIS
    assert short == "Typhoon warning for Jeju"


def test_a_huge_alert_is_spoken_bounded_by_real_espeak() -> None:
    """250 KiB of headline and instruction: spoken in well under a minute, utterances (and so captions) cut."""
    from cinealert.broadcast.audio import SPOKEN_CELLS

    huge = "evacuate now, river levels rising; move to higher ground and do not drive through water. " * 3000
    assert len(huge.encode()) > 250 * 1024
    audio = build_audio([("en-US", "headline", huge), ("en-US", "instruction", huge)], EspeakSpeaker())
    head, instr = audio.utterances
    assert head.text.endswith("…") and len(head.text) <= SPOKEN_CELLS["headline"]
    assert instr.text.endswith("…") and len(instr.text) <= SPOKEN_CELLS["instruction"]
    assert 10.0 < audio.duration_s < 40.0
    assert -25.0 <= audio.loudness_lkfs <= -23.0
