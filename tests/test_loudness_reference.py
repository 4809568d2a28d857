"""Our BS.1770 meter and true-peak estimate against FFmpeg's ebur128 filter, an independent implementation.

The alert's loudness label (A/85, the AC-3 dialnorm) comes from this meter, so it must agree with a reference
on the signals an alert is made of: speech, tones, noise, silence, and their mixes. The signals are written as
16-bit WAV files, and both meters read the same quantised samples.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from cinealert.broadcast.audio import RATE, EspeakSpeaker, attention_tone
from cinealert.broadcast.loudness import integrated_loudness, true_peak_dbtp
from test_broadcast_audio import ebur128, write_wav


def _tone(freq: float, dbfs: float, seconds: float = 4.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (10 ** (dbfs / 20) * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _noise(dbfs: float, seconds: float = 4.0) -> np.ndarray:
    rng = np.random.default_rng(7)
    x = rng.standard_normal(int(seconds * RATE))
    return (x / np.sqrt(np.mean(x**2)) * 10 ** (dbfs / 20)).astype(np.float32)


def _speech() -> np.ndarray:
    return (
        EspeakSpeaker().speak("Flash flood warning. Move to higher ground now.", "en-US").astype(np.float32)
    )


SIGNALS = {
    "tone_1k_-20": lambda: _tone(1000, -20.0),
    "tone_100_-12": lambda: _tone(100, -12.0),
    "tone_8k_-30": lambda: _tone(8000, -30.0),
    "noise_-26": lambda: _noise(-26.0),
    "attention_tone": lambda: attention_tone(3.0),
    "speech": _speech,
    "speech_with_gaps": lambda: np.concatenate([_speech(), np.zeros(RATE * 2, np.float32), _speech() * 0.3]),
    "quiet_tone_-60": lambda: _tone(1000, -60.0),  # near the absolute gate
}
#: A sine's true peak is its amplitude, whatever the sample phase: the analytic reference for the tones.
ANALYTIC_PEAK = {"tone_1k_-20": -20.0, "tone_100_-12": -12.0, "tone_8k_-30": -30.0, "quiet_tone_-60": -60.0}


@pytest.mark.parametrize("name", sorted(SIGNALS))
def test_integrated_loudness_and_true_peak_match_ffmpeg(name: str, tmp_path: Path) -> None:
    samples = SIGNALS[name]()
    path = write_wav(tmp_path / f"{name}.wav", samples)
    quantised = np.clip(samples, -1, 1)
    quantised = (quantised * 32767).astype(np.int16).astype(np.float32) / 32767
    reference_lufs, reference_peak = ebur128(path)
    ours_lufs, ours_peak = integrated_loudness(quantised), true_peak_dbtp(quantised)
    assert abs(ours_lufs - reference_lufs) < 0.2, (name, ours_lufs, reference_lufs)
    # FFmpeg's 4x true-peak interpolator overshoots by up to ~0.8 dB near Nyquist/6 (an 8 kHz sine reads -29.2
    # for -30.0); ours is held to the analytic value where there is one, and to FFmpeg within its own error.
    assert abs(ours_peak - reference_peak) < 0.6, (name, ours_peak, reference_peak)
    if name in ANALYTIC_PEAK:
        assert abs(ours_peak - ANALYTIC_PEAK[name]) < 0.3, (name, ours_peak)


def test_silence_has_no_loudness_in_either_meter(tmp_path: Path) -> None:
    silence = np.zeros(RATE * 3, np.float32)
    reference_lufs, _peak = ebur128(write_wav(tmp_path / "silence.wav", silence))
    assert integrated_loudness(silence) == -math.inf
    assert reference_lufs <= -70.0  # FFmpeg reports the gate floor for "nothing above the gate"
