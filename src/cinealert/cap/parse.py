"""Parse and validate one CAP 1.1/1.2 message into the immutable :class:`~cinealert.cap.model.Alert`.

The only producer of ``Alert``. Order of work, cheapest refusal first: size and encoding, DTD refusal and
hardened XML parse (:mod:`cinealert.cap.xmlsafe`), root element and namespace, XML-DSig per
``cap.signature_policy`` (:mod:`cinealert.cap.signature`), no element in another CAP namespace, then CAP 1.2
structure rules. Every number is read through :mod:`cinealert.cap.numbers` and every date-time through
:mod:`cinealert.cap.timefmt`, never with a bare ``int()``/``float()``. Breaking a rule of the
standard raises :class:`CapValidationError`; merely missing what an IPAWS-style profile expects (``expires``, a SAME
event code, an area) only adds a line to ``Alert.warnings`` (:mod:`cinealert.cap.profile`).

The signature is verified *before* the alert is built, and when one is verified the alert is built from the
element the verifier says was signed, never from the document around it ("see what is signed").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Final, TypeVar

from lxml import etree

from cinealert.cap.errors import CapError, CapSignatureError, CapStructureError, CapValidationError
from cinealert.cap.geo import CapGeoError, parse_circle, parse_polygon
from cinealert.cap.model import Alert, Area, Circle, Info, Reference, Resource
from cinealert.cap.numbers import CapNumberError, parse_decimal, parse_whole
from cinealert.cap.profile import profile_warnings
from cinealert.cap.signature import is_signed, verify_enveloped
from cinealert.cap.timefmt import CapDateError, parse_cap_datetime
from cinealert.cap.xmlsafe import load_xml, snippet

if TYPE_CHECKING:
    from cinealert.config.sections import CapSettings

CAP_1_2: Final = "urn:oasis:names:tc:emergency:cap:1.2"
CAP_1_1: Final = "urn:oasis:names:tc:emergency:cap:1.1"
CAP_1_0: Final = "http://www.incident.com/cap/1.0"
CAP_URN_PREFIX: Final = "urn:oasis:names:tc:emergency:cap:"
VERSIONS: Final = {CAP_1_2: "1.2", CAP_1_1: "1.1"}

DEFAULT_MAX_BYTES: Final = 1024 * 1024

MIN_ALTITUDE_FT: Final = -40_000.0
"""CAP altitudes are feet above mean sea level; the deepest ocean trench is about -36,000 ft."""
MAX_ALTITUDE_FT: Final = 1_000_000.0
"""About 300 km, far above the Karman line: no hazard a broadcast alert describes reaches higher."""
MAX_RESOURCE_BYTES: Final = 2**63 - 1
"""A resource size has to fit the signed 64-bit integers every store and protocol downstream uses."""

STATUS: Final = ("Actual", "Exercise", "System", "Test", "Draft")
MSG_TYPE: Final = ("Alert", "Update", "Cancel", "Ack", "Error")
SCOPE: Final = ("Public", "Restricted", "Private")
CATEGORY: Final = (
    "Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env", "Transport", "Infra", "CBRNE", "Other",
)  # fmt: skip
RESPONSE_TYPE: Final = (
    "Shelter", "Evacuate", "Prepare", "Execute", "Avoid", "Monitor", "Assess", "AllClear", "None",
)  # fmt: skip
RESPONSE_TYPE_1_2_ONLY: Final = ("Avoid", "AllClear")
URGENCY: Final = ("Immediate", "Expected", "Future", "Past", "Unknown")
SEVERITY: Final = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
CERTAINTY: Final = ("Observed", "Likely", "Possible", "Unlikely", "Unknown")
NEEDS_REFERENCES: Final = ("Update", "Cancel", "Ack", "Error")

_ONE = (1, 1)
_OPT = (0, 1)
_MANY = (0, None)
_SOME = (1, None)
Spec = dict[str, tuple[int, int | None]]

ALERT_SPEC: Final[Spec] = {
    "identifier": _ONE, "sender": _ONE, "sent": _ONE, "status": _ONE, "msgType": _ONE, "source": _OPT,
    "scope": _ONE, "restriction": _OPT, "addresses": _OPT, "code": _MANY, "note": _OPT, "references": _OPT,
    "incidents": _OPT, "info": _MANY,
}  # fmt: skip
INFO_SPEC: Final[Spec] = {
    "language": _OPT, "category": _SOME, "event": _ONE, "responseType": _MANY, "urgency": _ONE,
    "severity": _ONE, "certainty": _ONE, "audience": _OPT, "eventCode": _MANY, "effective": _OPT, "onset": _OPT,
    "expires": _OPT, "senderName": _OPT, "headline": _OPT, "description": _OPT, "instruction": _OPT, "web": _OPT,
    "contact": _OPT, "parameter": _MANY, "resource": _MANY, "area": _MANY,
}  # fmt: skip
RESOURCE_SPEC: Final[Spec] = {
    "resourceDesc": _ONE, "mimeType": _ONE, "size": _OPT, "uri": _OPT, "derefUri": _OPT, "digest": _OPT,
}  # fmt: skip
AREA_SPEC: Final[Spec] = {
    "areaDesc": _ONE, "polygon": _MANY, "circle": _MANY, "geocode": _MANY, "altitude": _OPT, "ceiling": _OPT,
}  # fmt: skip
PAIR_SPEC: Final[Spec] = {"valueName": _ONE, "value": _ONE}

_FORBIDDEN_ID_CHARS = re.compile(r"[\s,<&]")
_LANGUAGE = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*", re.ASCII)
_TOKENS = re.compile(r'"([^"]*)"|(\S+)')

T = TypeVar("T")


class CapInternalError(CapError):
    """A bug in this module met an input it did not expect. Still a CapError so the daemon dead-letters the
    message instead of crashing; the property tests assert it never happens."""


def parse_alert(data: bytes, *, settings: CapSettings | None = None) -> Alert:
    """Parse, verify and validate one CAP message.

    Raises :class:`CapError` (a subclass says which stage) with a one-line ``reason``; never anything else.

    Signature policy (``settings.signature_policy``):

    - ``off``: signatures are not looked at; ``Alert.signed`` stays False even for a signed alert.
    - ``verify``: a present ``ds:Signature`` must verify against ``trusted_ca_bundle`` or the alert is refused;
      an unsigned alert is accepted with ``signed=False``.
    - ``require``: like ``verify``, and an unsigned alert is refused.

    So an invalid signature is refused whenever signatures are checked at all, a missing one only under
    ``require``. Verifying with no ``trusted_ca_bundle`` configured is refused rather than trusting the system
    store: any web-PKI certificate would otherwise be accepted as an alerting authority.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    elif not isinstance(data, bytes):
        data = bytes(data)
    try:
        return _parse_alert(data, settings)
    except CapError:
        raise
    except RecursionError:
        raise CapInternalError("message too complex to process (recursion limit)") from None
    except Exception as exc:  # last line of defence: a bad message must never crash the daemon
        raise CapInternalError(f"internal error while parsing: {type(exc).__name__}: {exc}") from exc


