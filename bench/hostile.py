"""Hostile and mutated CAP messages for the hostile-stream drill (``bench/drill.py``), and valid alerts to mix in.

Every generator is seeded (``random.Random``) so a drill is reproducible. A mutation can still be a valid CAP
alert (a byte flip inside a description, a deleted optional element): ``hostile_messages`` keeps only what
``cinealert.cap.parse_alert`` refuses, so "hostile" means "the parser must refuse it", decided before sending.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path

from lxml import etree

from cinealert.cap import CapError, parse_alert
from cinealert.config.sections import CapSettings

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
CAP12 = "urn:oasis:names:tc:emergency:cap:1.2"
NS = f"{{{CAP12}}}"
TYPES = ("flood", "landslide", "drought", "wildfire", "heavy_snow", "typhoon", "earthquake")


def templates() -> list[bytes]:
    """The live Korean and English sample of every disaster type (Actual, Alert, expiring in 2030)."""
    return [(SAMPLES / f"{lang}_{kind}.xml").read_bytes() for kind in TYPES for lang in ("ko", "en")]


def with_fields(doc: bytes, identifier: str, **fields: str) -> bytes:
    """``doc`` with a new identifier and top-level (or info-level) element texts replaced."""
    root = etree.fromstring(doc)
    for name, value in {"identifier": identifier, **fields}.items():
        element = root.find(f"{NS}{name}")
        if element is None:
            element = root.find(f"{NS}info/{NS}{name}")
        if element is None:
            raise KeyError(f"no <{name}> in the template")
        element.text = value
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def sender_of(doc: bytes) -> bytes:
    root = etree.fromstring(doc)
    return (root.findtext(f"{NS}sender") or "").encode("utf-8")


def valid_alerts(prefix: str, count: int, rng: random.Random) -> list[tuple[str, bytes, bytes]]:
    """``count`` alerts ``(identifier, kafka key = sender, xml)`` cycling the types and both languages."""
    base = templates()
    out = []
    for i in range(count):
        doc = with_fields(base[i % len(base)] if i < len(base) else rng.choice(base), f"{prefix}-{i:04d}")
        out.append((f"{prefix}-{i:04d}", sender_of(doc), doc))
    return out


# -- mutators: each takes a valid document and returns bytes the parser should refuse (not guaranteed) ---------
def _truncate(doc: bytes, rng: random.Random) -> bytes:
    return doc[: rng.randrange(0, len(doc))]


def _byte_flips(doc: bytes, rng: random.Random) -> bytes:
    buf = bytearray(doc)
    for _ in range(rng.randint(1, 8)):
        buf[rng.randrange(len(buf))] = rng.randrange(256)
    return bytes(buf)


SNIPPETS = [
    b"<", b">", b"&", b"]]>", b"<![CDATA[", b"<!--", b"\x00", b"\xff", b"\xc3", b"\xe2\x80", b"<!DOCTYPE x>",
    b"</info>", b"<info>", b'"', b"\xef\xbb\xbf", b"<?xml version='1.0'?>", b"&#0;", b"&#x1F;", b"&#xD800;",
    b"&undefined;", b"<alert>", b"</alert>",
]  # fmt: skip


def _insert(doc: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(doc) + 1)
    return doc[:at] + rng.choice(SNIPPETS) + doc[at:]


def _splice(doc: bytes, rng: random.Random) -> bytes:
    other = rng.choice(templates())
    return doc[: rng.randrange(len(doc))] + other[rng.randrange(len(other)) :]


def _entity_bomb(doc: bytes, rng: random.Random) -> bytes:
    depth = rng.randint(3, 10)
    ents = ['<!ENTITY e0 "lol">'] + [
        f'<!ENTITY e{i} "{("&e" + str(i - 1) + ";") * 10}">' for i in range(1, depth)
    ]
    head = f'<?xml version="1.0"?><!DOCTYPE alert [{"".join(ents)}]>'.encode()
    body = doc.split(b"?>", 1)[-1].replace(b"<headline>", f"<headline>&e{depth - 1};".encode(), 1)
    return head + body


def _quadratic_blowup(doc: bytes, rng: random.Random) -> bytes:
    big = "A" * rng.randint(10_000, 50_000)
    head = f'<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY a "{big}">]>'.encode()
    body = doc.split(b"?>", 1)[-1].replace(b"<headline>", b"<headline>" + b"&a;" * 200, 1)
    return head + body


def _external(doc: bytes, rng: random.Random) -> bytes:
    decl = rng.choice(
        [
            b'<!DOCTYPE alert [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
            b'<!DOCTYPE alert SYSTEM "http://127.0.0.1:9/evil.dtd">',
            b'<!DOCTYPE alert [<!ENTITY % p SYSTEM "http://127.0.0.1:9/p.dtd"> %p;]>',
        ]
    )
    body = doc.split(b"?>", 1)[-1].replace(b"<headline>", b"<headline>&x;", 1)
    return b'<?xml version="1.0"?>' + decl + body


def _oversize(doc: bytes, rng: random.Random) -> bytes:
    pad = b"x" * (1024 * 1024 + rng.randint(1, 64 * 1024))
    return doc.replace(b"</description>", pad + b"</description>", 1)


def _namespace(doc: bytes, rng: random.Random) -> bytes:
    wrong = rng.choice([b"urn:oasis:names:tc:emergency:cap:1.0", b"urn:example:not-cap", b"", b"CAP"])
    if not wrong:
        return doc.replace(b' xmlns="' + CAP12.encode() + b'"', b"", 1)
    return doc.replace(CAP12.encode(), wrong, 1)


BAD_ENUMS = {
    "status": ["Real", "actual", "", "Actual Test"],
    "msgType": ["Alarm", "alert", "", "Update;"],
    "scope": ["Everyone", "public", ""],
    "urgency": ["Now", "immediate", "9"],
    "severity": ["Catastrophic", "severe", ""],
    "certainty": ["Sure", "observed", "Very Likely"],
    "category": ["Weather", "met", "Disaster"],
    "sent": ["2026-13-45T25:61:00+09:00", "yesterday", "2026-11-26T09:00:00", "2026-11-26T09:00:00Z"],
    "expires": ["2030-02-30T00:00:00+09:00", "never"],
}


def _bad_enum(doc: bytes, rng: random.Random) -> bytes:
    root = etree.fromstring(doc)
    name = rng.choice(sorted(BAD_ENUMS))
    element = root.find(f"{NS}{name}")
    if element is None:
        element = root.find(f"{NS}info/{NS}{name}")
    if element is not None:
        element.text = rng.choice(BAD_ENUMS[name])
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


REQUIRED = ["identifier", "sender", "sent", "status", "msgType", "scope"]
REQUIRED_INFO = ["category", "event", "urgency", "severity", "certainty"]


def _missing_or_duplicate(doc: bytes, rng: random.Random) -> bytes:
    root = etree.fromstring(doc)
    if rng.random() < 0.5:
        element = root.find(f"{NS}{rng.choice(REQUIRED)}")
    else:
        element = root.find(f"{NS}info/{NS}{rng.choice(REQUIRED_INFO)}")
    if element is not None:
        if rng.random() < 0.6:
            element.getparent().remove(element)  # type: ignore[union-attr]
        else:
            element.addnext(etree.fromstring(etree.tostring(element)))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _deep_nesting(doc: bytes, rng: random.Random) -> bytes:
    depth = rng.randint(200, 3000)
    return doc.replace(b"</alert>", b"<x>" * depth + b"</x>" * depth + b"</alert>", 1)


def _many_elements(doc: bytes, rng: random.Random) -> bytes:
    count = rng.randint(20_000, 60_000)
    return doc.replace(b"</alert>", b"<note/>" * count + b"</alert>", 1)


def _encoding(doc: bytes, rng: random.Random) -> bytes:
    choice = rng.randrange(4)
    if choice == 0:
        return doc.decode("utf-8").encode("utf-16")  # no encoding declaration saying so
    if choice == 1:
        return doc.replace(b"<headline>", b"<headline>\xff\xfe\xc3(", 1)  # invalid UTF-8
    if choice == 2:
        return doc.replace(b"<headline>", b"<headline>\x00\x01\x02", 1)  # control characters
    return doc.replace(b'encoding="UTF-8"', b'encoding="EBCDIC-XYZ"', 1)


def _not_cap(doc: bytes, rng: random.Random) -> bytes:
    return rng.choice(
        [
            b"",
            b"   ",
            b'{"identifier": "json-not-xml", "status": "Actual"}',
            bytes(rng.randrange(256) for _ in range(rng.randint(1, 2048))),
            b'<?xml version="1.0"?><rss version="2.0"><channel/></rss>',
            b"<html><body>alert</body></html>",
            b"<alert xmlns='" + CAP12.encode() + b"'/>",
        ]
    )


MUTATORS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "truncate": _truncate,
    "byte_flips": _byte_flips,
    "insert": _insert,
    "splice": _splice,
    "entity_bomb": _entity_bomb,
    "quadratic_blowup": _quadratic_blowup,
    "external_entity": _external,
    "oversize": _oversize,
    "namespace": _namespace,
    "bad_enum": _bad_enum,
    "missing_or_duplicate": _missing_or_duplicate,
    "deep_nesting": _deep_nesting,
    "many_elements": _many_elements,
    "encoding": _encoding,
    "not_cap": _not_cap,
}
#: How often each mutator is drawn: the expensive ones (a MiB each) a few times, cheap ones often.
WEIGHTS = {"oversize": 0.3, "many_elements": 0.5, "quadratic_blowup": 1.0, "deep_nesting": 1.0}


def refused(data: bytes, settings: CapSettings) -> str | None:
    """The CapError class name if the parser refuses ``data``, else None (it is a valid alert)."""
    try:
        parse_alert(data, settings=settings)
    except CapError as exc:
        return type(exc).__name__
    return None


def hostile_messages(
    count: int, rng: random.Random, settings: CapSettings | None = None
) -> tuple[list[tuple[str, bytes]], dict[str, int]]:
    """``count`` messages ``(mutator, bytes)`` that the parser refuses, and how many candidates parsed anyway.

    The files of ``samples/hostile`` come first (those the parser refuses), then seeded mutations of the live
    samples."""
    settings = settings or CapSettings()
    out: list[tuple[str, bytes]] = []
    still_valid: dict[str, int] = {}
    for path in sorted((SAMPLES / "hostile").iterdir()):
        data = path.read_bytes()
        if refused(data, settings) is not None and len(out) < count:
            out.append((f"sample:{path.name}", data))
    base = templates()
    names = sorted(MUTATORS)
    weights = [WEIGHTS.get(n, 3.0) for n in names]
    for name, data in _candidates(base, names, weights, rng):
        if len(out) >= count:
            break
        if refused(data, settings) is None:
            still_valid[name] = still_valid.get(name, 0) + 1
            continue
        out.append((name, data))
    return out, still_valid


def _candidates(
    base: list[bytes], names: list[str], weights: list[float], rng: random.Random
) -> Iterator[tuple[str, bytes]]:
    while True:
        name = rng.choices(names, weights)[0]
        doc = with_fields(rng.choice(base), f"HOSTILE-{rng.randrange(1 << 40):010x}")
        yield name, MUTATORS[name](doc, rng)
