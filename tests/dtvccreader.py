"""A CEA-708 reader written for the tests, independent of ``broadcast.cea708``: A/53 ``cc_data`` out of a
transport stream's coded pictures (MPEG-2 picture user data or H.264 SEI), caption channel packets
reassembled (sequence numbers and sizes checked), service blocks split, and each service's commands run on a
small window model to give the captions a viewer of that service sees, with their times."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from tsreader import packets, parse_pat, parse_pmt, sections

VIDEO_TYPES = {0x02: "mpeg2", 0x1B: "h264"}
G2 = {
    0x25: "…", 0x2A: "Š", 0x2C: "Œ", 0x30: "█", 0x31: "‘", 0x32: "’", 0x33: "“", 0x34: "”", 0x35: "•",
    0x39: "™", 0x3A: "š", 0x3C: "œ", 0x3D: "℠", 0x3F: "Ÿ", 0x76: "⅛", 0x77: "⅜", 0x78: "⅝", 0x79: "⅞",
}  # fmt: skip


def video_pictures(data: bytes) -> tuple[str, list[tuple[int, bytes]]]:
    """The video codec and (PTS, coded picture) of every PES packet on the video PID, in stream order."""
    pmt_pid = next(iter(parse_pat(sections(data, 0)[0]).values()))
    pmt = parse_pmt(sections(data, pmt_pid)[0])
    video = next(s for s in pmt.streams if s.stream_type in VIDEO_TYPES)
    out: list[tuple[int, bytes]] = []
    pts, current = 0, bytearray()
    started = False
    for p in packets(data):
        if p.pid != video.pid or not p.has_payload:
            continue
        if p.pusi:
            if started:
                out.append((pts, bytes(current)))
            payload = p.payload
            assert payload[:3] == b"\x00\x00\x01" and payload[7] & 0x80, "video PES without a PTS"
            b = payload[9:14]
            pts = ((b[0] >> 1) & 7) << 30 | b[1] << 22 | (b[2] >> 1) << 15 | b[3] << 7 | b[4] >> 1
            current = bytearray(payload[9 + payload[8] :])
            started = True
        else:
            current += p.payload
    if started:
        out.append((pts, bytes(current)))
    return VIDEO_TYPES[video.stream_type], out


def _unescape(payload: bytes) -> bytes:
    out, zeros = bytearray(), 0
    for b in payload:
        if zeros >= 2 and b == 3:
            zeros = 0
            continue
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


def _nal_units(data: bytes) -> list[bytes]:
    starts = []
    pos = data.find(b"\x00\x00\x01")
    while pos >= 0:
        starts.append(pos + 3)
        pos = data.find(b"\x00\x00\x01", pos + 3)
    return [data[s : (starts[i + 1] - 3 if i + 1 < len(starts) else len(data))].rstrip(b"\x00") for i, s in
            enumerate(starts)]  # fmt: skip


def cc_data_of(picture: bytes, codec: str) -> bytes:
    """The ``cc_data()`` of one coded picture (its ``GA94`` user data, type 3); exactly one is expected."""
    found = []
    for nal in _nal_units(picture):
        if codec == "mpeg2" and nal[:1] == b"\xb2" and nal[1:6] == b"GA94\x03":
            found.append(nal[6:])
        elif codec == "h264" and nal and nal[0] & 0x1F == 6:
            rbsp, pos = _unescape(nal[1:]), 0
            while pos < len(rbsp) and rbsp[pos] != 0x80:
                values = []
                for _ in range(2):
                    value = 0
                    while rbsp[pos] == 0xFF:
                        value, pos = value + 255, pos + 1
                    values.append(value + rbsp[pos])
                    pos += 1
                kind, size = values
                body = rbsp[pos : pos + size]
                if kind == 4 and body[:3] == b"\xb5\x00\x31" and body[3:8] == b"GA94\x03":
                    found.append(body[8:])
                pos += size
    assert len(found) == 1, f"{len(found)} A/53 caption user data in one picture"
    return found[0]


def triplets(cc: bytes) -> list[tuple[bool, int, int, int]]:
    """(cc_valid, cc_type, byte 1, byte 2) of each triplet; the header and marker bits checked."""
    assert cc[0] & 0xE0 == 0xC0, "process_cc_data_flag / reserved bits"
    count = cc[0] & 0x1F
    assert cc[1] == 0xFF
    out = []
    for i in range(count):
        a, b, c = cc[2 + 3 * i : 5 + 3 * i]
        assert a & 0xF8 == 0xF8, "marker bits"
        out.append((bool(a & 4), a & 3, b, c))
    assert cc[2 + 3 * count] == 0xFF, "marker_bits after cc_data"
    return out


@dataclass
class Packet:
    time_s: float
    sequence: int
    data: bytes  # after the header byte


def caption_packets(pictures: list[tuple[float, list[tuple[bool, int, int, int]]]]) -> list[Packet]:
    """Caption channel packets from the pictures' triplets (in presentation order): a packet starts at a
    valid ``cc_type`` 3 and takes the following valid ``cc_type`` 2 triplets; its size must match its
    ``packet_size_code`` and the sequence numbers must run on mod 4. Also checks the 608 pairs come first."""
    out: list[Packet] = []
    current: list[int] | None = None
    start_s = 0.0
    for time_s, trips in pictures:
        kinds = [t for _v, t, _a, _b in trips]
        assert 1 in kinds and kinds.index(1) == kinds.count(0), "608 field 1 pairs first, then field 2"
        for valid, kind, a, b in trips:
            if not valid or kind < 2:
                continue
            if kind == 3:
                if current is not None:
                    out.append(_finish(current, start_s))
                current, start_s = [a, b], time_s
            else:
                assert current is not None, "DTVCC packet data without a packet start"
                current += [a, b]
        if current is not None:  # our packets never span pictures: each ends in its own picture
            out.append(_finish(current, start_s))
            current = None
    for prev, nxt in itertools.pairwise(out):
        assert nxt.sequence == (prev.sequence + 1) % 4, "packet sequence numbers"
    return out


def _finish(data: list[int], time_s: float) -> Packet:
    code = data[0] & 0x3F
    size = 128 if code == 0 else 2 * code
    assert len(data) == size, f"packet of {len(data)} bytes says {size}"
    return Packet(time_s, data[0] >> 6, bytes(data[1:]))


def service_blocks(packet: Packet) -> list[tuple[int, bytes]]:
    out = []
    pos, data = 0, packet.data
    while pos < len(data) and data[pos] != 0:
        number, size = data[pos] >> 5, data[pos] & 0x1F
        pos += 1
        if number == 7:
            number = data[pos] & 0x3F
            pos += 1
        assert size and pos + size <= len(data), "service block overruns its packet"
        out.append((number, data[pos : pos + size]))
        pos += size
    assert all(b == 0 for b in data[pos:]), "only null padding after the last block"
    return out


@dataclass
class Window:
    defined: bool = False
    visible: bool = False
    rows: int = 0
    columns: int = 0
    anchor: tuple[int, int, int] = (0, 0, 0)  # anchor point, vertical, horizontal
    text: list[str] = field(default_factory=lambda: [""])

    def shown(self) -> str:
        return "\n".join(line for line in self.text if line)


@dataclass
class Service:
    """One service's decoder: windows, the current one, and what it showed when."""

    number: int
    codec: str | None  # P16 national code (a Python codec)
    windows: list[Window] = field(default_factory=lambda: [Window() for _ in range(8)])
    current: int = 0
    events: list[tuple[float, str]] = field(default_factory=list)
    defines: list[Window] = field(default_factory=list)

    def screen(self) -> str:
        return "\n".join(w.shown() for w in self.windows if w.defined and w.visible and w.shown())

    def run(self, time_s: float, data: bytes) -> None:
        before = self.screen()
        pos = 0
        while pos < len(data):
            c = data[pos]
            w = self.windows[self.current]
            if c == 0x18:  # P16
                assert self.codec is not None, "P16 in a service without a national code"
                w.text[-1] += data[pos + 1 : pos + 3].decode(self.codec)
                pos += 3
            elif c == 0x10:  # EXT1: G2
                w.text[-1] += G2[data[pos + 1]]
                pos += 2
            elif c == 0x0D:  # CR
                w.text.append("")
                assert len(w.text) <= w.rows, "more rows than the window has"
                pos += 1
            elif c == 0x03:
                pos += 1
            elif 0x20 <= c <= 0x7F or c >= 0xA0:
                w.text[-1] += "♪" if c == 0x7F else bytes([c]).decode("latin-1")
                pos += 1
            elif 0x80 <= c <= 0x87:
                self.current = c - 0x80
                pos += 1
            elif c in (0x88, 0x89, 0x8A, 0x8C):  # CLW DSW HDW DLW
                for i in range(8):
                    if data[pos + 1] >> i & 1:
                        win = self.windows[i]
                        if c == 0x88:
                            win.text = [""]
                        elif c == 0x89:
                            win.visible = True
                        elif c == 0x8A:
                            win.visible = False
                        else:
                            self.windows[i] = Window()
                pos += 2
            elif c == 0x90:
                pos += 3
            elif c == 0x91:
                pos += 4
            elif c == 0x92:
                assert data[pos + 1 : pos + 3] == b"\x00\x00"
                pos += 3
            elif c == 0x97:
                pos += 5
            elif 0x98 <= c <= 0x9F:
                self.current = c - 0x98
                p = data[pos + 1 : pos + 7]
                w = self.windows[self.current]
                w.defined, w.visible = True, bool(p[0] & 0x20)
                w.rows, w.columns = (p[3] & 0x0F) + 1, (p[4] & 0x3F) + 1
                w.anchor = (p[3] >> 4, p[1] & 0x7F, p[2])
                self.defines.append(Window(True, w.visible, w.rows, w.columns, w.anchor))
                pos += 7
            else:
                raise AssertionError(f"unexpected DTVCC code 0x{c:02x}")
        after = self.screen()
        if after != before:
            self.events.append((time_s, after))

    def captions(self, end_s: float) -> list[tuple[float, float, str]]:
        """(start, end, text) of what the service showed."""
        out = []
        for (t, text), nxt in zip(self.events, [*self.events[1:], (end_s, "")], strict=True):
            if text:
                out.append((t, nxt[0], text))
        return out


