"""MPEG-TS packet rewriting between FFmpeg's muxer and the publisher: what an ATSC 1.0 ingest checks first.

Why a rewriter: each published segment is muxed by its own short-lived ``mpegts`` muxer (a segment is handed
out the moment its pictures are coded), so every segment starts its continuity counters at 0, and FFmpeg's
muxer knows nothing of ATSC signalling. ``TsRewriter`` runs over each segment's 188-byte packets in order,
before the segment is published, and keeps state across the segments of one clip:

* **Continuity** (ISO/IEC 13818-1 2.4.3.3): per PID, the counter of a packet with payload is the previous one
  plus 1 (mod 16), across segment boundaries, so a multiplexer or playout server that joins the segments sees
  one continuous stream; a packet without payload repeats the previous counter.
* **Dropped PIDs**: FFmpeg always writes a DVB SDT (PID 0x0011); ATSC has no SDT (its service information is
  PSIP, A/65), so the ATSC output drops it.
* **PMT descriptors** (``es_descriptors``, by ``stream_type``): for AC-3 (stream type 0x81) the ATSC AC-3
  audio stream descriptor (A/52 Annex A, tag 0x81) is appended to the elementary stream's descriptor loop,
  after FFmpeg's own registration (``AC-3``) and ISO 639 language descriptors (the registration descriptor is
  added too where a muxer left it out); for the video (MPEG-2 0x02, H.264 0x1B) the ATSC caption service
  descriptor (A/65 6.9.2, tag 0x86) naming the 608 and CEA-708 caption services its ``cc_data`` carries
  (``cea708.ServicePlan.descriptor``); the section's CRC is recomputed.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cinealert.errors import CinealertError

PACKET = 188
SYNC = 0x47
PAT_PID = 0x0000
SDT_PID = 0x0011
NULL_PID = 0x1FFF
STREAM_TYPE_AC3 = 0x81  # ATSC A/53 Part 3 / A/52 Annex A
STREAM_TYPE_MPEG2_VIDEO = 0x02
STREAM_TYPE_H264 = 0x1B
#: Encoder -> the PMT stream_type of its elementary stream.
VIDEO_STREAM_TYPES = {
    "mpeg2video": STREAM_TYPE_MPEG2_VIDEO,
    "libx264": STREAM_TYPE_H264,
    "h264": STREAM_TYPE_H264,
}
TAG_REGISTRATION = 0x05
TAG_ISO639 = 0x0A
TAG_ATSC_AC3 = 0x81
TAG_CAPTION_SERVICE = 0x86


class TsError(ValueError, CinealertError):
    """A segment is not a well-formed transport stream, or its PMT cannot take the descriptors."""


def _crc_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        crc = i << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
        table.append(crc & 0xFFFFFFFF)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc32_mpeg2(data: bytes) -> int:
    """CRC-32/MPEG-2 (polynomial 0x04C11DB7, initial 0xFFFFFFFF, no reflection, no final XOR): PSI sections end
    with it, and a section with a wrong one is discarded by every receiver."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC_TABLE[((crc >> 24) ^ byte) & 0xFF]
    return crc


# --- descriptors ----------------------------------------------------------------------------------------------

#: ISO 639-1 (the CAP/BCP 47 primary subtag) -> ISO 639-2/B, as broadcast PSI carries languages. Covers the
#: languages alerts are issued in here and the common ones of US WEA/EAS; others become "und".
_ISO639_2 = {
    "ar": "ara", "bn": "ben", "ch": "cha", "cs": "cze", "da": "dan", "de": "ger", "el": "gre", "en": "eng",
    "es": "spa", "fa": "per", "fi": "fin", "fr": "fre", "he": "heb", "hi": "hin", "hmn": "hmn", "ht": "hat",
    "hu": "hun", "id": "ind", "it": "ita", "ja": "jpn", "km": "khm", "ko": "kor", "lo": "lao", "mn": "mon",
    "ms": "may", "my": "bur", "ne": "nep", "nl": "dut", "no": "nor", "pa": "pan", "pl": "pol", "pt": "por",
    "ro": "rum", "ru": "rus", "sm": "smo", "so": "som", "sv": "swe", "sw": "swa", "th": "tha", "tl": "tgl",
    "fil": "fil", "to": "ton", "tr": "tur", "uk": "ukr", "ur": "urd", "uz": "uzb", "vi": "vie", "zh": "chi",
    "yue": "chi", "cmn": "chi",
}  # fmt: skip