def _parse_alert(data: bytes, settings: CapSettings | None) -> Alert:
    max_bytes = settings.max_bytes if settings is not None else DEFAULT_MAX_BYTES
    policy = settings.signature_policy if settings is not None else "off"
    root = load_xml(data, max_bytes)
    version, ns = _check_root(root)

    signed = False
    if policy != "off":
        # A ds:Signature anywhere in the document makes it a signed alert that must follow every rule of
        # cap.signature.verify_enveloped; looking only at <alert>'s children would let a signature moved into an
        # extension (or a signed alert wrapped in an attacker's one) pass as an unsigned alert under 'verify'.
        if is_signed(root):
            bundle = settings.trusted_ca_bundle if settings is not None else None
            root = verify_enveloped(root, bundle)
            signed = True
        elif policy == "require":
            raise CapSignatureError("alert is not signed, and cap.signature_policy is 'require'")
    _check_namespaces(root, ns, version)

    builder = _Builder(ns, version)
    alert = builder.alert(root, signed)
    warnings = (*builder.warnings, *profile_warnings(alert))
    return replace(alert, warnings=warnings)


def _check_root(root: etree._Element) -> tuple[str, str]:
    qname = etree.QName(root)
    local, ns = qname.localname, qname.namespace
    if local != "alert":
        raise CapStructureError(f"root element is <{snippet(local, 40)[1:-1]}>, not a CAP <alert>")
    if ns is None:
        raise CapStructureError(f"<alert> has no namespace; expected {CAP_1_2} (or {CAP_1_1})")
    if ns == CAP_1_0:
        raise CapStructureError("CAP 1.0 is not supported; send CAP 1.2 (or 1.1)")
    if ns not in VERSIONS:
        raise CapStructureError(f"<alert> is in namespace {snippet(ns, 60)}, not {CAP_1_2} (or {CAP_1_1})")
    return VERSIONS[ns], ns


