"""IMSC1 captions carried in fMP4 (ISO/IEC 14496-30 ``stpp``) segments, as A/343 asks."""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import TYPE_CHECKING

from cinealert.broadcast.fmp4 import FragmentedTrack

if TYPE_CHECKING:
    pass

# --- IMSC1 captions in fMP4 (ISO/IEC 14496-30 ``stpp``) ----------------------------------------------------------

_TTML_NS = "http://www.w3.org/ns/ttml"
#: BCP 47 primary subtags to the ISO 639-2/T code ``mdhd`` holds (the full tag goes into ``elng``).
_ISO639_2 = {"en": "eng", "ko": "kor", "es": "spa", "fr": "fra", "ja": "jpn", "zh": "zho", "de": "deu",
             "vi": "vie", "tl": "tgl", "ru": "rus", "ar": "ara", "pt": "por", "it": "ita", "hi": "hin"}  # fmt: skip


def _box(kind: bytes, *parts: bytes) -> bytes:
    body = b"".join(parts)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _full_box(kind: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    return _box(kind, struct.pack(">I", version << 24 | flags), *parts)


_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def _mdhd_language(tag: str) -> int:
    code = _ISO639_2.get(tag.split("-")[0].lower(), "und")
    return sum((ord(ch) - 0x60) << shift for ch, shift in zip(code, (10, 5, 0), strict=True))


def text_init(language: str, timescale_: int) -> bytes:
    """The init segment of an IMSC1 text track: a ``subt`` handler, an ``stpp`` sample entry naming the TTML
    namespace and ``codecs=im1t`` (A/343 captions; DASH-IF ``stpp.ttml.im1t``), the language in ``mdhd``
    (ISO 639-2) and in full in ``elng``."""
    stpp = _box(
        b"stpp",
        bytes(6), struct.pack(">H", 1),  # SampleEntry: reserved, data_reference_index
        _TTML_NS.encode() + b"\0", b"\0", b"\0",  # namespace, schema_location, auxiliary_mime_types
        _full_box(b"mime", 0, 0, b"application/ttml+xml;codecs=im1t" + b"\0"),
    )  # fmt: skip
    stbl = _box(
        b"stbl",
        _full_box(b"stsd", 0, 0, struct.pack(">I", 1), stpp),
        _full_box(b"stts", 0, 0, struct.pack(">I", 0)),
        _full_box(b"stsc", 0, 0, struct.pack(">I", 0)),
        _full_box(b"stsz", 0, 0, struct.pack(">II", 0, 0)),
        _full_box(b"stco", 0, 0, struct.pack(">I", 0)),
    )
    dinf = _box(b"dinf", _full_box(b"dref", 0, 0, struct.pack(">I", 1), _full_box(b"url ", 0, 1)))
    minf = _box(b"minf", _full_box(b"sthd", 0, 0), dinf, stbl)
    mdia = _box(
        b"mdia",
        _full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, timescale_, 0, _mdhd_language(language), 0)),
        _full_box(b"hdlr", 0, 0, struct.pack(">I4s12x", 0, b"subt"), b"cinealert captions\0"),
        _full_box(b"elng", 0, 0, language.encode("ascii", "replace") + b"\0"),
        minf,
    )
    tkhd = _full_box(b"tkhd", 0, 3, struct.pack(">IIIII8xhhh2x", 0, 0, 1, 0, 0, 0, 0, 0), _MATRIX, bytes(8))
    mvhd = _full_box(b"mvhd", 0, 0, struct.pack(">IIIIIH10x", 0, 0, timescale_, 0, 0x10000, 0x100), _MATRIX,
                     bytes(24), struct.pack(">I", 2))  # fmt: skip
    trex = _full_box(b"trex", 0, 0, struct.pack(">5I", 1, 1, 0, 0, 0))
    moov = _box(b"moov", mvhd, _box(b"trak", tkhd, mdia), _box(b"mvex", trex))
    return _box(b"ftyp", b"iso6", struct.pack(">I", 0), b"iso6dash") + moov


def text_segment(document: bytes, decode_time: int, duration: int, sequence: int) -> bytes:
    """One media segment holding one TTML document as its one sample (a sync sample, per ``trex``)."""

    def moof(data_offset: int) -> bytes:
        traf = _box(
            b"traf",
            _full_box(b"tfhd", 0, 0x020000, struct.pack(">I", 1)),  # default-base-is-moof, track 1
            _full_box(b"tfdt", 1, 0, struct.pack(">Q", decode_time)),
            _full_box(b"trun", 0, 0x000301, struct.pack(">IiII", 1, data_offset, duration, len(document))),
        )
        return _box(b"moof", _full_box(b"mfhd", 0, 0, struct.pack(">I", sequence)), traf)

    size = len(moof(0))
    return moof(size + 8) + _box(b"mdat", document)


def text_track(
    documents: Iterable[tuple[int, int, bytes]], language: str, timescale_: int
) -> FragmentedTrack:
    """An IMSC1 text track from ``(start, duration, TTML document)`` in ``timescale_`` units (the video's,
    so its segments share the video's boundaries exactly), one segment each. Times inside each document are
    on the track's timeline (ISO/IEC 14496-30 §5.3), not relative to the sample."""
    track = FragmentedTrack(init=text_init(language, timescale_), timescale=timescale_)
    for k, (start, duration, document) in enumerate(documents):
        track.add(text_segment(document, start, duration, k + 1))
    return track
