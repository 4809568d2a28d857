"""A/53 ``cc_data`` and its carriage in coded pictures (H.264 SEI, MPEG-2 picture user data), the caption
service plan (which language is CC1, which DTVCC service carries which language) and the encoder hook."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import structlog

from cinealert.broadcast.captions import Cue
from cinealert.broadcast.cea708.cc608 import CC608_RATE, CaptionError, CaptionTrack, Pair, choose_language
from cinealert.broadcast.cea708.dtvcc import DtvccTrack, Service, p16_codec, primary

log = structlog.get_logger(__name__)

# --- A/53 cc_data and its carriage ----------------------------------------------------------------------------


def cc_count_for(fps: Fraction) -> int:
    """A/53 / CEA-708 ``cc_count`` per picture: 600 triplets a second (9600 bit/s DTVCC), 20 at 29.97 fps."""
    return max(2, min(31, round(600 / Fraction(fps))))


def dtvcc_triplets(fps: Fraction) -> int:
    """Triplets a picture has for DTVCC packets: ``cc_count`` less the most 608 field-1 pairs a picture can
    carry and the field-2 triplet, so the 608 pairs always keep their slots (18 at 29.97 fps, 8 at 59.94)."""
    return cc_count_for(fps) - math.ceil(CC608_RATE / Fraction(fps)) - 1


def cc_data(field1: Sequence[Pair], cc_count: int, dtvcc: Sequence[tuple[int, int, int]] = ()) -> bytes:
    """A/53 ``cc_data()``: header, the 608 field-1 triplets (``cc_type`` 0, valid), one invalid field-2
    triplet, the DTVCC packet triplets (``cc_type`` 3 / 2, valid), then invalid DTVCC triplets up to
    ``cc_count`` (the constant 9600 bit/s caption channel rate)."""
    if len(field1) + 1 + len(dtvcc) > cc_count or cc_count > 31:
        raise CaptionError(
            f"cc_count {cc_count} cannot hold {len(field1)} field-1 pairs, field 2 and {len(dtvcc)} DTVCC"
        )
    out = bytearray([0xC0 | cc_count, 0xFF])  # reserved 1, process_cc_data_flag 1, zero 0, cc_count; em_data
    for a, b in field1:
        out += bytes([0xFC, a, b])  # marker 11111, cc_valid 1, cc_type 00 (608 field 1)
    out += bytes([0xF9, 0x80, 0x80])  # cc_valid 0, cc_type 01 (608 field 2): unused
    for cc_type, a, b in dtvcc:
        out += bytes([0xFC | cc_type, a, b])  # cc_valid 1, cc_type 11 (packet start) or 10 (packet data)
    for _ in range(cc_count - len(field1) - 1 - len(dtvcc)):
        out += bytes([0xFA, 0x00, 0x00])  # cc_valid 0, cc_type 10 (DTVCC): padding
    return bytes(out)


def atsc_user_data(cc: bytes) -> bytes:
    """``ATSC_user_data()``: identifier ``GA94``, ``user_data_type_code`` 3, ``cc_data()``, marker bits."""
    return b"GA94\x03" + cc + b"\xff"


def add_emulation_prevention(rbsp: bytes) -> bytes:
    """NAL payload from RBSP: an 0x03 after every two zero bytes that precede a byte <= 3 (H.264 7.4.1)."""
    out = bytearray()
    zeros = 0
    for b in rbsp:
        if zeros >= 2 and b <= 3:
            out.append(3)
            zeros = 0
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


def remove_emulation_prevention(payload: bytes) -> bytes:
    out = bytearray()
    zeros = 0
    for b in payload:
        if zeros >= 2 and b == 3:
            zeros = 0
            continue
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


def _sei_number(value: int) -> bytes:
    """SEI payload type / size: 0xFF per 255, then the rest."""
    return b"\xff" * (value // 255) + bytes([value % 255])


def sei_t35_nal(user_data: bytes) -> bytes:
    """An H.264 SEI NAL unit (with 4-byte start code) holding one ``user_data_registered_itu_t_t35``
    message (payload type 4): country 0xB5 (USA), provider 0x0031 (ATSC), then ``user_data``."""
    payload = b"\xb5\x00\x31" + user_data
    rbsp = _sei_number(4) + _sei_number(len(payload)) + payload + b"\x80"  # rbsp_trailing_bits
    return b"\x00\x00\x00\x01\x06" + add_emulation_prevention(rbsp)


def start_codes(data: bytes) -> Iterator[int]:
    """Offsets of the ``00 00 01`` start code prefixes in an Annex B / MPEG-2 byte stream."""
    pos = data.find(b"\x00\x00\x01")
    while pos >= 0:
        yield pos
        pos = data.find(b"\x00\x00\x01", pos + 3)


def _with_zero_byte(data: bytes, prefix: int) -> int:
    return prefix - 1 if prefix > 0 and data[prefix - 1] == 0 else prefix


def insert_h264_sei(access_unit: bytes, sei_nal: bytes) -> bytes:
    """The access unit with ``sei_nal`` before its first VCL NAL unit (after AUD, SPS, PPS and any encoder SEI,
    so a buffering-period SEI stays first, as H.264 7.4.1.2.3 requires)."""
    for prefix in start_codes(access_unit):
        if prefix + 3 < len(access_unit) and 1 <= access_unit[prefix + 3] & 0x1F <= 5:
            at = _with_zero_byte(access_unit, prefix)
            return access_unit[:at] + sei_nal + access_unit[at:]
    raise CaptionError("H.264 access unit has no slice NAL unit to put the caption SEI before")


def insert_mpeg2_user_data(picture: bytes, user_data: bytes) -> bytes:
    """The coded picture with ``00 00 01 B2`` + ``user_data`` after the picture header and its extensions,
    before the first slice (ISO/IEC 13818-2 ``extension_and_user_data(2)``)."""
    if b"\x00\x00\x01" in user_data:
        raise CaptionError("MPEG-2 user data would emulate a start code")
    seen_picture = False
    for prefix in start_codes(picture):
        code = picture[prefix + 3] if prefix + 3 < len(picture) else -1
        if code == 0x00:
            seen_picture = True
        elif seen_picture and 0x01 <= code <= 0xAF:
            return picture[:prefix] + b"\x00\x00\x01\xb2" + user_data + picture[prefix:]
    raise CaptionError("MPEG-2 packet has no picture header followed by a slice")


# --- which language goes where ----------------------------------------------------------------------------------

#: Languages (primary subtag) written in a script other than Latin: 608 cannot carry them, nor can a DTVCC
#: service without a P16 national code for them (``dtvcc.P16_CODECS``).
NON_LATIN = frozenset({
    "am", "ar", "as", "be", "bg", "bn", "bo", "chr", "cmn", "dv", "dz", "el", "fa", "gu", "he", "hi", "hy", "iu",
    "ja", "ka", "kk", "km", "kn", "ko", "ky", "lo", "mk", "ml", "mn", "mr", "my", "ne", "or", "pa", "ps", "ru",
    "sa", "sd", "si", "sr", "ta", "te", "tg", "th", "ti", "tt", "ug", "uk", "ur", "yi", "yue", "zh",
})  # fmt: skip


def latin_script(language: str) -> bool:
    return primary(language) not in NON_LATIN


def carriable(language: str) -> bool:
    """Whether a DTVCC service can carry the language's text (Latin sets, or a P16 national code)."""
    return latin_script(language) or p16_codec(language) is not None