def iso639_2(language: str) -> str:
    """The three-letter code a PMT language descriptor carries for a CAP language tag (``en-US`` -> ``eng``).

    A tag whose primary subtag is already three letters is kept as it is; an unknown one is ``und``."""
    primary = language.strip().lower().replace("_", "-").split("-")[0]
    if primary in _ISO639_2:
        return _ISO639_2[primary]
    if len(primary) == 3 and primary.isascii() and primary.isalpha():
        return primary
    return "und"


def registration_descriptor(format_identifier: bytes) -> bytes:
    if len(format_identifier) != 4:
        raise TsError(f"format_identifier must be 4 bytes, got {format_identifier!r}")
    return bytes([TAG_REGISTRATION, 4]) + format_identifier


#: A/52 Table A4.3 ``bit_rate_code`` (exact rate: upper bit 0), kbit/s -> code.
_AC3_RATES = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 576, 640)
_AC3_RATE_CODES = {rate: code for code, rate in enumerate(_AC3_RATES)}
#: A/52 Table A4.5 ``num_channels`` for the channel counts the encoder is given (mono 1/0, stereo 2/0).
_AC3_NUM_CHANNELS = {1: 0b0001, 2: 0b0010}


def ac3_audio_descriptor(kbps: int, channels: int, language: str | None) -> bytes:
    """The ATSC AC-3 audio stream descriptor (A/52 Annex A, tag 0x81) for a 48 kHz, ``bsid`` 8, complete main
    (``bsmod`` 0) service: the receiver learns rate, channels and language before decoding a frame."""
    if kbps not in _AC3_RATE_CODES:
        raise TsError(f"{kbps} kbit/s is not an AC-3 bit rate")
    if channels not in _AC3_NUM_CHANNELS:
        raise TsError(f"no AC-3 descriptor channel code for {channels} channels")
    lang = b"" if language is None else language.encode("ascii")
    if language is not None and len(lang) != 3:
        raise TsError(f"language must be an ISO 639-2 code, got {language!r}")
    body = bytes([
        (0 << 5) | 8,  # sample_rate_code 0 (48 kHz), bsid 8
        (_AC3_RATE_CODES[kbps] << 2) | 0,  # bit_rate_code (exact), surround_mode 0 (not indicated)
        (0 << 5) | (_AC3_NUM_CHANNELS[channels] << 1) | 1,  # bsmod 0 (main, complete), num_channels, full_svc
        0xFF,  # langcod: deprecated, 0xFF
        (0 << 5) | (0b01 << 3) | 0b111,  # mainid 0, priority 01 (primary audio), reserved
        (0 << 1) | 1,  # textlen 0, text_code 1 (ISO Latin-1)
        0b10111111 if lang else 0b00111111,  # language_flag, language_flag_2 0, reserved
    ]) + lang  # fmt: skip
    return bytes([TAG_ATSC_AC3, len(body)]) + body


def ac3_descriptors(kbps: int, channels: int, language: str | None) -> bytes:
    """What an ATSC PMT carries for an AC-3 elementary stream beside its language descriptor."""
    return registration_descriptor(b"AC-3") + ac3_audio_descriptor(kbps, channels, language)


@dataclass(frozen=True, slots=True)
class CaptionServiceEntry:
    """One service of the caption_service_descriptor: a 608 data channel (``digital_cc`` False, its
    ``line21_field``: 0 field 1, 1 field 2) or a CEA-708 service (``service``: caption_service_number)."""

    language: str  # ISO 639-2/B
    digital_cc: bool
    service: int = 0
    line21_field: int = 0
    easy_reader: bool = False
    wide_aspect_ratio: bool = True  # formatted for 16:9 (the profiles are 16:9)
    korean_code: int | None = None  # A/65:2013, Korean services only: 0 = KS X 1001; None: the reserved '1'


