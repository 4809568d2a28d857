"""ATSC 3.0 Advanced Emergency Alerting Table (A/331 §6.5 AEAT/AEA), as an A/331 receiver parses it.

The receiver renders the text itself (``AEAText`` per language) and fetches the rich media listed in
``Media``: only the three kinds A/331 defines (``EventDescAudio``, ``AEAtextAudio``, ``EventSymbol``); the
DASH presentation itself is the service's, not an AEA medium. Priority follows CAP severity, lowered one step
when the urgency is not Immediate/Expected; ``wakeup`` is set only for the top priorities. Languages are
``xml:lang``; at most one ``EventCode``; ``Location`` only in the schema's types (a SAME code is ``FIPS``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree

from cinealert.cap.model import Alert, AlertKey, Area

AEAT_NS = "tag:atsc.org,2016:XMLSchemas/ATSC3/Delivery/AEAT/1.0/"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
MEDIA_TYPES = frozenset({"EventDescAudio", "AEAtextAudio", "EventSymbol"})
#: CAP geocode valueName -> A/331 ``Location@type`` (FIPS: the 6-digit SAME/FIPS county code; SGC: Canada).
_LOCATION_TYPES = {"SAME": "FIPS", "FIPS6": "FIPS", "FIPS": "FIPS", "SGC": "SGC", "CAP-CP": "SGC"}
_SEVERITY_PRIORITY = {"Extreme": 4, "Severe": 3, "Moderate": 2, "Minor": 1, "Unknown": 1}
_AEA_TYPE = {"Alert": "alert", "Update": "update", "Cancel": "cancel"}
_AEA_ID_MAX = 62


@dataclass(frozen=True, slots=True)
class MediaRef:
    url: str
    content_type: str
    content_length: int
    media_type: str  # one of MEDIA_TYPES
    media_desc: str
    lang: str = ""


def priority(alert: Alert) -> int:
    best = 0
    for info in alert.infos:
        p = _SEVERITY_PRIORITY.get(info.severity, 1)
        if info.urgency not in ("Immediate", "Expected") and p > 1:
            p -= 1
        best = max(best, p)
    return best


def aea_id(key: AlertKey) -> str:
    """At most 62 characters (A/331), unique per CAP key and never ending in a separator: the readable
    part of the key's slug cut to fit before the digest of the whole key (cutting the slug itself could end
    it in ``-`` or cut the digest off, so that two long identifiers with one prefix collided)."""
    readable, digest = key.slug().rsplit("-", 1)
    readable = readable[: _AEA_ID_MAX - len(digest) - 1].rstrip("._-") or "alert"
    return f"{readable}-{digest}"


def _iso(value: datetime | None, literal: str | None = None) -> str:
    """An ``xs:dateTime`` in UTC; one UTC cannot hold is given as the alert wrote it, still an ``xs:dateTime``.

    CAP allows any year, e.g. ``sent`` 0001-01-01T00:00:00+09:00 (before year 1 in UTC) or ``expires`` in 9999
    west of UTC. ``literal`` is the CAP text where the model keeps it (``sent``); else the ISO form carries the
    alert's own offset. Four-digit years always: ``strftime("%Y")`` writes year 1 as "1", which no schema takes.
    """
    when = value or datetime.now(UTC)
    try:
        return when.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"
    except (OverflowError, ValueError):
        return literal or when.isoformat(timespec="seconds")


def _locations(area: Area) -> Iterator[tuple[str, str]]:
    """``(Location@type, value)`` for what of a CAP area A/331 can carry: FIPS/SGC codes, polygons (CAP's
    "lat,lon" pairs) and circles ("lat,lon radius_km"); other geocodes and the free-text areaDesc have no type."""
    for name, value in area.geocodes:
        kind = _LOCATION_TYPES.get(name.strip().upper())
        if kind is not None and value.strip():
            yield kind, value.strip()
    for polygon in area.polygons:
        yield "polygon", " ".join(f"{lat:g},{lon:g}" for lat, lon in polygon)
    for circle in area.circles:
        yield "circle", f"{circle.lat:g},{circle.lon:g} {circle.radius_km:g}"


def aeat(alert: Alert, media: Sequence[MediaRef], *, languages: Sequence[str] = ()) -> bytes:
    for ref in media:
        if ref.media_type not in MEDIA_TYPES:
            raise ValueError(f"AEAT Media@mediaType {ref.media_type!r} is not one of {sorted(MEDIA_TYPES)}")
    root = etree.Element(f"{{{AEAT_NS}}}AEAT", nsmap={None: AEAT_NS})
    aea = etree.SubElement(root, f"{{{AEAT_NS}}}AEA")
    aea.set("aeaId", aea_id(alert.key))
    aea.set("issuer", alert.sender[:32])
    aea.set("audience", "public" if alert.scope == "Public" else "restricted")
    aea.set("aeaType", _AEA_TYPE.get(alert.msg_type, "alert"))
    if alert.references:
        aea.set("refAEAId", " ".join(aea_id(r.key) for r in alert.references))
    prio = priority(alert)
    aea.set("priority", str(prio))
    aea.set("wakeup", "true" if prio >= 4 else "false")

    infos = [i for i in alert.infos if not languages or any(i.language.startswith(x) for x in languages)]
    infos = infos or list(alert.infos)
    header = etree.SubElement(aea, f"{{{AEAT_NS}}}Header")
    effective = min((i.effective for i in infos if i.effective), default=alert.sent)
    header.set("effective", _iso(effective, alert.sent_text if effective is alert.sent else None))
    header.set("expires", _iso(alert.expires))
    codes = [code for i in infos for code in i.event_codes]
    # One EventCode per AEA (A/331): the SAME code where there is one (what US receivers key on).
    chosen = next((c for c in codes if c[0].upper() == "SAME"), codes[0] if codes else None)
    if chosen is not None:
        code = etree.SubElement(header, f"{{{AEAT_NS}}}EventCode", type=chosen[0])
        code.text = chosen[1]
    for info in infos:
        desc = etree.SubElement(header, f"{{{AEAT_NS}}}EventDesc")
        desc.set(XML_LANG, info.language)
        desc.text = info.event
    seen: set[tuple[str, str]] = set()
    for info in infos:
        for area in info.areas:
            for kind, value in _locations(area):
                if (kind, value) not in seen:
                    seen.add((kind, value))
                    loc = etree.SubElement(header, f"{{{AEAT_NS}}}Location", type=kind)
                    loc.text = value
    for info in infos:
        text = etree.SubElement(aea, f"{{{AEAT_NS}}}AEAText")
        text.set(XML_LANG, info.language)
        head = (info.headline or info.event).strip()
        instruction = (info.instruction or "").strip()
        if head and instruction and head[-1] not in ".!?。":
            head += "."
        text.text = " ".join(x for x in (head, instruction) if x)
    for ref in media:
        m = etree.SubElement(aea, f"{{{AEAT_NS}}}Media")
        if ref.lang:
            m.set(XML_LANG, ref.lang)
        m.set("mediaDesc", ref.media_desc)
        m.set("mediaType", ref.media_type)
        m.set("url", ref.url)
        m.set("contentType", ref.content_type)
        m.set("contentLength", str(ref.content_length))
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
