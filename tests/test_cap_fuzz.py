"""Property tests: mutate valid alerts every way a broken sender or an attacker might, and require that
``parse_alert`` either returns an Alert or raises a CapError with a one-line reason — never anything else —
and that ``classify`` copes with whatever parses."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from cinealert.cap import Alert, CapError, CapInternalError, classify, parse_alert

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
VALID = sorted(p for p in SAMPLES.glob("*.xml"))
CORPUS = [p.read_bytes() for p in VALID]
TEXTS = [
    "", " ", "Actual", "Cancel", "Restricted", "-1,2 3", "9999-99-99T99:99:99+99:99", "2026-11-25T00:00:00-00:00",
    "nan,nan 1,1 2,2 nan,nan", "a,b,c d,e,f", "FFW", "12; flooding", "../../x",
    "9" * 400, "1" * 5000, "0." + "0" * 400 + "1", "²", "²; flooding", "1,1 " + "9" * 400,
    "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "9999-12-31T23:59:59+14:00",
]  # fmt: skip
FOREIGN = ("urn:oasis:names:tc:emergency:cap:1.1", "urn:oasis:names:tc:emergency:cap:1.2", "urn:example:x")
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(data: bytes) -> None:
    try:
        alert = parse_alert(data)
    except CapInternalError as exc:  # a CapError, but one that means this module has a bug
        raise AssertionError(f"internal error: {exc.reason}") from exc
    except CapError as exc:
        assert exc.reason and "\n" not in exc.reason and str(exc) == exc.reason
        return
    assert isinstance(alert, Alert)
    result = classify(alert)
    assert 0.0 <= result.confidence <= 1.0
    assert alert.key.slug()


@FUZZ
@given(doc=st.sampled_from(CORPUS), data=st.data())
def test_byte_flips(doc: bytes, data: st.DataObject) -> None:
    buf = bytearray(doc)
    for _ in range(data.draw(st.integers(1, 8))):
        index = data.draw(st.integers(0, len(buf) - 1))
        buf[index] = data.draw(st.integers(0, 255))
    check(bytes(buf))


@FUZZ
@given(doc=st.sampled_from(CORPUS), data=st.data())
def test_truncation_and_splicing(doc: bytes, data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(doc)))
    check(doc[:cut])
    other = data.draw(st.sampled_from(CORPUS))
    check(doc[:cut] + other[data.draw(st.integers(0, len(other))) :])


@FUZZ
@given(doc=st.sampled_from(CORPUS), data=st.data())
def test_insertions(doc: bytes, data: st.DataObject) -> None:
    snippets = st.sampled_from(
        [b"<", b">", b"&", b"&amp;", b"]]>", b"<![CDATA[", b"<!--", b"\x00", b"\xff", b"\xc3", b"\xe2\x80",
         b"<!DOCTYPE x>", b"<x>", b"</info>", b"<info>", b'"', b"'", b"\n", b"\r", b"\t", b"\xef\xbb\xbf",
         "홍수".encode(), b"<?xml version='1.0'?>", b"xmlns:a='urn:x'", b"&#0;", b"&#x1F;", b"&#xD800;"]
    )  # fmt: skip
    index = data.draw(st.integers(0, len(doc)))
    check(doc[:index] + data.draw(snippets) + doc[index:])


def _elements(doc: bytes) -> tuple[etree._Element, list[etree._Element]]:
    root = etree.fromstring(doc)
    return root, [e for e in root.iter() if isinstance(e.tag, str) and e is not root]


@FUZZ
@given(doc=st.sampled_from(CORPUS), data=st.data())
def test_element_deletion_duplication_and_text_replacement(doc: bytes, data: st.DataObject) -> None:
    root, elements = _elements(doc)
    for _ in range(data.draw(st.integers(1, 4))):
        element = data.draw(st.sampled_from(elements))
        parent = element.getparent()
        action = data.draw(st.sampled_from(["delete", "duplicate", "text", "move", "empty", "namespace"]))
        if parent is None:
            continue
        if action == "delete":
            parent.remove(element)
        elif action == "duplicate":
            element.addnext(etree.fromstring(etree.tostring(element)))
        elif action == "move":
            root.append(element)
        elif action == "namespace":  # the same element in another CAP version's namespace, or a foreign one
            element.tag = f"{{{data.draw(st.sampled_from(FOREIGN))}}}{etree.QName(element).localname}"
        elif action == "empty":
            element.text = None
            for child in list(element):
                element.remove(child)
        else:
            element.text = data.draw(
                st.one_of(
                    st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=40),
                    st.sampled_from(TEXTS),
                )
            )
        elements = [e for e in root.iter() if isinstance(e.tag, str) and e is not root]
        if not elements:
            break
    check(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


@FUZZ
@given(st.binary(max_size=512))
def test_arbitrary_bytes(data: bytes) -> None:
    check(data)
    check(b"<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'>" + data + b"</alert>")
