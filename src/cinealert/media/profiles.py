"""One ``ProfileWriter`` per output profile, chosen by mode and profile name.

Adding a profile: a writer (a class with ``write(job) -> Output``) and its entry in ``WRITERS``. Rich media
exists only for ATSC 3.0 (the AEA); in that mode the other profiles are produced burned-in.
"""

from __future__ import annotations

from typing import Protocol

from cinealert.media.dash import DashWriter
from cinealert.media.job import Job
from cinealert.media.outputs import Output
from cinealert.media.richmedia import RichMediaWriter
from cinealert.media.ts import HlsWriter, TsWriter


class ProfileWriter(Protocol):
    def write(self, job: Job) -> Output:
        """Publish every file of ``job.profile`` into ``job.out`` (each durable before anything names it)."""
        ...


WRITERS: dict[tuple[str, str], ProfileWriter] = {
    ("burn-in", "atsc1"): TsWriter(),
    ("burn-in", "hls"): HlsWriter(),
    ("burn-in", "atsc3"): DashWriter(),
    ("rich-media", "atsc3"): RichMediaWriter(),
}


def writer_for(mode: str, profile: str) -> ProfileWriter:
    writer = WRITERS.get((mode, profile)) or WRITERS.get(("burn-in", profile))
    if writer is None:
        raise KeyError(f"no writer for the {profile!r} profile")
    return writer