def read_dtvcc(data: bytes, codecs: dict[int, str | None]) -> tuple[dict[int, Service], list[Packet], float]:
    """Every DTVCC service of a transport stream, decoded (``codecs``: service -> its P16 national code), the
    caption channel packets, and the programme length in seconds. Times are from the first picture."""
    codec, pics = video_pictures(data)
    pics.sort()
    t0 = pics[0][0]
    pictures = [((pts - t0) / 90000, triplets(cc_data_of(pic, codec))) for pts, pic in pics]
    counts = {len(t) for _s, t in pictures}
    assert len(counts) == 1, f"cc_count varies: {counts}"
    pkts = caption_packets(pictures)
    services: dict[int, Service] = {}
    for p in pkts:
        for number, block in service_blocks(p):
            service = services.setdefault(number, Service(number, codecs.get(number)))
            service.run(p.time_s, block)
    frame_s = (pics[1][0] - pics[0][0]) / 90000
    return services, pkts, pictures[-1][0] + frame_s


def caption_service_descriptor(body: bytes) -> list[dict[str, object]]:
    """The entries of an ATSC caption_service_descriptor (A/65 Table 6.26) body."""
    assert body[0] >> 5 == 0b111
    n = body[0] & 0x1F
    assert len(body) == 1 + 6 * n
    out: list[dict[str, object]] = []
    for i in range(n):
        e = body[1 + 6 * i : 7 + 6 * i]
        digital = bool(e[3] & 0x80)
        assert e[3] & 0x40, "reserved bit"
        entry: dict[str, object] = {"language": e[:3].decode("latin-1"), "digital_cc": digital}
        if digital:
            entry["service"] = e[3] & 0x3F
        else:
            assert e[3] & 0x3E == 0x3E
            entry["line21_field"] = e[3] & 1
        flags = (e[4] << 8) | e[5]
        entry.update(easy_reader=bool(flags >> 15), wide=bool(flags >> 14 & 1), korean_code=flags >> 13 & 1)
        assert flags & 0x1FFF == 0x1FFF, "reserved bits"
        out.append(entry)
    return out