@dataclass(frozen=True, slots=True)
class ServicePlan:
    """CC1's language (``None``: no 608 captions) and the DTVCC services: service 1 the CC1 language (same
    text), then the alert's other languages in order, one service each. Languages no service can carry are
    left out (``not_carried``)."""

    cc1: str | None
    services: tuple[Service, ...]
    not_carried: tuple[str, ...] = ()

    def descriptor(self) -> bytes:
        """The ATSC caption_service_descriptor (A/65 6.9.2) naming the 608 and DTVCC services."""
        from cinealert.broadcast.mpegts import CaptionServiceEntry, caption_service_descriptor, iso639_2

        entries = []
        if self.cc1 is not None:
            entries.append(CaptionServiceEntry(iso639_2(self.cc1), digital_cc=False, line21_field=0))
        for s in self.services:
            korean = 0 if p16_codec(s.language) == "euc_kr" else None  # 0: KS X 1001 (EUC-KR)
            entries.append(
                CaptionServiceEntry(iso639_2(s.language), True, service=s.number, korean_code=korean)
            )
        return caption_service_descriptor(entries) if entries else b""


#: The caption_service_descriptor counts at most 16 services (608 entry included).
MAX_SERVICES = 15


def plan_services(languages: Sequence[str], cc1: str | None = None, *, by_tag: bool = True) -> ServicePlan:
    """The plan for an alert's languages (first-read first). ``cc1``: the 608 language when already chosen;
    otherwise English if present, else the first Latin-script language (by its tag: the text may not exist
    yet when the PMT is written)."""
    langs = list(dict.fromkeys(languages))
    if cc1 is None and by_tag:
        latin = [lang for lang in langs if latin_script(lang)]
        english = [lang for lang in latin if primary(lang) in ("en", "eng")]
        chosen = english or latin
        cc1 = chosen[0] if chosen else None
    order = ([cc1] if cc1 is not None else []) + [lang for lang in langs if lang != cc1]
    kept = [lang for lang in order if carriable(lang)]
    services = tuple(Service(i + 1, lang) for i, lang in enumerate(kept[:MAX_SERVICES]))
    return ServicePlan(cc1, services, tuple(lang for lang in order if lang not in kept[:MAX_SERVICES]))