def _is_cap_namespace(ns: str) -> bool:
    return ns == CAP_1_0 or ns.lower().startswith(CAP_URN_PREFIX)


def _check_namespaces(root: etree._Element, ns: str, version: str) -> None:
    """Refuse any element, at any depth, in a CAP namespace other than the alert's own.

    The builder reads only the alert's namespace and skips the others as extensions, so a CAP 1.1 ``<info>``
    inside a CAP 1.2 ``<alert>`` would vanish without a word and the alert would be skipped as having no
    content instead of being dead-lettered. A sender that mixes versions has a bug the operator must hear about.
    """
    for element in root.iter(etree.Element):
        other = etree.QName(element).namespace
        if other is None or other == ns or not _is_cap_namespace(other):
            continue
        parent = element.getparent()
        under = f" under <{_name(etree.QName(parent).localname)}>" if parent is not None else ""
        label = f"CAP {VERSIONS[other]}" if other in VERSIONS else ("CAP 1.0" if other == CAP_1_0 else "")
        where = f"{snippet(other, 60)} ({label})" if label else snippet(other, 60)
        raise CapStructureError(
            f"mixed CAP namespaces: <{_name(etree.QName(element).localname)}>{under} is in {where}, but <alert> "
            f"is CAP {version} ({ns}); send the whole alert in one CAP namespace"
        )


