"""RFC 6381 ``codecs`` values of the elementary streams in an MPEG-TS segment, read from the bytes as muxed.

For the HLS master playlist's ``CODECS`` (RFC 8216 §4.3.4.2: every format in the variant and its renditions).
A fixed ``avc1.640028`` claims High profile level 4.0 for whatever the encoder chose (x264 picks level 3.1 for
720p); a player that checks ``MediaSource.isTypeSupported`` with it, or a packager that trusts it, is misled.

- H.264 (stream type 0x1B): ``avc1.PPCCLL`` from the first SPS: profile_idc, the constraint flags byte and
  level_idc (RFC 6381 §3.3, ISO/IEC 14496-15 avcC's same three bytes).
- AAC in ADTS (0x0F): ``mp4a.40.N``, N the audio object type (ADTS ``profile`` + 1; 2 = AAC-LC).
- AC-3 (0x81) ``ac-3``, E-AC-3 (0x87) ``ec-3`` (ETSI TS 102 366 Annex F).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from cinealert.errors import CinealertError

PACKET = 188
SYNC = 0x47

#: stream_type -> what this module knows how to name.
STREAM_KINDS = {0x1B: "h264", 0x0F: "aac", 0x81: "ac3", 0x87: "eac3"}


class CodecsError(ValueError, CinealertError):
    """The segment does not say which codec it carries (no PMT, no SPS, an unknown stream type)."""


def _payloads(data: bytes) -> dict[int, list[tuple[bool, bytes]]]:
    """PID -> ``(payload_unit_start, payload)`` of each packet that carries a payload, in order."""
    if len(data) < PACKET or data[0] != SYNC:
        raise CodecsError("not an MPEG transport stream (no sync byte at 0)")
    out: dict[int, list[tuple[bool, bytes]]] = {}
    for pos in range(0, len(data) - PACKET + 1, PACKET):
        if data[pos] != SYNC:
            raise CodecsError(f"lost TS sync at byte {pos}")
        pusi = bool(data[pos + 1] & 0x40)
        pid = ((data[pos + 1] & 0x1F) << 8) | data[pos + 2]
        control = (data[pos + 3] >> 4) & 0x3
        start = pos + 4
        if control & 0x2:
            start += 1 + data[pos + 4]
        if not control & 0x1 or start >= pos + PACKET:
            continue
        out.setdefault(pid, []).append((pusi, data[start : pos + PACKET]))
    return out


def _section(packets: list[tuple[bool, bytes]], what: str) -> bytes:
    """The first PSI section of a PID (pointer field skipped; sections this small fit in one packet)."""
    for pusi, payload in packets:
        if pusi:
            body = payload[1 + payload[0] :]
            length = 3 + (((body[1] & 0x0F) << 8) | body[2])
            return body[:length]
    raise CodecsError(f"no {what} section")


def streams(data: bytes) -> list[tuple[int, int]]:
    """``(stream_type, PID)`` of the first program's elementary streams, in PMT order."""
    by_pid = _payloads(data)
    pat = _section(by_pid.get(0, []), "PAT")
    pmt_pid = next(
        (struct.unpack_from(">H", pat, p + 2)[0] & 0x1FFF for p in range(8, len(pat) - 4, 4)
         if struct.unpack_from(">H", pat, p)[0] != 0),
        None,
    )  # fmt: skip
    if pmt_pid is None:
        raise CodecsError("the PAT names no program")
    pmt = _section(by_pid.get(pmt_pid, []), "PMT")
    pos = 12 + (((pmt[10] & 0x0F) << 8) | pmt[11])
    found: list[tuple[int, int]] = []
    while pos + 5 <= len(pmt) - 4:
        stream_type = pmt[pos]
        pid = ((pmt[pos + 1] & 0x1F) << 8) | pmt[pos + 2]
        found.append((stream_type, pid))
        pos += 5 + (((pmt[pos + 3] & 0x0F) << 8) | pmt[pos + 4])
    return found


def _first_pes(packets: list[tuple[bool, bytes]]) -> bytes:
    """The elementary stream bytes of the first complete PES packet of a PID (its header stripped)."""
    pes = bytearray()
    started = False
    for pusi, payload in packets:
        if pusi:
            if started:
                break
            started = True
        if started:
            pes += payload
    if len(pes) < 9 or pes[:3] != b"\0\0\1":
        raise CodecsError("no PES packet start")
    return bytes(pes[9 + pes[8] :])


def avc_codecs(es: bytes) -> str:
    """``avc1.PPCCLL`` from the first sequence parameter set (NAL type 7) in an Annex B byte stream."""
    pos = 0
    while True:
        pos = es.find(b"\0\0\1", pos)
        if pos < 0 or pos + 6 > len(es):
            raise CodecsError("no H.264 SPS in the first access unit")
        if es[pos + 3] & 0x1F == 7:
            return "avc1." + es[pos + 4 : pos + 7].hex().upper()
        pos += 3


def aac_codecs(es: bytes) -> str:
    """``mp4a.40.N`` from the first ADTS header."""
    if len(es) < 7 or es[0] != 0xFF or es[1] & 0xF6 != 0xF0:
        raise CodecsError("AAC stream does not start with an ADTS header")
    return f"mp4a.40.{(es[2] >> 6) + 1}"


def ts_codecs(data: bytes) -> list[str]:
    """The codecs of one TS segment's streams, in PMT order (one entry per distinct value)."""
    by_pid = _payloads(data)
    out: list[str] = []
    for stream_type, pid in streams(data):
        kind = STREAM_KINDS.get(stream_type)
        if kind is None:
            raise CodecsError(f"stream type 0x{stream_type:02X} on PID 0x{pid:04X} has no RFC 6381 name here")
        if kind == "ac3":
            value = "ac-3"
        elif kind == "eac3":
            value = "ec-3"
        else:
            es = _first_pes(by_pid.get(pid, []))
            value = avc_codecs(es) if kind == "h264" else aac_codecs(es)
        if value not in out:
            out.append(value)
    return out


def codecs_attribute(segments: Iterable[bytes]) -> str:
    """``CODECS`` for a variant: the codecs of its main segment, then those of each audio rendition's segment,
    video first, each named once."""
    found: list[str] = []
    for data in segments:
        found += [c for c in ts_codecs(data) if c not in found]
    video = [c for c in found if c.startswith("avc")]
    return ",".join(video + [c for c in found if c not in video])