# --- the encoder hook -----------------------------------------------------------------------------------------

_H264 = ("libx264", "h264", "libopenh264")
_MPEG2 = ("mpeg2video",)

Captions = Sequence[Cue] | Callable[[], Sequence[Cue]]


class CaptionInserter:
    """Rewrites each coded video packet with its picture's ``cc_data`` (before muxing).

    Every picture carries ``cc_data`` (null pairs when no caption is due), so the caption channel has its
    constant rate and a receiver detects it from the first picture. Until ``load()`` is called the pictures
    carry only null pairs: the speech (and so the cues) may not exist yet when the first segment is coded.
    ``languages`` (the alert's, first-read first) fixes the service plan before any cue exists, so the PMT's
    caption service descriptor is right from the first segment; without them the plan comes from the cues.
    """

    def __init__(self, codec: str, fps: Fraction, languages: Sequence[str] = ()) -> None:
        if codec not in _H264 + _MPEG2:
            raise CaptionError(f"no A/53 caption carriage for video codec {codec!r} (H.264 and MPEG-2 only)")
        self.codec = codec
        self.fps = Fraction(fps)
        self.plan: ServicePlan | None = plan_services(languages) if languages else None
        self.track: CaptionTrack | None = None
        self.dtvcc: DtvccTrack | None = None
        self.cc_count = cc_count_for(self.fps)
        self._empty = cc_data([(0x80, 0x80)], self.cc_count)

    def descriptor(self) -> bytes:
        """The PMT caption_service_descriptor for the video stream (empty before a plan exists)."""
        return b"" if self.plan is None else self.plan.descriptor()

    def load(
        self, cue_list: Sequence[Cue], first_frame: int = 0, language: str | None = None
    ) -> CaptionTrack:
        """Schedules the cues: 608 CC1 (``language``, else the plan's) and one DTVCC service per language."""
        if self.plan is None:
            langs = list(dict.fromkeys(c.language for c in cue_list))
            cc1 = choose_language(cue_list, language)
            self.plan = plan_services(langs, cc1, by_tag=False)
        plan = self.plan
        cc1 = language if language is not None else plan.cc1
        track = CaptionTrack(
            cue_list if cc1 is not None else [], self.fps, first_frame=first_frame, language=cc1
        )
        dtvcc = DtvccTrack(
            plan.services, cue_list, self.fps, dtvcc_triplets(self.fps), first_frame=first_frame
        )
        duration = max((c.end_s for c in cue_list), default=0.0)
        log.info(
            "broadcast.cea708_captions", cc1=track.language, captions=len(track.shown),
            services=",".join(f"{s.number}:{s.language}" for s in dtvcc.services) or None,
            service_captions=len(dtvcc.shown), not_carried=",".join(plan.not_carried) or None,
            dropped_chars=sum(dtvcc.dropped.values()) or None, first_frame=first_frame,
            dtvcc_bps=round(dtvcc.bytes_sent() * 8 / duration) if duration else 0,
        )  # fmt: skip
        if sum(dtvcc.dropped.values()):
            log.warning("broadcast.cea708_dropped_characters", per_service=dict(dtvcc.dropped))
        self.track, self.dtvcc = track, dtvcc
        return track

    def cc_data(self, frame: int) -> bytes:
        if self.track is None:
            return self._empty
        dtvcc = self.dtvcc.triplets(frame) if self.dtvcc is not None else []
        return cc_data(self.track.pairs(frame), self.cc_count, dtvcc)

    def insert(self, data: bytes, frame: int) -> bytes:
        user_data = atsc_user_data(self.cc_data(frame))
        if self.codec in _MPEG2:
            return insert_mpeg2_user_data(data, user_data)
        return insert_h264_sei(data, sei_t35_nal(user_data))

    def rewrite(self, packet: Any) -> Any:
        """A new ``av.Packet`` with the caption data in, same timing, flags and stream."""
        import av

        if packet.pts is None or packet.time_base is None:
            raise CaptionError("video packet has no timestamp to match captions to")
        frame = round(packet.pts * packet.time_base * self.fps)
        out = av.Packet(self.insert(bytes(packet), frame))
        out.pts, out.dts, out.duration = packet.pts, packet.dts, packet.duration
        out.time_base = packet.time_base
        out.is_keyframe = packet.is_keyframe
        out.stream = packet.stream
        return out
