"""The spoken alert: every headline and instruction, with a chime and reading time for what cannot be spoken.

Speech that cannot be had (no voice for the language, the engine failing on a text) does not fail the alert:
the text is still captioned and timed like speech (``no_speech``), so the programme keeps its loudness, its
captions and the overlay's page changes. Only when not even the chimes can be made does it fail
(``SpeechError``), since no rung would then have audio.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np
import structlog

from cinealert.cap.model import Alert, Info
from cinealert.errors import Cancelled
from cinealert.media.clock import Clock, SpeechLog
from cinealert.media.contract import StageCancelled
from cinealert.media.errors import SpeechError, describe

if TYPE_CHECKING:
    from cinealert.broadcast.audio import AlertAudio, Samples, Speaker
    from cinealert.config.sections import BroadcastSettings

log = structlog.get_logger(__name__)

_CHIME_S = 0.4
_READ_CELLS_PER_S = 15.0  # caption reading speed in half-width cells (a Hangul syllable is two)
_READ_MIN_S, _READ_MAX_S = 2.5, 20.0


def caption_only(text: str) -> Samples:
    """What a text sounds like without speech: a short chime where it would start, then silence for as long
    as its caption takes to read. ``build_audio`` times, levels and captions it like speech."""
    from cinealert.broadcast.audio import RATE, attention_tone
    from cinealert.broadcast.captions import cells

    flat = " ".join(text[: int(_READ_MAX_S * _READ_CELLS_PER_S) * 8].split())
    seconds = min(_READ_MAX_S, max(_READ_MIN_S, cells(flat) / _READ_CELLS_PER_S))
    chime = attention_tone(_CHIME_S)
    silence = np.zeros(max(0, round(seconds * RATE) - len(chime)), np.float32)
    return np.concatenate([chime, silence])


class CaptionedSpeaker:
    """The configured speaker, with ``caption_only`` standing in for every utterance it cannot give: a
    language without a voice (known up front), or the engine failing on one text. Such utterances still get
    captions; the rest of the alert is still spoken."""

    def __init__(self, inner: Speaker | None, voiceless: frozenset[str], speech: SpeechLog) -> None:
        self.inner = inner
        self.voiceless = voiceless
        self.speech = speech
        self.name = inner.name if inner is not None else "captions-only"

    def speak(self, text: str, language: str) -> Samples:
        if self.inner is None or language in self.voiceless:
            self.speech.note(self._why(language), unspoken=1)
            return caption_only(text)
        try:
            samples = self.inner.speak(text, language)
        except Exception as exc:  # any engine error: this text is captioned instead (logged once, with why)
            self.speech.note(f"speech failed ({language}): {describe(exc)}", unspoken=1)
            return caption_only(text)
        self.speech.said()
        return samples

    def _why(self, language: str) -> str:
        if self.inner is None:
            return "speech unavailable: captions only"
        return f"no {self.inner.name} voice for {language!r}: captioned, not spoken"


def voiceless(speaker: Speaker, infos: Sequence[Info]) -> frozenset[str]:
    """Languages the speech engine has no voice for, asked once per process where it can say cheaply
    (espeak-ng's voice list); other engines report a missing voice per utterance instead."""
    from cinealert.broadcast.audio import EspeakSpeaker, espeak_has_voice

    if not isinstance(speaker, EspeakSpeaker):
        return frozenset()
    return frozenset(i.language for i in infos if espeak_has_voice(i.language, speaker.binary) is False)


#: Said before the headline of an Update, by primary language (English for the others): a listener cannot see
#: the band's UPDATED tag, and an Update otherwise sounds exactly like a new alert. A Cancel gets none: its
#: headline already says what was lifted, and its clip stays as short as its text.
SPOKEN_PREFIXES: dict[str, dict[str, str]] = {
    "Update": {"ko": "갱신된 경보. ", "ja": "更新された警報。", "en": "Updated alert. "},
}


def spoken_prefix(alert: Alert, info: Info) -> str:
    """The words said before ``info``'s headline: "Updated alert." for an Update, nothing otherwise."""
    prefixes = SPOKEN_PREFIXES.get(alert.msg_type)
    if prefixes is None:
        return ""
    return prefixes.get(info.language.lower().split("-")[0], prefixes["en"])


def synthesise(
    alert: Alert,
    infos: Sequence[Info],
    speaker: Callable[[], Speaker],
    settings: BroadcastSettings,
    cancel: threading.Event,
    clock: Clock,
    background: bool = False,
) -> AlertAudio:
    """The spoken alert; what cannot be spoken is captioned with a chime instead (``no_speech``), so this
    fails only when cancelled, or when not even that can be made (``SpeechError``). ``speaker`` is asked for
    here, so an engine that cannot even start is one more reason for captions only."""
    from cinealert.broadcast.audio import build_audio

    if background:
        # Linux nice values are per thread; this pool thread (and espeak-ng it starts) yields to the encoder.
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    t = time.perf_counter()
    texts: list[tuple[str, str, str]] = []
    for info in infos:
        texts.append((info.language, "headline", spoken_prefix(alert, info) + (info.headline or info.event)))
        texts.append((info.language, "instruction", info.instruction or ""))
    speech = clock.speech

    def build(voice: CaptionedSpeaker) -> AlertAudio:
        try:
            return build_audio(texts, voice, target_lkfs=settings.loudness_lkfs,
                               ceiling_dbtp=settings.true_peak_dbtp, cancel=cancel)  # fmt: skip
        except StageCancelled:
            raise
        except Cancelled as exc:
            raise StageCancelled("speech synthesis cancelled") from exc

    try:
        engine = speaker()
        audio = build(CaptionedSpeaker(engine, voiceless(engine, infos), speech))
    except StageCancelled:
        raise
    except Exception as exc:  # the assembly itself failed, not one utterance: captions and chimes only
        speech.note(f"speech failed: {describe(exc)}")
        try:
            audio = build(CaptionedSpeaker(None, frozenset(), speech))
        except StageCancelled:
            raise
        except Exception as exc2:
            raise SpeechError(f"no audio can be made for {alert.key}: {describe(exc2)}") from exc2
    if speech.degraded:
        log.warning("media_degraded", key=str(alert.key), rung="no_speech", reason=speech.reason)
    clock.add("tts", time.perf_counter() - t)
    return audio


def plan(audio: AlertAudio, seg_frames: int, fps: Fraction) -> tuple[AlertAudio, int]:
    """Whole segments covering the speech; the audio is padded with silence to the same length."""
    from cinealert.broadcast.audio import pad_to

    seg_s = seg_frames / fps
    nseg = max(1, math.ceil(Fraction(round(audio.duration_s * 1000), 1000) / seg_s))
    num_frames = nseg * seg_frames
    return pad_to(audio, float(num_frames / fps)), num_frames
