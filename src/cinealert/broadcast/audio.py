"""Spoken alert: attention tone, then headline and instruction per language, loudness-normalised for broadcast.

Loudness follows ATSC A/85: integrated loudness (ITU-R BS.1770-4: K-weighting, 400 ms blocks with 75 %
overlap, absolute gate -70 LKFS, relative gate -10 LU) at the configured target (-24 LKFS), true peak (4x
oversampled) at or below the configured ceiling (-2 dBTP). The K-weighting is applied in the frequency domain
(exact for an IIR filter whose impulse response has decayed inside the zero padding), so only numpy is needed.

The attention tone is the 853 + 960 Hz two-tone pair, 6 dB quieter than the speech and much shorter than an
EAS attention signal. Output is mono float32 at 48 kHz; ``Speaker`` is the seam for a better TTS engine.
"""

from __future__ import annotations

import functools
import math
import shutil
import subprocess
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

RATE = 48_000
Samples = npt.NDArray[np.float32]

# BS.1770-4 K-weighting at 48 kHz: high-shelf pre-filter, then RLB high-pass.
_SHELF_B = (1.53512485958697, -2.69169618940638, 1.19839281085285)
_SHELF_A = (1.0, -1.69065929318241, 0.73248077421585)
_RLB_B = (1.0, -2.0, 1.0)
_RLB_A = (1.0, -1.99004745483398, 0.99007225036621)


class TTSError(RuntimeError):
    """The speech engine is missing or failed; the message says which engine and how it failed."""


class AudioCancelledError(Exception):
    """Stopped between utterances because the caller's cancel event was set."""


class Speaker(Protocol):
    """A TTS engine: mono float samples in -1..1 at ``RATE`` for ``text`` in ``language`` (BCP 47)."""

    name: str

    def speak(self, text: str, language: str) -> Samples: ...


@dataclass(frozen=True, slots=True)
class Utterance:
    language: str
    kind: str  # "headline" | "instruction"
    text: str
    start_s: float
    end_s: float


@dataclass(frozen=True, slots=True)
class AlertAudio:
    samples: Samples
    rate: int
    utterances: tuple[Utterance, ...]
    loudness_lkfs: float
    true_peak_dbtp: float
    head_samples: int = 0  # length of the fixed ``lead_in`` at the start

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.rate


# --- engines -----------------------------------------------------------------------------------------------


