"""The immutable CAP alert model every later stage reads.

Parsing (``cap.parse``) is the only producer. Every field keeps CAP's meaning; tuples instead of lists keep the
model hashable and immutable, so a handler can never mutate what another handler is looking at.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class DisasterType(StrEnum):
    FLOOD = "flood"
    LANDSLIDE = "landslide"
    DROUGHT = "drought"
    WILDFIRE = "wildfire"
    HEAVY_SNOW = "heavy_snow"
    TYPHOON = "typhoon"
    EARTHQUAKE = "earthquake"
    OTHER = "other"


NATURAL_DISASTERS: tuple[DisasterType, ...] = tuple(d for d in DisasterType if d is not DisasterType.OTHER)


@dataclass(frozen=True, slots=True)
class Circle:
    lat: float
    lon: float
    radius_km: float


@dataclass(frozen=True, slots=True)
class Area:
    area_desc: str
    polygons: tuple[tuple[tuple[float, float], ...], ...] = ()
    circles: tuple[Circle, ...] = ()
    geocodes: tuple[tuple[str, str], ...] = ()
    altitude: float | None = None
    ceiling: float | None = None


@dataclass(frozen=True, slots=True)
class Resource:
    resource_desc: str
    mime_type: str
    size: int | None = None
    uri: str | None = None
    digest: str | None = None


@dataclass(frozen=True, slots=True)
class Info:
    """One ``<info>`` block: CAP carries one per language (and sometimes several per language)."""

    language: str
    categories: tuple[str, ...]
    event: str
    urgency: str
    severity: str
    certainty: str
    response_types: tuple[str, ...] = ()
    audience: str | None = None
    event_codes: tuple[tuple[str, str], ...] = ()
    effective: datetime | None = None
    onset: datetime | None = None
    expires: datetime | None = None
    sender_name: str | None = None
    headline: str | None = None
    description: str | None = None
    instruction: str | None = None
    web: str | None = None
    contact: str | None = None
    parameters: tuple[tuple[str, str], ...] = ()
    resources: tuple[Resource, ...] = ()
    areas: tuple[Area, ...] = ()

    def event_code_values(self) -> tuple[str, ...]:
        return tuple(value for _name, value in self.event_codes)


@dataclass(frozen=True, slots=True)
class Reference:
    """One entry of ``<references>``: ``sender,identifier,sent``."""

    sender: str
    identifier: str
    sent: str

    @property
    def key(self) -> AlertKey:
        return AlertKey(self.sender, self.identifier, self.sent)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True, order=True)
class AlertKey:
    """Stable identity of one CAP message: ``(sender, identifier, sent)`` exactly as written in the XML.

    ``sent`` stays the literal string so that the key of an alert and the key written in another alert's
    ``<references>`` compare equal without any date normalisation.
    """

    sender: str
    identifier: str
    sent: str

    def __str__(self) -> str:
        return f"{self.sender},{self.identifier},{self.sent}"

    def as_dict(self) -> dict[str, str]:
        """The triple as JSON-able fields (markers, tombstones, announcements all write it this way)."""
        return {"sender": self.sender, "identifier": self.identifier, "sent": self.sent}

    def slug(self) -> str:
        """A file-name-safe, collision-resistant name for this key.

        Identifiers are data, never paths: the readable part is stripped of everything but ``[A-Za-z0-9._-]``,
        cannot start with a dot, is length-capped, and a digest of the full key keeps two hostile identifiers
        that sanitise alike from colliding.
        """
        readable = _UNSAFE.sub("_", self.identifier).strip("._-")[:64] or "alert"
        digest = hashlib.sha256(str(self).encode("utf-8")).hexdigest()[:16]
        return f"{readable}-{digest}"


@dataclass(frozen=True, slots=True)
class Alert:
    identifier: str
    sender: str
    sent: datetime
    sent_text: str
    status: str
    msg_type: str
    scope: str
    source: str | None = None
    restriction: str | None = None
    addresses: str | None = None
    codes: tuple[str, ...] = ()
    note: str | None = None
    references: tuple[Reference, ...] = ()
    incidents: tuple[str, ...] = ()
    infos: tuple[Info, ...] = ()
    version: str = "1.2"
    signed: bool = False
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def key(self) -> AlertKey:
        return AlertKey(self.sender, self.identifier, self.sent_text)

    @property
    def languages(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for info in self.infos:
            seen.setdefault(info.language, None)
        return tuple(seen)

    def info_for(self, language: str) -> Info | None:
        """First info block whose language matches exactly, else by primary subtag (``ko`` matches ``ko-KR``)."""
        for info in self.infos:
            if info.language.lower() == language.lower():
                return info
        primary = language.split("-")[0].lower()
        for info in self.infos:
            if info.language.split("-")[0].lower() == primary:
                return info
        return None

    @property
    def expires(self) -> datetime | None:
        """The latest ``expires`` over all info blocks: the alert is live while any of its blocks is."""
        values = [i.expires for i in self.infos if i.expires is not None]
        return max(values) if values else None

    def is_expired(self, now: datetime) -> bool:
        expires = self.expires
        return expires is not None and expires <= now


@dataclass(frozen=True, slots=True)
class Classification:
    """Which disaster an alert describes, how sure we are, and which field and term decided it."""

    disaster: DisasterType
    confidence: float
    field: str
    term: str

    @property
    def reason(self) -> str:
        if not self.term:
            return f"no hazard term found ({self.field})"
        return f"{self.field} matched {self.term!r}"