class _Builder:
    """Walks one <alert>, collecting warnings; every refusal names the path of the offending element."""

    def __init__(self, ns: str, version: str) -> None:
        self.ns = ns
        self.version = version
        self.warnings: list[str] = []
        self.sent: datetime | None = None

    # -- generic helpers -------------------------------------------------------------------------------------

    def children(self, element: etree._Element, spec: Spec, path: str) -> dict[str, list[etree._Element]]:
        groups: dict[str, list[etree._Element]] = {name: [] for name in spec}
        where = path or "alert"
        for child in element:
            if not isinstance(child.tag, str):
                continue
            qname = etree.QName(child)
            if qname.namespace != self.ns:
                if qname.namespace is None:
                    raise CapValidationError(
                        f"{where}: element <{_name(qname.localname)}> is not in the CAP namespace"
                    )
                if qname.localname in groups:
                    # Named like the CAP element expected here but in another namespace: almost surely a
                    # namespace mistake, and skipping it as an extension would silently drop CAP content.
                    raise CapValidationError(
                        f"{where}: <{_name(qname.localname)}> is in namespace {snippet(qname.namespace, 60)}, "
                        f"not the alert's {self.ns}, so it would be ignored; put CAP elements in the "
                        "alert's namespace"
                    )
                continue  # extensions in other namespaces (ds:Signature, profiles) are allowed and ignored
            if qname.localname not in groups:
                raise CapValidationError(f"{where}: unknown element <{_name(qname.localname)}>")
            groups[qname.localname].append(child)
        for name, (low, high) in spec.items():
            count = len(groups[name])
            if count < low:
                raise CapValidationError(f"{where}: required element <{name}> is missing")
            if high is not None and count > high:
                raise CapValidationError(f"{where}: <{name}> appears {count} times; at most {high} allowed")
        return groups

    def text(self, element: etree._Element, path: str) -> str:
        if len(element):
            raise CapValidationError(f"{path}: must contain text, not child elements")
        return (element.text or "").strip()

    def required(self, groups: dict[str, list[etree._Element]], name: str, path: str) -> str:
        where = _join(path, name)
        value = self.text(groups[name][0], where)
        if not value:
            raise CapValidationError(f"{where}: required value is empty")
        return value

    def optional(self, groups: dict[str, list[etree._Element]], name: str, path: str) -> str | None:
        if not groups[name]:
            return None
        return self.text(groups[name][0], _join(path, name)) or None

    def enum(self, value: str, allowed: tuple[str, ...], what: str, where: str) -> str:
        if value not in allowed:
            raise CapValidationError(f"{where}: {snippet(value)} is not a CAP {what} ({', '.join(allowed)})")
        return value

    def datetime(self, value: str | None, where: str) -> datetime | None:
        if value is None:
            return None
        try:
            return parse_cap_datetime(value)
        except CapDateError as exc:
            raise CapValidationError(f"{where}: {snippet(value)} is not a CAP date-time: {exc}") from None

    def pairs(self, elements: list[etree._Element], path: str, name: str) -> tuple[tuple[str, str], ...]:
        result = []
        for index, element in enumerate(elements, 1):
            where = f"{_join(path, name)}[{index}]"
            groups = self.children(element, PAIR_SPEC, where)
            value_name = self.required(groups, "valueName", where)
            value = self.text(groups["value"][0], f"{where}/value")
            result.append((value_name, value))
        return tuple(result)

    def each(
        self, elements: list[etree._Element], path: str, name: str, build: Callable[..., T]
    ) -> tuple[T, ...]:
        return tuple(build(element, f"{_join(path, name)}[{i}]") for i, element in enumerate(elements, 1))

    # -- alert ----------------------------------------------------------------------------------------------

    def alert(self, root: etree._Element, signed: bool) -> Alert:
        g = self.children(root, ALERT_SPEC, "")
        identifier = self._id_like(self.required(g, "identifier", ""), "identifier")
        sender = self._id_like(self.required(g, "sender", ""), "sender")
        sent_text = self.required(g, "sent", "")
        sent = self.datetime(sent_text, "sent")
        assert sent is not None  # required() returned a non-empty string
        self.sent = sent
        status = self.enum(self.required(g, "status", ""), STATUS, "status", "status")
        msg_type = self.enum(self.required(g, "msgType", ""), MSG_TYPE, "msgType", "msgType")
        scope = self.enum(self.required(g, "scope", ""), SCOPE, "scope", "scope")
        restriction = self.optional(g, "restriction", "")
        addresses = self.optional(g, "addresses", "")
        if scope == "Restricted" and not restriction:
            raise CapValidationError("restriction: required when scope is Restricted")
        if scope == "Private" and not addresses:
            raise CapValidationError("addresses: required when scope is Private")
        references_text = self.optional(g, "references", "")
        references = self._references(references_text) if references_text else ()
        if msg_type in NEEDS_REFERENCES and not references:
            raise CapValidationError(f"references: required when msgType is {msg_type}")
        codes = tuple(c for c in (self.text(e, "code") for e in g["code"]) if c)
        incidents_text = self.optional(g, "incidents", "")
        infos = self.each(g["info"], "", "info", self._info)
        return Alert(
            identifier=identifier,
            sender=sender,
            sent=sent,
            sent_text=sent_text,
            status=status,
            msg_type=msg_type,
            scope=scope,
            source=self.optional(g, "source", ""),
            restriction=restriction,
            addresses=addresses,
            codes=codes,
            note=self.optional(g, "note", ""),
            references=references,
            incidents=_tokens(incidents_text) if incidents_text else (),
            infos=infos,
            version=self.version,
            signed=signed,
        )

    def _id_like(self, value: str, what: str) -> str:
        bad = _FORBIDDEN_ID_CHARS.search(value)
        if bad:
            char = {" ": "a space", ",": "a comma", "<": "'<'", "&": "'&'"}.get(bad.group(), "whitespace")
            raise CapValidationError(f"{what}: {snippet(value)} contains {char}, which CAP forbids")
        return value

    def _references(self, text: str) -> tuple[Reference, ...]:
        result = []
        for token in text.split():
            parts = token.split(",")
            if len(parts) != 3 or not all(parts):
                raise CapValidationError(
                    f"references: entry {snippet(token)} is not 'sender,identifier,sent'"
                )
            self.datetime(parts[2], "references")
            result.append(Reference(parts[0], parts[1], parts[2]))
        return tuple(result)

    # -- info -----------------------------------------------------------------------------------------------

    def _info(self, element: etree._Element, path: str) -> Info:
        g = self.children(element, INFO_SPEC, path)
        language = self.optional(g, "language", path) or "en-US"
        if not _LANGUAGE.fullmatch(language):
            raise CapValidationError(f"{path}/language: {snippet(language)} is not an RFC 3066 language tag")
        categories = tuple(
            self.enum(self.text(e, f"{path}/category"), CATEGORY, "category", f"{path}/category")
            for e in g["category"]
        )
        response_types = []
        for e in g["responseType"]:
            value = self.enum(self.text(e, f"{path}/responseType"), RESPONSE_TYPE, "responseType", path)
            if self.version == "1.1" and value in RESPONSE_TYPE_1_2_ONLY:
                self.warnings.append(
                    f"{path}/responseType: {value!r} is CAP 1.2; this alert declares CAP 1.1"
                )
            response_types.append(value)
        certainty = self.required(g, "certainty", path)
        if certainty == "Very Likely" and self.version == "1.1":
            self.warnings.append(
                f"{path}/certainty: 'Very Likely' is deprecated in CAP 1.1; read as 'Likely'"
            )
            certainty = "Likely"
        effective = self.datetime(self.optional(g, "effective", path), f"{path}/effective")
        onset = self.datetime(self.optional(g, "onset", path), f"{path}/onset")
        expires_text = self.optional(g, "expires", path)
        expires = self.datetime(expires_text, f"{path}/expires")
        # Aware datetimes compare by their UTC instants without building one (CPython subtracts day ordinals and
        # offsets), so this stays exact at years 1 and 9999, where astimezone(UTC) or adding a timedelta to
        # normalise first would overflow.
        if expires is not None and self.sent is not None and expires < self.sent:
            raise CapValidationError(
                f"{path}/expires: {expires_text} is earlier than <sent>; the alert would have expired before "
                "it was sent (check the sender's clock and time-zone offsets)"
            )
        return Info(
            language=language,
            categories=categories,
            event=self.required(g, "event", path),
            urgency=self.enum(self.required(g, "urgency", path), URGENCY, "urgency", f"{path}/urgency"),
            severity=self.enum(self.required(g, "severity", path), SEVERITY, "severity", f"{path}/severity"),
            certainty=self.enum(certainty, CERTAINTY, "certainty", f"{path}/certainty"),
            response_types=tuple(response_types),
            audience=self.optional(g, "audience", path),
            event_codes=self.pairs(g["eventCode"], path, "eventCode"),
            effective=effective,
            onset=onset,
            expires=expires,
            sender_name=self.optional(g, "senderName", path),
            headline=self.optional(g, "headline", path),
            description=self.optional(g, "description", path),
            instruction=self.optional(g, "instruction", path),
            web=self.optional(g, "web", path),
            contact=self.optional(g, "contact", path),
            parameters=self.pairs(g["parameter"], path, "parameter"),
            resources=self.each(g["resource"], path, "resource", self._resource),
            areas=self.each(g["area"], path, "area", self._area),
        )

    def _resource(self, element: etree._Element, path: str) -> Resource:
        g = self.children(element, RESOURCE_SPEC, path)
        size_text = self.optional(g, "size", path)
        size = None
        if size_text is not None:
            try:
                size = parse_whole(size_text, "resource size in bytes", high=MAX_RESOURCE_BYTES)
            except CapNumberError as exc:
                raise CapValidationError(f"{path}/size: {exc}") from None
        return Resource(
            resource_desc=self.required(g, "resourceDesc", path),
            mime_type=self.required(g, "mimeType", path),
            size=size,
            uri=self.optional(g, "uri", path),
            digest=self.optional(g, "digest", path),
        )

    def _area(self, element: etree._Element, path: str) -> Area:
        g = self.children(element, AREA_SPEC, path)
        polygons = []
        for index, e in enumerate(g["polygon"], 1):
            where = f"{path}/polygon[{index}]"
            try:
                polygons.append(parse_polygon(self.text(e, where)))
            except CapGeoError as exc:
                raise CapValidationError(f"{where}: {exc}") from None
        circles: list[Circle] = []
        for index, e in enumerate(g["circle"], 1):
            where = f"{path}/circle[{index}]"
            try:
                circles.append(parse_circle(self.text(e, where)))
            except CapGeoError as exc:
                raise CapValidationError(f"{where}: {exc}") from None
        altitude = self._feet(self.optional(g, "altitude", path), "altitude", path)
        ceiling = self._feet(self.optional(g, "ceiling", path), "ceiling", path)
        if ceiling is not None and altitude is None:
            raise CapValidationError(f"{path}/ceiling: only allowed together with <altitude>")
        return Area(
            area_desc=self.required(g, "areaDesc", path),
            polygons=tuple(polygons),
            circles=tuple(circles),
            geocodes=self.pairs(g["geocode"], path, "geocode"),
            altitude=altitude,
            ceiling=ceiling,
        )

    def _feet(self, value: str | None, name: str, path: str) -> float | None:
        if value is None:
            return None
        try:
            return parse_decimal(value, name, low=MIN_ALTITUDE_FT, high=MAX_ALTITUDE_FT, unit=" ft")
        except CapNumberError as exc:
            raise CapValidationError(f"{path}/{name}: {exc}") from None


def _join(path: str, name: str) -> str:
    return f"{path}/{name}" if path else name


def _name(local: str) -> str:
    return snippet(local, 40)[1:-1]


def _tokens(text: str) -> tuple[str, ...]:
    """Space-separated values where a value containing spaces is double-quoted (CAP addresses, incidents)."""
    return tuple(quoted or bare for quoted, bare in _TOKENS.findall(text) if quoted or bare)
