"""Turn untrusted bytes into an lxml element without letting the bytes attack the parser.

Defence in layers, cheapest first, each refusal a one-line :class:`CapError`:

1. size: empty or over ``max_bytes`` is refused before anything looks inside;
2. encoding: CAP travels as UTF-8 here. NUL bytes, UTF-16/32 byte-order marks, invalid UTF-8 and a declared
   non-UTF-8 encoding are refused, so binary junk never reaches libxml2;
3. DTDs: any ``<!DOCTYPE`` or ``<!ENTITY`` is refused outright. CAP has no use for a DTD, and refusing them is the
   simplest complete defence against XXE (external entities reading ``file:///etc/passwd``), external DTD fetches
   and entity-expansion bombs ("billion laughs"). (A CDATA section quoting ``<!DOCTYPE`` is refused too: a price
   worth paying for a check that cannot be fooled by parser quirks.);
4. the parser itself runs with entity resolution, network, DTD loading and huge-tree support off, so even if the
   scan above were bypassed nothing is expanded or fetched and libxml2's own depth/size limits apply;
5. shape: nesting deeper than :data:`MAX_DEPTH` or more than :data:`MAX_ELEMENTS` elements is refused, so one
   message cannot make later stages walk an enormous tree.
"""

from __future__ import annotations

import codecs
import re

from lxml import etree

from cinealert.cap.errors import (
    CapEncodingError,
    CapSecurityError,
    CapSizeError,
    CapSyntaxError,
)

MAX_DEPTH = 32
"""CAP nests 5 levels (alert/info/area/geocode/value); a signature adds a few. 32 leaves room for extensions."""

MAX_ELEMENTS = 50_000
"""A national alert with a thousand geocodes has ~3,000 elements; 50,000 is generous yet bounded."""

_DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_DECLARED_ENCODING = re.compile(rb"""\A\s*<\?xml[^>]*?\bencoding\s*=\s*["']([^"']*)["']""")
_UTF8_NAMES = {"utf-8", "utf8", "us-ascii", "ascii"}
_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def snippet(value: str | bytes, limit: int = 40) -> str:
    """A short, printable quotation of untrusted text for a reason line."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = value if len(value) <= limit else value[:limit] + "…"
    return ascii(text) if not text.isprintable() else repr(text)


def load_xml(data: bytes, max_bytes: int) -> etree._Element:
    """Parse ``data`` into its root element, or raise a :class:`CapError` subclass saying why not."""
    size = len(data)
    if size > max_bytes:
        raise CapSizeError(
            f"message is larger than the {max_bytes}-byte limit (cap.max_bytes): got at least {size} bytes"
        )
    if not data.strip():
        raise CapSizeError("empty message: no XML at all")
    _check_encoding(data)
    if _DTD.search(data):
        raise CapSecurityError(
            "DOCTYPE/ENTITY declarations are refused: a CAP alert needs no DTD "
            "(blocks external entities, external DTDs and entity-expansion bombs)"
        )
    root = _parse(data)
    _check_shape(root)
    return root


def _check_encoding(data: bytes) -> None:
    for bom, name in _WIDE_BOMS:
        if data.startswith(bom):
            raise CapEncodingError(f"message is {name} encoded; CAP must be sent as UTF-8")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise CapEncodingError(f"message contains a NUL byte at offset {nul}: binary data, not CAP XML")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = data[exc.start : exc.start + 1].hex()
        raise CapEncodingError(
            f"message is not valid UTF-8 text: byte 0x{bad} at offset {exc.start} (binary or another encoding)"
        ) from None
    stripped = text.lstrip("\ufeff \t\r\n")
    if not stripped.startswith("<"):
        raise CapSyntaxError(f"message is not XML: it starts with {snippet(stripped, 20)}")
    declared = _DECLARED_ENCODING.match(data.removeprefix(codecs.BOM_UTF8))
    if declared:
        name = declared.group(1).decode("ascii", "replace").strip().lower()
        if name not in _UTF8_NAMES:
            raise CapEncodingError(f"message declares encoding {snippet(name)}; only UTF-8 CAP is accepted")


def _parser() -> etree.XMLParser:
    # A fresh parser per call: lxml parser objects must not be shared between threads.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
        encoding="utf-8",
    )


def _parse(data: bytes) -> etree._Element:
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        message = " ".join(str(exc.msg or exc).split())
        lowered = message.lower()
        if "excessive depth" in lowered:
            raise CapSecurityError("XML nesting is too deep (libxml2 depth limit 256 reached)") from None
        last_line = data.rstrip().count(b"\n") + 1
        at_end = exc.position[0] >= last_line and "extra content" not in lowered
        if "premature end" in lowered or "end of data" in lowered or at_end:
            raise CapSyntaxError(f"truncated XML: the document ends early ({message})") from None
        if "document is empty" in lowered or "start tag expected" in lowered:
            raise CapSyntaxError(f"not XML: no root element found ({message})") from None
        raise CapSyntaxError(f"not well-formed XML: {message}") from None
    except (etree.LxmlError, ValueError) as exc:
        raise CapSyntaxError(f"XML parser refused the message: {' '.join(str(exc).split())}") from None
    if root is None:
        raise CapSyntaxError("not XML: no root element found")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise CapSecurityError("DOCTYPE declarations are refused: a CAP alert needs no DTD")
    return root


def _check_shape(root: etree._Element) -> None:
    count = 0
    stack: list[tuple[etree._Element, int]] = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        count += 1
        if count > MAX_ELEMENTS:
            raise CapSecurityError(f"too many XML elements: more than {MAX_ELEMENTS}")
        if depth > MAX_DEPTH:
            raise CapSecurityError(f"XML nesting is too deep: more than {MAX_DEPTH} levels")
        for child in element:
            if isinstance(child.tag, str):
                stack.append((child, depth + 1))
