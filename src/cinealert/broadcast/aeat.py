"""ATSC 3.0 Advanced Emergency Alerting Table (A/331 §6.5 AEAT/AEA) for rich-media alerts.

The receiver renders the text itself (``AEAText`` per language) and fetches the rich media listed in
``Media`` (the DASH presentation, the spoken alert, captions). Priority follows CAP severity, lowered one step
when the urgency is not Immediate/Expected; ``wakeup`` is set only for the top priorities.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree

from cinealert.cap.model import Alert

AEAT_NS = "tag:atsc.org,2016:XMLSchemas/ATSC3/AppSignaling/AEAT/1.0/"
_SEVERITY_PRIORITY = {"Extreme": 4, "Severe": 3, "Moderate": 2, "Minor": 1, "Unknown": 1}
_AEA_TYPE = {"Alert": "alert", "Update": "update", "Cancel": "cancel"}


@dataclass(frozen=True, slots=True)
class MediaRef:
    url: str
    content_type: str
    content_length: int
    media_type: str  # A/331: "EventDescAudio", "AEAtextAudio", "EventSymbol", ... (we add "Presentation")
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


def aea_id(alert: Alert) -> str:
    """A/331 limits aeaId to 62 characters; the key's slug is stable and unique."""
    return alert.key.slug()[:62]


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


def aeat(alert: Alert, media: Sequence[MediaRef], *, languages: Sequence[str] = ()) -> bytes:
    root = etree.Element(f"{{{AEAT_NS}}}AEAT", nsmap={None: AEAT_NS})
    aea = etree.SubElement(root, f"{{{AEAT_NS}}}AEA")
    aea.set("aeaId", aea_id(alert))
    aea.set("issuer", alert.sender[:32])
    aea.set("audience", "public" if alert.scope == "Public" else "restricted")
    aea.set("aeaType", _AEA_TYPE.get(alert.msg_type, "alert"))
    if alert.references:
        aea.set("refAEAId", " ".join(r.key.slug()[:62] for r in alert.references))
    prio = priority(alert)
    aea.set("priority", str(prio))
    aea.set("wakeup", "true" if prio >= 4 else "false")

    infos = [i for i in alert.infos if not languages or any(i.language.startswith(x) for x in languages)]
    infos = infos or list(alert.infos)
    header = etree.SubElement(aea, f"{{{AEAT_NS}}}Header")
    effective = min((i.effective for i in infos if i.effective), default=alert.sent)
    header.set("effective", _iso(effective, alert.sent_text if effective is alert.sent else None))
    header.set("expires", _iso(alert.expires))
    codes = {(name, value) for i in infos for name, value in i.event_codes}
    for name, value in sorted(codes):
        code = etree.SubElement(header, f"{{{AEAT_NS}}}EventCode", type=name)
        code.text = value
    for info in infos:
        desc = etree.SubElement(header, f"{{{AEAT_NS}}}EventDesc", lang=info.language)
        desc.text = info.event
    seen_areas: set[tuple[str, str]] = set()
    for info in infos:
        for area in info.areas:
            for name, value in area.geocodes:
                if (name, value) not in seen_areas:
                    seen_areas.add((name, value))
                    loc = etree.SubElement(header, f"{{{AEAT_NS}}}Location", type=name)
                    loc.text = value
            if area.area_desc and (info.language, area.area_desc) not in seen_areas:
                seen_areas.add((info.language, area.area_desc))
                loc = etree.SubElement(header, f"{{{AEAT_NS}}}Location", type="areaDesc", lang=info.language)
                loc.text = area.area_desc
    for info in infos:
        text = etree.SubElement(aea, f"{{{AEAT_NS}}}AEAText", lang=info.language)
        head = (info.headline or info.event).strip()
        instruction = (info.instruction or "").strip()
        if head and instruction and head[-1] not in ".!?。":
            head += "."
        text.text = " ".join(x for x in (head, instruction) if x)
    for ref in media:
        m = etree.SubElement(aea, f"{{{AEAT_NS}}}Media")
        if ref.lang:
            m.set("lang", ref.lang)
        m.set("mediaDesc", ref.media_desc)
        m.set("mediaType", ref.media_type)
        m.set("url", ref.url)
        m.set("contentType", ref.content_type)
        m.set("contentLength", str(ref.content_length))
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
