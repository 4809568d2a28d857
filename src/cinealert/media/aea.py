"""The A/331 AEA files of an ``atsc3`` output: the pictogram, the spoken alert and the AEAT naming them.

Shared by the burned-in DASH writer and the rich-media writer (a receiver presents the alert from the AEAT
whatever the picture carries), so it sits below both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cinealert.media.job import Job
from cinealert.media.outputs import AeaMedia

if TYPE_CHECKING:
    from cinealert.broadcast.aeat import MediaRef
    from cinealert.broadcast.audio import AlertAudio

SYMBOL, SPOKEN, AEAT = "event_symbol.png", "spoken_alert.aac", "aeat.xml"


def publish_aea(job: Job, audio: AlertAudio, packets: Sequence[Any]) -> AeaMedia:
    """The A/331 AEA files of an ``atsc3`` output, rich-media and burned-in alike (a receiver presents the
    alert from the AEAT whatever the picture carries): the pictogram, the spoken alert, then the AEAT naming
    them with their sizes, each durable before the AEAT names it."""
    from cinealert.broadcast.aeat import MediaRef, aeat
    from cinealert.broadcast.encode import adts_audio

    p = job.profile
    items = [(SYMBOL, job.presentation.symbol_png())]  # the overlay's pictogram (``render.present``)
    # An AEAtextAudio that speaks nothing (only chimes: no voice for any text) is not offered as one.
    spoken = job.clock.speech.spoken > 0
    if spoken:
        items.append((SPOKEN, adts_audio(audio.samples, p.audio_kbps, list(packets))))
    job.out.write_many(items)
    job.out.commit_dir()

    def ref(name: str, content_type: str, kind: str, desc: str, lang: str = "") -> MediaRef:
        return MediaRef(job.url(name), content_type, (job.out.path / name).stat().st_size, kind, desc, lang)

    media = [ref(SYMBOL, "image/png", "EventSymbol", "disaster pictogram")]
    if spoken:
        languages = {u.language for u in audio.utterances}
        lang = next(iter(languages)) if len(languages) == 1 else ""  # one file speaks every language in turn
        media.insert(0, ref(SPOKEN, "audio/aac", "AEAtextAudio", "spoken alert text", lang))
    job.out.write(AEAT, aeat(job.alert, media, languages=job.settings.languages), sync_dir=True)
    return AeaMedia(AEAT, SYMBOL, SPOKEN if spoken else None)