def caption_service_descriptor(entries: Sequence[CaptionServiceEntry]) -> bytes:
    """The ATSC caption_service_descriptor (A/65 Table 6.26, tag 0x86): ``reserved`` '111' and
    ``number_of_services`` (1-16), then per service the language, ``digital_cc``, a reserved '1', the service
    number (708) or '11111' + ``line21_field`` (608), ``easy_reader``, ``wide_aspect_ratio`` and 14 bits of
    which A/65:2013 makes the first ``korean_code``; reserved bits are ones."""
    if not 1 <= len(entries) <= 16:
        raise TsError(f"a caption service descriptor names 1 to 16 services, not {len(entries)}")
    body = bytearray([0xE0 | len(entries)])
    for e in entries:
        lang = e.language.encode("latin-1")
        if len(lang) != 3:
            raise TsError(f"caption service language must be an ISO 639-2 code, got {e.language!r}")
        if e.digital_cc and not 1 <= e.service <= 63:
            raise TsError(f"caption_service_number {e.service} outside 1-63")
        body += lang
        low = 0x40 | (e.service if e.digital_cc else 0x3E | (e.line21_field & 1))
        body.append(
            (int(e.digital_cc) << 7) | low
        )  # digital_cc, reserved 1, service number / '11111' + field
        korean = 1 if e.korean_code is None else e.korean_code & 1
        flags = (int(e.easy_reader) << 15) | (int(e.wide_aspect_ratio) << 14) | (korean << 13) | 0x1FFF
        body += struct.pack(">H", flags)
    return bytes([TAG_CAPTION_SERVICE, len(body)]) + bytes(body)


# --- sections -------------------------------------------------------------------------------------------------


def _check_section(section: bytes, what: str) -> int:
    """The section's total length (header to CRC); raises if its CRC is wrong."""
    if len(section) < 3:
        raise TsError(f"{what}: truncated section")
    length = 3 + (((section[1] & 0x0F) << 8) | section[2])
    if len(section) < length or crc32_mpeg2(section[:length]) != 0:
        raise TsError(f"{what}: section truncated or CRC wrong")
    return length


def pat_pmt_pids(section: bytes) -> dict[int, int]:
    """program_number -> PMT PID of a PAT section (program 0, the NIT, left out)."""
    length = _check_section(section, "PAT")
    out: dict[int, int] = {}
    for pos in range(8, length - 4, 4):
        program, pid = struct.unpack_from(">HH", section, pos)
        if program:
            out[program] = pid & 0x1FFF
    return out


def split_descriptors(loop: bytes) -> list[bytes]:
    """The descriptors of a descriptor loop, each with its tag and length bytes."""
    out = []
    pos = 0
    while pos < len(loop):
        if pos + 2 > len(loop) or pos + 2 + loop[pos + 1] > len(loop):
            raise TsError("descriptor overruns its loop")
        out.append(loop[pos : pos + 2 + loop[pos + 1]])
        pos += 2 + loop[pos + 1]
    return out


def add_es_descriptors(section: bytes, extra: Mapping[int, bytes | Sequence[bytes]]) -> bytes:
    """The PMT section with the descriptors in ``extra[stream_type]`` appended to the descriptor loop of each
    elementary stream of that type, each unless an identical one is there already (FFmpeg writes the AC-3
    registration descriptor itself), lengths and CRC updated. A sequence gives the n-th stream of that type
    its n-th entry (the last one for any further): one AC-3 audio descriptor per language's PID."""
    length = _check_section(section, "PMT")
    if section[0] != 0x02:
        raise TsError(f"PMT: table_id 0x{section[0]:02x}, expected 0x02")
    program_info = ((section[10] & 0x0F) << 8) | section[11]
    head = bytearray(section[: 12 + program_info])
    body = bytearray()
    seen: dict[int, int] = {}
    pos = 12 + program_info
    while pos < length - 4:
        stream_type = section[pos]
        es_len = ((section[pos + 3] & 0x0F) << 8) | section[pos + 4]
        have = split_descriptors(section[pos + 5 : pos + 5 + es_len])
        wanted = extra.get(stream_type, b"")
        if not isinstance(wanted, bytes):
            nth = seen.get(stream_type, 0)
            seen[stream_type] = nth + 1
            wanted = wanted[min(nth, len(wanted) - 1)] if wanted else b""
        have += [d for d in split_descriptors(wanted) if d not in have]
        descriptors = b"".join(have)
        if len(descriptors) > 0x3FF:
            raise TsError("PMT: ES_info_length overflows")
        body += section[pos : pos + 3] + struct.pack(">H", 0xF000 | len(descriptors)) + descriptors
        pos += 5 + es_len
    out = head + body
    section_length = len(out) - 3 + 4
    if section_length > 1021:
        raise TsError("PMT: section longer than 1021 bytes")
    out[1] = (out[1] & 0xF0) | (section_length >> 8)
    out[2] = section_length & 0xFF
    return bytes(out) + struct.pack(">I", crc32_mpeg2(bytes(out)))


