"""The media stage's small parts: each profile has its writer (the per-key lock table: ``test_keylocks``)."""

from __future__ import annotations

from cinealert.media.dash import DashWriter
from cinealert.media.profiles import writer_for
from cinealert.media.richmedia import RichMediaWriter
from cinealert.media.ts import HlsWriter, TsWriter


def test_every_profile_and_mode_has_its_writer() -> None:
    assert isinstance(writer_for("burn-in", "atsc1"), TsWriter)
    assert isinstance(writer_for("burn-in", "hls"), HlsWriter)
    assert isinstance(writer_for("burn-in", "atsc3"), DashWriter)
    assert isinstance(writer_for("rich-media", "atsc3"), RichMediaWriter)
    # Rich media is ATSC 3.0's AEA: the other profiles are burned in in that mode too.
    assert type(writer_for("rich-media", "atsc1")) is TsWriter
    assert isinstance(writer_for("rich-media", "hls"), HlsWriter)
