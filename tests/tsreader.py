"""A small MPEG-TS reader for tests, written from ISO/IEC 13818-1, A/52 and A/53 (not from the product's code):
packets, continuity, PCR, PSI sections (any length, CRC checked), PAT/PMT with descriptors, PES payloads and
the AC-3 bit stream information. ffprobe does not show continuity per PID, PMT descriptors or AC-3 dialnorm."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

PACKET = 188


@dataclass(frozen=True, slots=True)
class Packet:
    index: int
    pid: int
    pusi: bool
    has_adaptation: bool
    has_payload: bool
    cc: int
    adaptation: bytes
    payload: bytes

    @property
    def pcr(self) -> int | None:
        """Program clock reference in 27 MHz ticks, when this packet carries one."""
        a = self.adaptation
        if len(a) < 7 or not a[0] & 0x10:  # PCR_flag
            return None
        base = (a[1] << 25) | (a[2] << 17) | (a[3] << 9) | (a[4] << 1) | (a[5] >> 7)
        ext = ((a[5] & 1) << 8) | a[6]
        return base * 300 + ext

    @property
    def random_access(self) -> bool:
        return bool(self.adaptation) and bool(self.adaptation[0] & 0x40)


def packets(data: bytes) -> Iterator[Packet]:
    assert len(data) % PACKET == 0, "not a whole number of 188-byte packets"
    for i in range(len(data) // PACKET):
        p = data[i * PACKET : (i + 1) * PACKET]
        assert p[0] == 0x47, f"packet {i}: no sync byte"
        pid = ((p[1] & 0x1F) << 8) | p[2]
        afc = (p[3] >> 4) & 3
        pos = 4
        adaptation = b""
        if afc & 2:
            length = p[4]
            adaptation = p[5 : 5 + length]
            pos = 5 + length
        yield Packet(
            i, pid, bool(p[1] & 0x40), bool(afc & 2), bool(afc & 1), p[3] & 0x0F, adaptation, p[pos:]
        )


def continuity_errors(data: bytes) -> list[tuple[int, int, int, int]]:
    """``(packet index, pid, expected, found)`` for every continuity counter that does not follow on."""
    last: dict[int, int] = {}
    errors = []
    for p in packets(data):
        if p.pid == 0x1FFF:
            continue
        if p.pid in last:
            expected = (last[p.pid] + 1) % 16 if p.has_payload else last[p.pid]
            if p.cc != expected:
                errors.append((p.index, p.pid, expected, p.cc))
        last[p.pid] = p.cc
    return errors


def crc32_mpeg2(data: bytes) -> int:
    """Bit by bit, as the standard writes it (the product uses a table)."""
    crc = 0xFFFFFFFF
    for byte in data:
        for bit in range(7, -1, -1):
            top = (crc >> 31) ^ ((byte >> bit) & 1)
            crc = (crc << 1) & 0xFFFFFFFF
            if top:
                crc ^= 0x04C11DB7
    return crc


def sections(data: bytes, pid: int) -> list[bytes]:
    """Every complete PSI section on ``pid``, reassembled across packets (pointer_field honoured)."""
    out: list[bytes] = []
    buf = b""
    collecting = False

    def drain() -> None:
        nonlocal buf
        while len(buf) >= 3 and buf[0] != 0xFF:
            length = 3 + (((buf[1] & 0x0F) << 8) | buf[2])
            if len(buf) < length:
                return
            out.append(buf[:length])
            buf = buf[length:]
        if buf[:1] == b"\xff":
            buf = b""

    for p in packets(data):
        if p.pid != pid or not p.has_payload:
            continue
        payload = p.payload
        if p.pusi:
            pointer = payload[0]
            if collecting:
                buf += payload[1 : 1 + pointer]
                drain()
            buf = payload[1 + pointer :]
            collecting = True
            drain()
        elif collecting:
            buf += payload
            drain()
    return out


@dataclass(frozen=True, slots=True)
class Stream:
    stream_type: int
    pid: int
    descriptors: list[tuple[int, bytes]] = field(default_factory=list)

    def descriptor(self, tag: int) -> bytes | None:
        return next((body for t, body in self.descriptors if t == tag), None)


def _descriptors(data: bytes) -> list[tuple[int, bytes]]:
    out = []
    pos = 0
    while pos + 2 <= len(data):
        tag, length = data[pos], data[pos + 1]
        assert pos + 2 + length <= len(data), "descriptor overruns its loop"
        out.append((tag, data[pos + 2 : pos + 2 + length]))
        pos += 2 + length
    assert pos == len(data), "descriptor loop length does not add up"
    return out


def check_crc(section: bytes) -> None:
    assert crc32_mpeg2(section) == 0, f"table 0x{section[0]:02x}: CRC_32 wrong"


def parse_pat(section: bytes) -> dict[int, int]:
    check_crc(section)
    assert section[0] == 0x00
    programs = {}
    for pos in range(8, len(section) - 4, 4):
        number = (section[pos] << 8) | section[pos + 1]
        pid = ((section[pos + 2] & 0x1F) << 8) | section[pos + 3]
        programs[number] = pid
    return programs


@dataclass(frozen=True, slots=True)
class Pmt:
    program: int
    pcr_pid: int
    program_descriptors: list[tuple[int, bytes]]
    streams: list[Stream]


def parse_pmt(section: bytes) -> Pmt:
    check_crc(section)
    assert section[0] == 0x02
    program = (section[3] << 8) | section[4]
    pcr_pid = ((section[8] & 0x1F) << 8) | section[9]
    info_len = ((section[10] & 0x0F) << 8) | section[11]
    program_descriptors = _descriptors(section[12 : 12 + info_len])
    pos = 12 + info_len
    streams = []
    while pos < len(section) - 4:
        stream_type = section[pos]
        pid = ((section[pos + 1] & 0x1F) << 8) | section[pos + 2]
        es_len = ((section[pos + 3] & 0x0F) << 8) | section[pos + 4]
        streams.append(Stream(stream_type, pid, _descriptors(section[pos + 5 : pos + 5 + es_len])))
        pos += 5 + es_len
    assert pos == len(section) - 4, "ES loop does not end at the CRC"
    return Pmt(program, pcr_pid, program_descriptors, streams)


def pes_payloads(data: bytes, pid: int) -> list[bytes]:
    """The elementary stream data of each PES packet on ``pid`` (PES header stripped)."""
    out: list[bytes] = []
    current: bytearray | None = None
    for p in packets(data):
        if p.pid != pid or not p.has_payload:
            continue
        if p.pusi:
            if current is not None:
                out.append(bytes(current))
            assert p.payload[:3] == b"\x00\x00\x01", "PES start code missing"
            header_len = p.payload[8]
            current = bytearray(p.payload[9 + header_len :])
        elif current is not None:
            current += p.payload
    if current is not None:
        out.append(bytes(current))
    return out


# --- AC-3 (A/52 5.3, 5.4) -------------------------------------------------------------------------------------

#: frmsizecod // 2 -> kbit/s (A/52 Table 5.18)
AC3_RATES = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 576, 640)


@dataclass(frozen=True, slots=True)
class Ac3Frame:
    fscod: int
    kbps: int
    bsid: int
    bsmod: int
    acmod: int
    dialnorm: int


class _Bits:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def read(self, n: int) -> int:
        value = 0
        for _ in range(n):
            byte = self.data[self.pos >> 3]
            value = (value << 1) | ((byte >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return value


def ac3_frames(es: bytes) -> list[Ac3Frame]:
    """Every sync frame's header and bsi, walking the stream frame by frame (48 kHz: 4 bytes per kbit/s)."""
    out = []
    pos = 0
    while pos + 8 <= len(es):
        assert es[pos : pos + 2] == b"\x0b\x77", f"AC-3 sync lost at byte {pos}"
        bits = _Bits(es[pos + 4 :])  # after syncword and crc1
        b = _Bits(es[pos + 4 : pos + 5])
        fscod, frmsizecod = b.read(2), b.read(6)
        assert fscod == 0, "only 48 kHz is expected here"
        bits.read(8)
        bsid, bsmod, acmod = bits.read(5), bits.read(3), bits.read(3)
        if acmod & 1 and acmod != 1:
            bits.read(2)  # cmixlev
        if acmod & 4:
            bits.read(2)  # surmixlev
        if acmod == 2:
            bits.read(2)  # dsurmod
        bits.read(1)  # lfeon
        dialnorm = bits.read(5)
        kbps = AC3_RATES[frmsizecod // 2]
        out.append(Ac3Frame(fscod, kbps, bsid, bsmod, acmod, dialnorm))
        pos += kbps * 4
    return out