def _wav_pcm16(data: bytes) -> tuple[npt.NDArray[np.int16], int]:
    """Parse espeak-ng's ``--stdout`` WAV (its size fields are placeholders, so ``wave`` cannot be trusted)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise TTSError("espeak-ng did not write a WAV stream")
    pos, rate = 12, 0
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        if cid == b"fmt ":
            rate = int.from_bytes(data[pos + 12 : pos + 16], "little")
        if cid == b"data":
            payload = data[pos + 8 :]
            payload = payload[: len(payload) // 2 * 2]
            return np.frombuffer(payload, "<i2"), rate
        pos += 8 + size + (size & 1)
    raise TTSError("espeak-ng WAV stream has no data chunk")


def resample(x: npt.NDArray[np.float32], rate_in: int, rate_out: int = RATE) -> Samples:
    """Band-limited resampling via the FFT (zero-padded so the circular edges do not ring into speech)."""
    if rate_in == rate_out or len(x) == 0:
        return x.astype(np.float32)
    g = math.gcd(rate_in, rate_out)
    step_in, step_out = rate_in // g, rate_out // g
    # Padded length = step_in * 2**k: an FFT-friendly size that maps to a whole number of output samples.
    blocks = 1 << math.ceil(math.log2((len(x) + rate_in // 10) / step_in))
    n_in, n_out = step_in * blocks, step_out * blocks
    spec = np.fft.rfft(x.astype(np.float64), n_in)
    out = np.fft.irfft(spec, n_out) * (n_out / n_in)
    return out[: round(len(x) * rate_out / rate_in)].astype(np.float32)


class EspeakSpeaker:
    """espeak-ng through a subprocess (Debian package ``espeak-ng``); Korean and English voices built in."""

    name = "espeak-ng"

    def __init__(self, speed_wpm: int = 150, binary: str = "espeak-ng") -> None:
        self.speed_wpm = speed_wpm
        self.binary = binary

    def speak(self, text: str, language: str) -> Samples:
        exe = shutil.which(self.binary)
        if exe is None:
            raise TTSError("espeak-ng not found on PATH: apt-get install espeak-ng (or `make setup`)")
        voice = language.split("-")[0].lower() or "en"
        try:
            proc = subprocess.run(
                [exe, "-v", voice, "-s", str(self.speed_wpm), "--stdout", "--", text],
                capture_output=True,
                timeout=60,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise TTSError(f"espeak-ng failed to run: {exc}") from exc
        if proc.returncode != 0:
            msg = proc.stderr.decode("utf-8", "replace").strip()
            raise TTSError(f"espeak-ng -v {voice} exited {proc.returncode}: {msg}")
        pcm, rate = _wav_pcm16(proc.stdout)
        return resample((pcm.astype(np.float32) / 32768.0), rate)


# --- loudness ------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _k_response(n: int) -> npt.NDArray[np.complex128]:
    return _biquad_response(_SHELF_B, _SHELF_A, n) * _biquad_response(_RLB_B, _RLB_A, n)


def _biquad_response(b: Sequence[float], a: Sequence[float], n: int) -> npt.NDArray[np.complex128]:
    z1 = np.exp(-2j * np.pi * np.arange(n // 2 + 1) / n)
    out: npt.NDArray[np.complex128] = (b[0] + b[1] * z1 + b[2] * z1 * z1) / (
        a[0] + a[1] * z1 + a[2] * z1 * z1
    )
    return out


def k_weight(x: npt.NDArray[np.floating], rate: int = RATE) -> npt.NDArray[np.float64]:
    if rate != RATE:
        raise ValueError(f"K-weighting coefficients are for {RATE} Hz, got {rate}")
    n = 1 << math.ceil(math.log2(len(x) + rate))  # >= 1 s of padding for the filter tail
    spec = np.fft.rfft(x.astype(np.float64), n)
    spec *= _k_response(n)
    return np.fft.irfft(spec, n)[: len(x)]


def _block_means(v: npt.NDArray[np.float64], rate: int = RATE) -> npt.NDArray[np.float64]:
    """Mean of ``v`` over 400 ms blocks every 100 ms (the gating blocks of BS.1770-4)."""
    block, step = int(0.4 * rate), int(0.1 * rate)
    if len(v) < block:
        v = np.concatenate([v, np.zeros(block - len(v))])
    csum = np.concatenate([[0.0], np.cumsum(v)])
    starts = np.arange(0, len(v) - block + 1, step)
    out: npt.NDArray[np.float64] = (csum[starts + block] - csum[starts]) / block
    return out


def integrated_loudness(x: npt.NDArray[np.floating], rate: int = RATE) -> float:
    """BS.1770-4 gated integrated loudness of a mono signal, in LKFS (-inf for silence)."""
    y = k_weight(x, rate)
    return gated_loudness(_block_means(y * y, rate))


def gated_loudness(z: npt.NDArray[np.float64]) -> float:
    """Integrated loudness from the blocks' mean squares (absolute gate -70 LKFS, relative gate -10 LU)."""
    with np.errstate(divide="ignore"):
        loud = -0.691 + 10 * np.log10(z)
    gated = z[loud > -70.0]
    if gated.size == 0:
        return -math.inf
    rel = -0.691 + 10 * math.log10(float(gated.mean())) - 10.0
    final = gated[-0.691 + 10 * np.log10(gated) > rel]
    return -0.691 + 10 * math.log10(float(final.mean()))


def _interpolator(factor: int = 4, taps_per_phase: int = 12) -> npt.NDArray[np.float64]:
    """Kaiser-windowed sinc, one row per phase (the BS.1770-4 Annex 2 style 48-tap 4x interpolator)."""
    taps = factor * taps_per_phase
    n = np.arange(taps)
    h = np.sinc((n - (taps - 1) / 2) / factor) * np.kaiser(taps, 8.0)
    phases = h.reshape(taps_per_phase, factor).T.copy()
    out: npt.NDArray[np.float64] = phases / phases.sum(axis=1, keepdims=True)
    return out


_PHASES = _interpolator()