# --- the rewriter ---------------------------------------------------------------------------------------------


class TsRewriter:
    """Rewrites each segment of one clip in order (see the module docstring); one instance per clip."""

    def __init__(
        self,
        drop_pids: frozenset[int] = frozenset(),
        es_descriptors: Mapping[int, bytes | Sequence[bytes]] | None = None,
    ) -> None:
        self.drop_pids = drop_pids
        self.es_descriptors = es_descriptors
        self._cc: dict[int, int] = {}
        self._pmt_pids: set[int] = set()
        self._pmt_cache: dict[bytes, bytes] = {}

    def segment(self, data: bytes) -> bytes:
        if len(data) % PACKET:
            raise TsError(f"segment of {len(data)} bytes is not a whole number of {PACKET}-byte packets")
        out = bytearray()
        for pos in range(0, len(data), PACKET):
            packet = data[pos : pos + PACKET]
            if packet[0] != SYNC:
                raise TsError(f"lost sync at byte {pos}")
            pid = ((packet[1] & 0x1F) << 8) | packet[2]
            if pid in self.drop_pids:
                continue
            if pid == PAT_PID and packet[1] & 0x40:
                self._pmt_pids.update(pat_pmt_pids(self._section(packet)).values())
            elif pid in self._pmt_pids and packet[1] & 0x40 and self.es_descriptors:
                packet = self._pmt_packet(packet)
            out += self._continue(pid, packet)
        return bytes(out)

    def _continue(self, pid: int, packet: bytes) -> bytes:
        if pid == NULL_PID:
            return packet
        has_payload = bool(packet[3] & 0x10)
        last = self._cc.get(pid)
        # The clip's first packet on a PID keeps the muxer's counter; after it, +1 per packet with payload.
        cc = packet[3] & 0x0F if last is None else ((last + 1) & 0x0F if has_payload else last)
        self._cc[pid] = cc
        if packet[3] & 0x0F == cc:
            return packet
        return packet[:3] + bytes([(packet[3] & 0xF0) | cc]) + packet[4:]

    @staticmethod
    def _payload_start(packet: bytes) -> int:
        start = 4
        if packet[3] & 0x20:
            start += 1 + packet[4]
        return start

    def _section(self, packet: bytes) -> bytes:
        """The section starting in this packet (PSI of FFmpeg's muxer: one section, in one packet)."""
        start = self._payload_start(packet)
        start += 1 + packet[start]  # pointer_field
        section = packet[start:]
        length = 3 + (((section[1] & 0x0F) << 8) | section[2])
        if length > len(section):
            raise TsError("a PSI section spans packets: not written by this muxer")
        return section[:length]

    def _pmt_packet(self, packet: bytes) -> bytes:
        section = self._section(packet)
        new = self._pmt_cache.get(section)
        if new is None:
            assert self.es_descriptors is not None
            new = add_es_descriptors(section, self.es_descriptors)
            self._pmt_cache[section] = new
        header = packet[:4]
        if len(new) + 5 > PACKET:
            raise TsError(f"the PMT with ATSC descriptors ({len(new)} bytes) no longer fits one packet")
        # Payload only (FFmpeg's PSI packets carry no adaptation field); pointer_field 0; 0xFF stuffing.
        header = bytes([header[0], header[1], header[2], (header[3] & 0xCF) | 0x10])
        return (header + b"\x00" + new).ljust(PACKET, b"\xff")
