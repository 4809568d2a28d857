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
import hashlib
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

# RATE and Samples are the audio API every caller uses: re-exported here, defined beside the meter.
from cinealert.broadcast.loudness import RATE as RATE
from cinealert.broadcast.loudness import Samples as Samples
from cinealert.broadcast.loudness import (
    _block_means,
    gated_loudness,
    integrated_loudness,
    k_weight,
    limit,
    true_peak,
    true_peak_dbtp,
)
from cinealert.errors import Cancelled, CinealertError
from cinealert.render.text import bounded


class TTSError(RuntimeError, CinealertError):
    """The speech engine is missing or failed; the message says which engine and how it failed."""


class AudioCancelledError(Cancelled):
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
            # The text goes through stdin: on the command line a text over 128 KiB (Linux's limit on one
            # argument) failed with E2BIG, "Argument list too long". ``--stdin`` reads it whole, as one text.
            proc = subprocess.run(
                [exe, "-v", voice, "-s", str(self.speed_wpm), "--stdout", "--stdin"],
                input=text.encode("utf-8", "replace"),
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


@functools.lru_cache(maxsize=4)
def espeak_voice_names(binary: str = "espeak-ng") -> frozenset[str] | None:
    """Every name ``espeak-ng -v`` takes (languages, their other names, voice files), lower-case; ``None`` when
    espeak-ng cannot say. Asked once per process, so a language without a voice is known before synthesis."""
    exe = shutil.which(binary)
    if exe is None:
        return None
    try:
        proc = subprocess.run([exe, "--voices"], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    names: set[str] = set()
    for line in proc.stdout.decode("utf-8", "replace").splitlines()[1:]:
        fields = line.replace(")(", ") (").split()
        if len(fields) < 5:
            continue
        names.add(fields[1].lower())  # Language
        names.add(fields[4].rsplit("/", 1)[-1].lower())  # File
        names.update(f[1:].lower() for f in fields[5:] if f.startswith("("))  # Other Languages: "(zh 5)"
    return frozenset(names) if proc.returncode == 0 and names else None


def espeak_has_voice(language: str, binary: str = "espeak-ng") -> bool | None:
    """Whether ``EspeakSpeaker`` has a voice for ``language`` (it asks for the primary subtag); ``None``: unknown."""
    names = espeak_voice_names(binary)
    if names is None:
        return None
    return (language.split("-")[0].lower() or "en") in names


# --- loudness ------------------------------------------------------------------------------------------------


# --- assembly ------------------------------------------------------------------------------------------------


def attention_tone(duration_s: float = 1.5, rate: int = RATE) -> Samples:
    t = np.arange(int(duration_s * rate)) / rate
    tone = 0.5 * (np.sin(2 * np.pi * 853 * t) + np.sin(2 * np.pi * 960 * t))
    fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.02)  # 20 ms ramps: no clicks
    out: Samples = (0.25 * tone * fade).astype(np.float32)
    return out


def _silence(seconds: float, rate: int = RATE) -> Samples:
    return np.zeros(int(seconds * rate), np.float32)


#: What is spoken, in display cells (``render.text.bounded``: a Hangul syllable is two, a Latin letter one). A
#: clip lasts as long as its speech and a burn-in render costs about its clip's length in x264 time, so these
#: bound both: a headline of 120 and an instruction of 160 cells are the longest of the sample alerts rounded up
#: (en_flood.xml: 118 and 155), so no normal alert loses a word, and a 1 MiB one speaks no longer than the
#: longest normal one: at espeak-ng's 150 wpm about 19 s per language in English (15 cells/s), 31 s in Korean
#: (9 cells/s). The burned-in page may show more (``render.compose``: 160 and 240; reading the crawl is not
#: bounded by the clip the way hearing is). The cut ends in "…", which espeak-ng does not pronounce; captions
#: follow the speech, so they carry the same text.
SPOKEN_CELLS: dict[str, int] = {"headline": 120, "instruction": 160}
SPOKEN_CELLS_OTHER = 160


def speech_items(texts: Sequence[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """``texts`` (``(language, kind, text)``) whitespace-collapsed and bounded by kind; empty ones dropped."""
    items: list[tuple[str, str, str]] = []
    for lang, kind, text in texts:
        spoken = bounded(text, SPOKEN_CELLS.get(kind, SPOKEN_CELLS_OTHER)) if text else ""
        if spoken:
            items.append((lang, kind, spoken))
    return items


_SYNTH_THREADS = 4  # utterances synthesised and measured at once (espeak-ng processes are independent)
TONE_BELOW_LU = 6.0  # the attention tone sits this far below the programme loudness
TONE_S = 1.5
LEAD_GAP_S = 0.6  # silence after the tone: speech starts at 2.1 s, after the first 2.002 s segment


def lead_in(target_lkfs: float = -24.0, tone_s: float = TONE_S, gap_s: float = LEAD_GAP_S) -> Samples:
    """The programme's fixed opening (tone + silence), known before any speech is synthesised.

    Its level depends only on the target, so the first segment can be encoded and published while the
    speech engine is still running; ``build_audio`` fits the speech's gain around it.
    """
    return _lead_in(target_lkfs, tone_s, gap_s).copy()


@functools.lru_cache(maxsize=8)
def _lead_in(target_lkfs: float, tone_s: float, gap_s: float) -> Samples:
    tone = attention_tone(tone_s)
    tone = (tone * 10 ** ((target_lkfs - TONE_BELOW_LU - integrated_loudness(tone)) / 20)).astype(np.float32)
    out: Samples = np.concatenate([tone, _silence(gap_s)])
    out.flags.writeable = False
    return out


_WEIGHTED_HEADS: dict[tuple[bytes, int], npt.NDArray[np.float64]] = {}
_HEAD_PEAKS: dict[bytes, float] = {}


def _head_key(head: Samples) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(head).tobytes(), digest_size=16).digest()


def _head_peak_dbtp(head: Samples) -> float:
    """``true_peak_dbtp`` of the lead-in, measured once (a steady tone leaves the pruning nothing to skip)."""
    key = _head_key(head)
    found = _HEAD_PEAKS.get(key)
    if found is None:
        found = true_peak_dbtp(head)
        if len(_HEAD_PEAKS) >= 8:
            _HEAD_PEAKS.pop(next(iter(_HEAD_PEAKS)))
        _HEAD_PEAKS[key] = found
    return found


def _weighted_head(head: Samples, tail: int) -> npt.NDArray[np.float64]:
    """K-weighted ``head`` followed by ``tail`` samples of its filter tail (the lead-in is the same every time)."""
    key = (_head_key(head), tail)
    found = _WEIGHTED_HEADS.get(key)
    if found is None:
        found = k_weight(np.concatenate([head, np.zeros(tail, np.float32)]))
        found.flags.writeable = False
        if len(_WEIGHTED_HEADS) >= 8:
            _WEIGHTED_HEADS.pop(next(iter(_WEIGHTED_HEADS)))
        _WEIGHTED_HEADS[key] = found
    return found


class _Mix:
    """Loudness of ``head + g * body`` for any gain ``g`` from one K-weighting pass over ``body``.

    K-weighting is linear, so the weighted programme is ``kh + g * kb`` and each gating block's mean square is
    ``A + 2 g B + g^2 C``: trying a gain costs a few vector operations, not a pass over the signal.
    """

    def __init__(
        self, head: Samples, body: Samples, weighted_body: npt.NDArray[np.float64] | None = None
    ) -> None:
        n = len(head) + len(body)
        kb = np.zeros(n)
        kb[len(head) :] = k_weight(body) if weighted_body is None else weighted_body
        self.c = _block_means(kb * kb)
        # The head's weighted signal is zero past ``tail``: only the blocks starting before it see it.
        tail = min(n, len(head) + RATE // 2)  # the filters' response to the head has died out by then
        kh = _weighted_head(head, tail - len(head))[:tail]
        reach = min(n, tail + int(0.4 * RATE))
        hh, hb = np.zeros(reach), np.zeros(reach)
        hh[:tail] = kh * kh
        hb[:tail] = kh * kb[:tail]
        self.a, self.b = np.zeros_like(self.c), np.zeros_like(self.c)
        short, cross = _block_means(hh), _block_means(hb)
        self.a[: len(short)] = short
        self.b[: len(cross)] = cross

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
    head: Samples,
    body: Samples,
    target_lkfs: float,
    ceiling_dbtp: float,
    *,
    weighted_body: npt.NDArray[np.float64] | None = None,
    body_peak: float | None = None,
) -> tuple[Samples, float, float]:
    """Gain (and limit) ``body`` so that ``head + body`` integrates to ``target_lkfs`` with true peaks under
    the ceiling; ``head`` is fixed. Returns the body, the programme loudness and its true peak.

    ``weighted_body`` (the K-weighted body) and ``body_peak`` (its linear true peak) may come precomputed
    (``build_audio`` measures each utterance in the synthesis threads); the limiter (rare for speech)
    invalidates them and costs one more K-weighting and true-peak pass per round.
    """
    margin = 0.3  # dB: the independent meters' 4x interpolators differ slightly from ours
    head_peak = _head_peak_dbtp(head)
    y = body.astype(np.float32)
    for _ in range(4):
        gain, loud = _Mix(head, y, weighted_body).gain_for(target_lkfs)
        if not math.isfinite(loud):
            return y, loud, head_peak
        linear_peak = true_peak(y) if body_peak is None else body_peak
        weighted_body, body_peak = None, None
        peak = (20 * math.log10(linear_peak) if linear_peak > 0 else -math.inf) + 20 * math.log10(gain)
        y = (y * gain).astype(np.float32)
        if peak <= ceiling_dbtp - margin:
            return y, loud, max(peak, head_peak)
        y = limit(y, ceiling_dbtp - margin - 0.2)
    peak = true_peak_dbtp(y)
    if peak > ceiling_dbtp - margin:  # the limiter could not converge: plain gain down, loudness be damned
        y = (y * 10 ** ((ceiling_dbtp - margin - peak) / 20)).astype(np.float32)
    return y, integrated_loudness(np.concatenate([head, y])), max(true_peak_dbtp(y), head_peak)


@dataclass(frozen=True, slots=True)
class _Voice:
    samples: Samples
    weighted: npt.NDArray[np.float64]  # K-weighted utterance followed by its gap (the filters' tail)
    peak: float  # linear true peak


def _voice(speaker: Speaker, text: str, language: str, gap: int) -> _Voice:
    samples = np.asarray(speaker.speak(text, language), np.float32)
    weighted = k_weight(np.concatenate([samples, np.zeros(gap, np.float32)]))
    return _Voice(samples, weighted, true_peak(samples))


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
    gap = _silence(gap_s)
    # espeak-ng is single-threaded: two utterances at a time, each measured (K-weighting into its trailing
    # gap, true peak) in its own thread, so only a cheap sum over gating blocks is left once all are in.
    with ThreadPoolExecutor(max_workers=_SYNTH_THREADS) as pool:
        futures = [pool.submit(_voice, speaker, text, lang, len(gap)) for lang, _kind, text in items]
        voices: list[_Voice] = []
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
        utterances.append(Utterance(lang, kind, text, cursor / RATE, (cursor + len(voice.samples)) / RATE))
        parts += [voice.samples, gap]
        cursor += len(voice.samples) + len(gap)
    parts.append(_silence(tail_s))
    raw_body = np.concatenate(parts)
    weighted = np.zeros(len(raw_body))
    pos = 0
    for voice in voices:  # the gaps are silent, so the K-weighted body is the utterances' weighted parts
        end = min(len(weighted), pos + len(voice.weighted))
        weighted[pos:end] += voice.weighted[: end - pos]
        pos += len(voice.samples) + len(gap)
    # Utterances are further apart than the interpolator's reach, so the body's true peak is the largest.
    body_peak = max(voice.peak for voice in voices)
    body, loudness, peak = _fit_body(
        head, raw_body, target_lkfs, ceiling_dbtp, weighted_body=weighted, body_peak=body_peak
    )
    program: Samples = np.concatenate([head, body])
    return AlertAudio(program, RATE, tuple(utterances), loudness, peak, len(head))


def language_tracks(
    audio: AlertAudio,
    *,
    target_lkfs: float = -24.0,
    ceiling_dbtp: float = -2.0,
    gap_s: float = 0.35,
) -> dict[str, AlertAudio]:
    """One programme per language (first-spoken first): the lead-in, then that language's utterances cut from
    ``audio`` and laid out from the start with ``build_audio``'s gaps, padded to ``audio``'s length and
    normalised on their own to the target.

    Why this layout and not the mixed timeline with the other languages silenced: a listener who picks the
    second language would otherwise hear the tone and then seconds of silence while the first one is read.
    The clip stays as long as the mixed programme (the longest language and then some), so every track ends
    with the video; the first language's utterances keep their times (it is read first in the mix), so the
    burnt-in pages, which follow it, stay in step with its track. A single-language alert is returned as is.
    """
    languages = list(dict.fromkeys(u.language for u in audio.utterances))
    if len(languages) <= 1:
        return dict.fromkeys(languages, audio)
    head = audio.samples[: audio.head_samples]
    gap = round(gap_s * audio.rate)
    total = len(audio.samples)
    tracks: dict[str, AlertAudio] = {}
    for lang in languages:
        body = np.zeros(total - len(head), np.float32)
        cursor = 0
        utterances: list[Utterance] = []
        for u in audio.utterances:
            if u.language != lang:
                continue
            a, b = round(u.start_s * audio.rate), round(u.end_s * audio.rate)
            piece = audio.samples[a:b]
            n = min(len(piece), len(body) - cursor)
            body[cursor : cursor + n] = piece[:n]
            start = (len(head) + cursor) / audio.rate
            utterances.append(Utterance(u.language, u.kind, u.text, start, start + n / audio.rate))
            cursor += n + gap
        fitted, loudness, peak = _fit_body(head, body, target_lkfs, ceiling_dbtp)
        samples: Samples = np.concatenate([head, fitted]).astype(np.float32)
        tracks[lang] = AlertAudio(samples, audio.rate, tuple(utterances), loudness, peak, audio.head_samples)
    return tracks


def pad_to(audio: AlertAudio, seconds: float) -> AlertAudio:
    """Extend with silence to ``seconds`` (a whole number of segments), keeping the measured figures."""
    n = round(seconds * audio.rate)
    if n <= len(audio.samples):
        return audio
    samples = np.concatenate([audio.samples, np.zeros(n - len(audio.samples), np.float32)])
    return AlertAudio(
        samples, audio.rate, audio.utterances, audio.loudness_lkfs, audio.true_peak_dbtp, audio.head_samples
    )