def oversampled_abs(x: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """|x| at 4x the sample rate (polyphase FIR interpolation), shaped ``(len(x), 4)``."""
    x64 = x.astype(np.float64)
    cols = [np.abs(np.convolve(x64, phase, mode="same")) for phase in _PHASES]
    return np.stack(cols, axis=1)


def true_peak_dbtp(x: npt.NDArray[np.floating]) -> float:
    if len(x) == 0:
        return -math.inf
    peak = float(oversampled_abs(x).max())
    return 20 * math.log10(peak) if peak > 0 else -math.inf


def limit(x: Samples, ceiling_dbtp: float, rate: int = RATE) -> Samples:
    """Look-ahead peak limiter on the true-peak envelope: 5 ms blocks, gain held over neighbours, smoothed."""
    ceiling = 10 ** (ceiling_dbtp / 20)
    env = oversampled_abs(x).max(axis=1)
    need = np.minimum(1.0, ceiling / np.maximum(env, 1e-12))
    if need.min() >= 1.0:
        return x
    blk = max(1, int(0.005 * rate))
    nb = math.ceil(len(x) / blk)
    padded = np.ones(nb * blk)
    padded[: len(x)] = need
    gb = padded.reshape(nb, blk).min(axis=1)
    held = np.minimum(gb, np.minimum(np.r_[1.0, gb[:-1]], np.r_[gb[1:], 1.0]))
    gain = np.repeat(held, blk)[: len(x)]
    csum = np.concatenate([[0.0], np.cumsum(np.r_[np.full(blk // 2, gain[0]), gain, np.full(blk, gain[-1])])])
    smooth = (csum[blk:] - csum[:-blk])[: len(x)] / blk
    out: Samples = (x * np.minimum(smooth, gain)).astype(np.float32)
    return out


def normalize(x: Samples, target_lkfs: float, ceiling_dbtp: float, rate: int = RATE) -> Samples:
    """Gain to ``target_lkfs``, limit true peaks to ``ceiling_dbtp`` (minus a margin), re-gain, repeat."""
    y = x.astype(np.float32)
    margin = 0.3  # dB: the independent meters' 4x interpolators differ slightly from ours
    for _ in range(4):
        loud = integrated_loudness(y, rate)
        if not math.isfinite(loud):
            return y
        y = (y * 10 ** ((target_lkfs - loud) / 20)).astype(np.float32)
        if true_peak_dbtp(y) <= ceiling_dbtp - margin:
            break
        y = limit(y, ceiling_dbtp - margin - 0.2, rate)
    peak = true_peak_dbtp(y)
    if peak > ceiling_dbtp - margin:
        y = (y * 10 ** ((ceiling_dbtp - margin - peak) / 20)).astype(np.float32)
    return y


# --- assembly ------------------------------------------------------------------------------------------------


def attention_tone(duration_s: float = 1.5, rate: int = RATE) -> Samples:
    t = np.arange(int(duration_s * rate)) / rate
    tone = 0.5 * (np.sin(2 * np.pi * 853 * t) + np.sin(2 * np.pi * 960 * t))
    fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.02)  # 20 ms ramps: no clicks
    out: Samples = (0.25 * tone * fade).astype(np.float32)
    return out


def _silence(seconds: float, rate: int = RATE) -> Samples:
    return np.zeros(int(seconds * rate), np.float32)


def speech_items(texts: Sequence[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """Drop empty texts; ``texts`` is ``(language, kind, text)``."""
    return [(lang, kind, " ".join(text.split())) for lang, kind, text in texts if text and text.strip()]


TONE_BELOW_LU = 6.0  # the attention tone sits this far below the programme loudness
TONE_S = 1.5
LEAD_GAP_S = 0.6  # silence after the tone: speech starts at 2.1 s, after the first 2.002 s segment


def lead_in(target_lkfs: float = -24.0, tone_s: float = TONE_S, gap_s: float = LEAD_GAP_S) -> Samples:
    """The programme's fixed opening (tone + silence), known before any speech is synthesised.

    Its level depends only on the target, so the first segment can be encoded and published while the
    speech engine is still running; ``build_audio`` fits the speech's gain around it.
    """
    tone = attention_tone(tone_s)
    tone = (tone * 10 ** ((target_lkfs - TONE_BELOW_LU - integrated_loudness(tone)) / 20)).astype(np.float32)
    out: Samples = np.concatenate([tone, _silence(gap_s)])
    return out


class _Mix:
    """Loudness of ``head + g * body`` for any gain ``g`` from one K-weighting pass over ``body``.

    K-weighting is linear, so the weighted programme is ``kh + g * kb`` and each gating block's mean square is
    ``A + 2 g B + g^2 C``: trying a gain costs a few vector operations, not a pass over the signal.
    """

    def __init__(self, head: Samples, body: Samples) -> None:
        n = len(head) + len(body)
        tail = min(n, len(head) + RATE // 2)  # the filters' response to the head has died out by then
        kh = np.zeros(n)
        kh[:tail] = k_weight(np.concatenate([head, np.zeros(tail - len(head), np.float32)]))[:tail]
        kb = np.zeros(n)
        kb[len(head) :] = k_weight(body)
        self.a = _block_means(kh * kh)
        self.b = _block_means(kh * kb)
        self.c = _block_means(kb * kb)

    def loudness(self, gain: float) -> float:
        return gated_loudness(self.a + 2 * gain * self.b + gain * gain * self.c)

    def gain_for(self, target_lkfs: float) -> tuple[float, float]:
        gain = 1.0
        loud = self.loudness(gain)
        for _ in range(12):
            if not math.isfinite(loud) or abs(loud - target_lkfs) < 0.01:
                break
            gain *= 10 ** ((target_lkfs - loud) / 20)
            loud = self.loudness(gain)
        return gain, loud


def _fit_body(
    head: Samples, body: Samples, target_lkfs: float, ceiling_dbtp: float
) -> tuple[Samples, float, float]:
    """Gain (and limit) ``body`` so that ``head + body`` integrates to ``target_lkfs`` with true peaks under
    the ceiling; ``head`` is fixed. Returns the body, the programme loudness and its true peak.

    One K-weighting pass and one true-peak pass in the common case; the limiter (rare for speech) costs one
    more of each per round.
    """
    margin = 0.3  # dB: the independent meters' 4x interpolators differ slightly from ours
    head_peak = true_peak_dbtp(head)
    y = body.astype(np.float32)
    for _ in range(4):
        gain, loud = _Mix(head, y).gain_for(target_lkfs)
        if not math.isfinite(loud):
            return y, loud, head_peak
        peak = true_peak_dbtp(y) + 20 * math.log10(gain)  # true peak scales with the gain
        y = (y * gain).astype(np.float32)
        if peak <= ceiling_dbtp - margin:
            return y, loud, max(peak, head_peak)
        y = limit(y, ceiling_dbtp - margin - 0.2)
    peak = true_peak_dbtp(y)
    if peak > ceiling_dbtp - margin:  # the limiter could not converge: plain gain down, loudness be damned
        y = (y * 10 ** ((ceiling_dbtp - margin - peak) / 20)).astype(np.float32)
    return y, integrated_loudness(np.concatenate([head, y])), max(true_peak_dbtp(y), head_peak)


def build_audio(
    texts: Sequence[tuple[str, str, str]],
    speaker: Speaker,
    *,
    target_lkfs: float = -24.0,
    ceiling_dbtp: float = -2.0,
    gap_s: float = 0.35,
    tail_s: float = 0.5,
    cancel: threading.Event | None = None,
) -> AlertAudio:
    """``lead_in`` (tone), then each ``(language, kind, text)`` in order with short gaps; exact utterance times."""
    items = speech_items(texts)
    if not items:
        raise TTSError("nothing to speak: the alert has no headline, event or instruction text")
    with ThreadPoolExecutor(max_workers=2) as pool:  # espeak-ng is single-threaded; overlap the calls
        futures = [pool.submit(speaker.speak, text, lang) for lang, _kind, text in items]
        voices = []
        for fut in futures:
            if cancel is not None and cancel.is_set():
                for f in futures:
                    f.cancel()
                raise AudioCancelledError("audio cancelled")
            voices.append(fut.result())
    head = lead_in(target_lkfs)
    parts: list[Samples] = []
    utterances: list[Utterance] = []
    cursor = len(head)
    for (lang, kind, text), voice in zip(items, voices, strict=True):
        utterances.append(Utterance(lang, kind, text, cursor / RATE, (cursor + len(voice)) / RATE))
        parts += [voice, _silence(gap_s)]
        cursor += len(voice) + len(parts[-1])
    parts.append(_silence(tail_s))
    body, loudness, peak = _fit_body(head, np.concatenate(parts), target_lkfs, ceiling_dbtp)
    program: Samples = np.concatenate([head, body])
    return AlertAudio(program, RATE, tuple(utterances), loudness, peak, len(head))


def pad_to(audio: AlertAudio, seconds: float) -> AlertAudio:
    """Extend with silence to ``seconds`` (a whole number of segments), keeping the measured figures."""
    n = round(seconds * audio.rate)
    if n <= len(audio.samples):
        return audio
    samples = np.concatenate([audio.samples, np.zeros(n - len(audio.samples), np.float32)])
    return AlertAudio(
        samples, audio.rate, audio.utterances, audio.loudness_lkfs, audio.true_peak_dbtp, audio.head_samples
    )
