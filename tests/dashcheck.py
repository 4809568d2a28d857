"""An MPD read against the segment files it names, with an MP4 box reader of its own (not the product's).

Used by the DASH conformance tests and runnable by hand on any rendered folder:
``.venv/bin/python tests/dashcheck.py OUT_DIR`` prints the timeline-vs-files comparison and the per-segment
bitrates against ``@bandwidth``. Kept independent of ``cinealert.broadcast.encode`` on purpose: a reader that
shares the writer's helpers would share its mistakes.
"""

from __future__ import annotations

import re
import struct
import sys
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from lxml import etree

NS = {"m": "urn:mpeg:dash:schema:mpd:2011"}
_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"moof", b"traf", b"mvex", b"dinf", b"edts"}


def boxes(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[bytes, int, int]]:
    """``(type, payload start, box end)`` of each box in ``data[start:end]``; a truncated box is an error."""
    end = len(data) if end is None else end
    out = []
    pos = start
    while pos < end:
        assert pos + 8 <= end, f"truncated box header at {pos}"
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif size == 0:
            size = end - pos
        assert size >= header and pos + size <= end, f"box {kind!r} at {pos} overruns its parent"
        out.append((kind, pos + header, pos + size))
        pos += size
    return out


def find(data: bytes, *path: bytes, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Payload ranges of every box at ``path`` below ``data[start:end]``."""
    found = []
    for kind, payload, box_end in boxes(data, start, end):
        if kind == path[0]:
            found += (
                [(payload, box_end)] if len(path) == 1 else find(data, *path[1:], start=payload, end=box_end)
            )
    return found


def one(data: bytes, *path: bytes) -> tuple[int, int]:
    hits = find(data, *path)
    assert len(hits) == 1, f"{b'/'.join(path)!r}: {len(hits)} boxes"
    return hits[0]


@dataclass
class Fragment:
    """One media segment as its boxes say: decode time, sequence, per-sample durations and sizes."""

    sequence: int
    decode_time: int
    durations: list[int]
    sizes: list[int]
    size: int  # bytes of the whole file

    @property
    def duration(self) -> int:
        return sum(self.durations)


def read_fragment(data: bytes, trex_duration: int = 0, trex_size: int = 0) -> Fragment:
    """ISO/IEC 14496-12 §8.8: sample durations from trun, else tfhd's default, else the init's trex."""
    kinds = [k for k, _p, _e in boxes(data)]
    assert kinds[-1] == b"mdat" and b"moof" in kinds, f"segment boxes {kinds}"
    assert len(find(data, b"moof")) == 1 and len(find(data, b"moof", b"traf")) == 1
    mfhd, _ = one(data, b"moof", b"mfhd")
    (sequence,) = struct.unpack_from(">I", data, mfhd + 4)
    tfdt, _ = one(data, b"moof", b"traf", b"tfdt")
    decode = struct.unpack_from(">Q" if data[tfdt] == 1 else ">I", data, tfdt + 4)[0]
    tfhd, _ = one(data, b"moof", b"traf", b"tfhd")
    (flags,) = struct.unpack_from(">I", data, tfhd)
    pos = tfhd + 8  # version/flags, track_ID
    default_duration, default_size = trex_duration, trex_size
    if flags & 0x01:
        pos += 8
    if flags & 0x02:
        pos += 4
    if flags & 0x08:
        (default_duration,) = struct.unpack_from(">I", data, pos)
        pos += 4
    if flags & 0x10:
        (default_size,) = struct.unpack_from(">I", data, pos)
        pos += 4
    durations: list[int] = []
    sizes: list[int] = []
    for trun, _ in find(data, b"moof", b"traf", b"trun"):
        (tflags,) = struct.unpack_from(">I", data, trun)
        (count,) = struct.unpack_from(">I", data, trun + 4)
        pos = trun + 8 + (4 if tflags & 0x01 else 0) + (4 if tflags & 0x04 else 0)
        for _ in range(count):
            d, s = default_duration, default_size
            if tflags & 0x100:
                (d,) = struct.unpack_from(">I", data, pos)
                pos += 4
            if tflags & 0x200:
                (s,) = struct.unpack_from(">I", data, pos)
                pos += 4
            pos += (4 if tflags & 0x400 else 0) + (4 if tflags & 0x800 else 0)
            durations.append(d)
            sizes.append(s)
    return Fragment(sequence, decode, durations, sizes, len(data))


@dataclass
class Init:
    timescale: int
    handler: str
    entry: str  # sample entry type: hvc1, hev1, avc1, mp4a, stpp ...
    trex_duration: int
    trex_size: int
    colr: bytes | None  # the colr box payload of the visual sample entry, if any
    codecs: str  # RFC 6381 string derived from the configuration record


def _hevc_codecs(entry: str, rec: bytes) -> str:
    """ISO/IEC 14496-15 Annex E: hvc1.<space><idc>.<compat reversed hex>.<tier><level>.<constraint bytes>."""
    ptl = rec[1]
    space = ("", "A", "B", "C")[ptl >> 6]
    tier = "H" if ptl & 0x20 else "L"
    idc = ptl & 0x1F
    (compat,) = struct.unpack_from(">I", rec, 2)
    compat_rev = int(f"{compat:032b}"[::-1], 2)
    constraints = list(rec[6:12])
    while constraints and constraints[-1] == 0:
        constraints.pop()
    level = rec[12]
    parts = [entry, f"{space}{idc}", f"{compat_rev:X}", f"{tier}{level}", *(f"{c:X}" for c in constraints)]
    return ".".join(parts)


def _descriptors(data: bytes) -> dict[int, bytes]:
    """ISO/IEC 14496-1 descriptors (tag, expandable size) in ``data``, nested ones flattened by tag."""
    found: dict[int, bytes] = {}
    pos = 0
    skip = {3: 3, 4: 13}  # ES_Descriptor: ES_ID + flags (no optional fields here); DecoderConfig: fixed part
    while pos < len(data):
        tag = data[pos]
        size = 0
        pos += 1
        while True:
            b = data[pos]
            pos += 1
            size = size << 7 | (b & 0x7F)
            if not b & 0x80:
                break
        body = data[pos : pos + size]
        found.setdefault(tag, body)
        if tag in skip:
            found.update({k: v for k, v in _descriptors(body[skip[tag] :]).items() if k not in found})
        pos += size
    return found


def _esds(data: bytes) -> tuple[int, int]:
    """objectTypeIndication and the AudioSpecificConfig's audio object type."""
    d = _descriptors(data)
    return d[4][0], d[5][0] >> 3


def read_init(data: bytes) -> Init:
    kinds = [k for k, _p, _e in boxes(data)]
    assert kinds[:2] == [b"ftyp", b"moov"], f"init boxes {kinds}"
    mdhd, _ = one(data, b"moov", b"trak", b"mdia", b"mdhd")
    timescale = struct.unpack_from(">I", data, mdhd + (20 if data[mdhd] == 1 else 12))[0]
    hdlr, _ = one(data, b"moov", b"trak", b"mdia", b"hdlr")
    handler = data[hdlr + 8 : hdlr + 12].decode("ascii")
    stsd, stsd_end = one(data, b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd")
    entries = boxes(data, stsd + 8, stsd_end)
    assert len(entries) == 1, "one sample entry"
    kind, payload, end = entries[0]
    entry = kind.decode("ascii")
    colr = None
    codecs = entry
    if handler == "vide":
        children = {k: (p, e) for k, p, e in boxes(data, payload + 78, end)}
        if b"colr" in children:
            p, e = children[b"colr"]
            colr = data[p:e]
        if b"hvcC" in children:
            p, e = children[b"hvcC"]
            codecs = _hevc_codecs(entry, data[p:e])
        elif b"avcC" in children:
            p, _e = children[b"avcC"]
            codecs = f"{entry}.{data[p + 1]:02X}{data[p + 2]:02X}{data[p + 3]:02X}"
    elif entry == "stpp":
        # XMLSubtitleSampleEntry: 8 bytes of SampleEntry, then namespace, schema_location, auxiliary mime types
        # (NUL-terminated), then boxes (a 'mime' box carries the codecs parameter).
        pos = payload + 8
        strings = []
        for _ in range(3):
            nul = data.index(b"\0", pos, end)
            strings.append(data[pos:nul].decode())
            pos = nul + 1
        children = {k: (p, e) for k, p, e in boxes(data, pos, end)}
        mime = (
            data[children[b"mime"][0] + 4 : children[b"mime"][1]].rstrip(b"\0").decode()
            if b"mime" in children
            else ""
        )
        assert strings[0] == "http://www.w3.org/ns/ttml", strings
        codecs = "stpp.ttml.im1t" if mime == "application/ttml+xml;codecs=im1t" else "stpp"
    elif entry == "mp4a":
        children = {k: (p, e) for k, p, e in boxes(data, payload + 28, end)}
        p, e = children[b"esds"]
        oti, aot = _esds(data[p + 4 : e])  # after version/flags
        codecs = f"mp4a.{oti:02x}.{aot}"
    (trex, _) = one(data, b"moov", b"mvex", b"trex")
    trex_duration, trex_size = struct.unpack_from(">II", data, trex + 12)
    return Init(timescale, handler, entry, trex_duration, trex_size, colr, codecs)


@dataclass
class Rep:
    """One Representation as the MPD states it, and the files it names as read from disk."""

    content: str
    rep_id: str
    codecs: str
    bandwidth: int
    timescale: int
    timeline: list[tuple[int, int]]  # (t, d) per segment
    init: Init
    offset: int  # @presentationTimeOffset
    fragments: list[Fragment] = field(default_factory=list)
    names: list[str] = field(default_factory=list)


def _iso_seconds(value: str) -> Fraction:
    m = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?", value)
    assert m, f"duration {value!r}"
    h, mi, s = m.groups()
    return Fraction(int(h or 0) * 3600 + int(mi or 0) * 60) + Fraction(s or "0")


def timeline(template: etree._Element) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    t = 0
    for s in template.findall("m:SegmentTimeline/m:S", NS):
        t = int(s.get("t", t))
        d = int(s.get("d", "0"))
        for _ in range(int(s.get("r", "0")) + 1):
            out.append((t, d))
            t += d
    return out


@dataclass
class Presentation:
    root: etree._Element
    duration: Fraction
    min_buffer: Fraction
    reps: list[Rep]


def read(folder: Path, manifest: str = "manifest.mpd") -> Presentation:
    """The MPD and every init and media segment its segment-based Representations name."""
    root = etree.parse(str(folder / manifest)).getroot()
    reps = []
    for aset in root.findall("m:Period/m:AdaptationSet", NS):
        for rep in aset.findall("m:Representation", NS):
            template = rep.find("m:SegmentTemplate", NS)
            if template is None:
                template = aset.find("m:SegmentTemplate", NS)
            if template is None:
                continue  # a side-loaded file (BaseURL only): no segments to compare
            init_name = template.get("initialization", "").replace("$RepresentationID$", rep.get("id", ""))
            init = read_init((folder / init_name).read_bytes())
            r = Rep(
                aset.get("contentType") or aset.get("mimeType", "").split("/")[0],
                rep.get("id", ""),
                rep.get("codecs") or aset.get("codecs", ""),
                int(rep.get("bandwidth", "0")),
                int(template.get("timescale", "1")),
                timeline(template),
                init,
                int(template.get("presentationTimeOffset", "0")),
            )
            number = int(template.get("startNumber", "1"))
            media = template.get("media", "")
            for i, (t, _d) in enumerate(r.timeline):

                def sub(m: re.Match[str], n: int = number + i, time: int = t) -> str:
                    value = n if m.group(1) == "Number" else time
                    return (m.group(2) or "%d") % value

                name = re.sub(r"\$(Number|Time)(%0\d+d)?\$", sub, media)
                r.names.append(name)
                r.fragments.append(
                    read_fragment((folder / name).read_bytes(), init.trex_duration, init.trex_size)
                )
            reps.append(r)
    return Presentation(
        root,
        _iso_seconds(root.get("mediaPresentationDuration", "PT0S")),
        _iso_seconds(root.get("minBufferTime", "PT0S")),
        reps,
    )


def timeline_mismatches(p: Presentation) -> list[str]:
    """Every way the MPD's timeline differs from the files, as readable lines (empty: they agree exactly)."""
    bad = []
    for r in p.reps:
        if r.timescale != r.init.timescale:
            bad.append(f"{r.rep_id}: MPD timescale {r.timescale} != mdhd {r.init.timescale}")
        end = p.duration * r.timescale + r.offset  # the presentation end in this track's media time
        prev_end = None
        for i, ((t, d), frag, name) in enumerate(zip(r.timeline, r.fragments, r.names, strict=True)):
            if t != frag.decode_time:
                bad.append(f"{r.rep_id} #{i} {name}: S@t {t} != tfdt {frag.decode_time}")
            if d != frag.duration:
                bad.append(
                    f"{r.rep_id} #{i} {name}: S@d {d} != samples {frag.duration} ({len(frag.durations)})"
                )
            if t >= end:
                bad.append(f"{r.rep_id} #{i} {name}: starts at {t} >= presentation end {float(end):.0f}")
            if prev_end is not None and frag.decode_time != prev_end:
                bad.append(f"{r.rep_id} #{i} {name}: tfdt {frag.decode_time} leaves a gap after {prev_end}")
            prev_end = frag.decode_time + frag.duration
    return bad


def track_end(r: Rep) -> Fraction:
    """Where the Representation's last sample ends on the presentation timeline, in seconds (from the files)."""
    last = r.fragments[-1]
    return Fraction(last.decode_time + last.duration - r.offset, r.init.timescale)


def segment_bitrates(r: Rep) -> list[float]:
    """bits per second of each segment file: bytes * 8 / its sample duration."""
    return [f.size * 8 * r.init.timescale / f.duration for f in r.fragments]


def bandwidth_needed(r: Rep, min_buffer: Fraction) -> float:
    """The smallest @bandwidth for which DASH's buffer model holds (ISO/IEC 23009-1 §5.3.5.2): delivered at
    that rate from time 0, every segment has arrived by the time its presentation is due once minBufferTime
    has been buffered. Smaller than the peak per-segment rate when minBufferTime covers a segment or more."""
    best = 0.0
    bits = 0
    for f in r.fragments:
        bits += f.size * 8
        due = Fraction(f.decode_time + f.duration, r.init.timescale) + min_buffer
        best = max(best, bits / float(due - Fraction(r.fragments[0].decode_time, r.init.timescale)))
    return best


def report(folder: Path) -> str:
    p = read(folder)
    lines = [
        f"{folder}: mediaPresentationDuration {float(p.duration):.3f} s, minBufferTime {float(p.min_buffer)} s"
    ]
    for r in p.reps:
        rates = segment_bitrates(r)
        lines.append(
            f"  {r.rep_id} ({r.codecs}; file says {r.init.codecs}): {len(r.fragments)} segments, ends "
            f"{float(track_end(r)):.4f} s; @bandwidth {r.bandwidth}; segment kb/s min {min(rates) / 1e3:.0f} "
            f"max {max(rates) / 1e3:.0f}; buffer-model need {bandwidth_needed(r, p.min_buffer) / 1e3:.0f}"
        )
        lines.append("    S (t,d) vs file (tfdt,sum): " + " ".join(
            f"{t},{d}" + ("" if (t, d) == (f.decode_time, f.duration) else f"!={f.decode_time},{f.duration}")
            for (t, d), f in zip(r.timeline, r.fragments, strict=True)
        ))  # fmt: skip
        lines.append("    kb/s: " + " ".join(f"{x / 1e3:.0f}" for x in rates))
    lines += [f"  MISMATCH {m}" for m in timeline_mismatches(p)] or ["  timeline == files"]
    return "\n".join(lines)


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(report(Path(arg)))
