"""Shared fixtures: a real embedded Kafka-protocol broker (tansu) and a CAP document builder."""

from __future__ import annotations

from collections.abc import Iterator
from xml.sax.saxutils import escape

import pytest

from cinealert.daemon.broker import EmbeddedBroker, free_port

TOPICS = ("cap.alerts", "cap.media", "cap.dead")


@pytest.fixture(scope="module")
def broker() -> Iterator[EmbeddedBroker]:
    """A tansu broker on a free port, memory storage, with the three cinealert topics; one per test module."""
    with EmbeddedBroker(port=free_port(), topics=TOPICS, partitions=4) as b:
        yield b


def cap_xml(
    identifier: str,
    *,
    sender: str = "test@cinealert.example",
    sent: str = "2026-11-26T09:00:00+09:00",
    msg_type: str = "Alert",
    status: str = "Actual",
    event: str = "Flood Warning",
    headline: str = "Flash flood warning",
    expires: str | None = "2099-01-01T00:00:00+09:00",
    references: tuple[tuple[str, str, str], ...] = (),
    language: str = "en-US",
    category: str = "Met",
) -> bytes:
    """A valid CAP 1.2 message; ``references`` are (sender, identifier, sent) triples."""
    refs = ""
    if references:
        refs = "<references>" + " ".join(escape(",".join(r)) for r in references) + "</references>"
    exp = f"<expires>{escape(expires)}</expires>" if expires else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{escape(identifier)}</identifier>
  <sender>{escape(sender)}</sender>
  <sent>{escape(sent)}</sent>
  <status>{status}</status>
  <msgType>{msg_type}</msgType>
  <scope>Public</scope>
  {refs}
  <info>
    <language>{language}</language>
    <category>{category}</category>
    <event>{escape(event)}</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Observed</certainty>
    {exp}
    <headline>{escape(headline)}</headline>
    <description>{escape(headline)}. Move to higher ground.</description>
    <area><areaDesc>Seoul</areaDesc></area>
  </info>
</alert>
""".encode()
