"""Conformance on alerts that are not in the repository: generated CAP documents, rendered by the real
``cinealert render`` command (procedural scene, espeak-ng, PyAV encoders) to every profile, then read back the
way a station's ingest would, with readers that share nothing with the writer (tests/tsreader.py,
tests/dashcheck.py, ffprobe/ffmpeg, lxml).

The generator varies what the samples hold fixed: languages (English, Korean, Spanish, French, Japanese,
Chinese; one to three per alert, in any order, including none the channel prefers), the disaster and its
wording, message type (Alert and Update), the sender's time zone, the area (SAME geocode, polygon, circle or
none), headlines from two words to a paragraph, identifiers long enough to be cut for the AEAT.

``CONFORMANCE_SEED`` and ``CONFORMANCE_N`` pick other alerts (``CONFORMANCE_SEED=7 CONFORMANCE_N=12
.venv/bin/pytest tests/test_conformance_unseen.py``); the default seed changes with nothing but this file.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from lxml import etree

from dashcheck import NS as MPD_NS
from dashcheck import read as read_mpd
from dashcheck import segment_bitrates, timeline_mismatches
from test_broadcast_audio import ebur128
from tsreader import ac3_frames, continuity_errors, parse_pat, parse_pmt, pes_payloads, sections

SEED = int(os.environ.get("CONFORMANCE_SEED", "20261204"))
N = int(os.environ.get("CONFORMANCE_N", "3"))
ISO639_2 = {
    "en": {"eng"},
    "ko": {"kor"},
    "es": {"spa"},
    "fr": {"fra", "fre"},
    "ja": {"jpn"},
    "zh": {"zho", "chi"},
}
AEAT_NS = "{tag:atsc.org,2016:XMLSchemas/ATSC3/Delivery/AEAT/1.0/}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
NOW = datetime.now(UTC)  # the alerts are live: sent minutes ago, expiring hours from now

# (disaster, SAME event code, event name per language)
EVENTS = [
    ("flood", "FFW", {"en": "Flash Flood Warning", "ko": "홍수경보", "es": "Aviso de inundación repentina",
                      "fr": "Avertissement d'inondation", "ja": "洪水警報", "zh": "洪水预警"}),
    ("wildfire", "FRW", {"en": "Fire Warning", "ko": "산불경보", "es": "Aviso de incendio forestal",
                         "fr": "Alerte feux de forêt", "ja": "林野火災警報", "zh": "森林火险预警"}),
    ("heavy_snow", "WSW", {"en": "Winter Storm Warning", "ko": "대설경보", "es": "Aviso de nevada intensa",
                           "fr": "Avertissement de neige abondante", "ja": "大雪警報", "zh": "暴雪预警"}),
    ("typhoon", "HUW", {"en": "Typhoon Warning", "ko": "태풍경보", "es": "Aviso de tifón",
                        "fr": "Alerte typhon", "ja": "台風警報", "zh": "台风预警"}),
    ("earthquake", "EQW", {"en": "Earthquake Warning", "ko": "지진경보", "es": "Alerta de terremoto",
                           "fr": "Alerte séisme", "ja": "地震警報", "zh": "地震预警"}),
    ("landslide", "LSW", {"en": "Landslide Warning", "ko": "산사태경보", "es": "Aviso de deslizamiento",
                          "fr": "Alerte glissement de terrain", "ja": "土砂災害警戒情報", "zh": "山体滑坡预警"}),
]  # fmt: skip
PLACES = {"en": ["Mill Creek", "the North Valley", "Harbor District", "Pine Ridge County"],
          "ko": ["강원 영동", "부산 해운대구", "충북 청주시", "제주 서귀포시"],
          "es": ["el valle del Río Verde", "San Marcos", "la costa norte"],
          "fr": ["la vallée de l'Ouvèze", "Saint-Étienne", "la côte nord"],
          "ja": ["静岡県東部", "熊本市", "北海道南部"], "zh": ["广东省沿海", "四川盆地西部", "福建南部"]}  # fmt: skip
ACTIONS = {"en": "Move to higher ground now and follow instructions from local officials.",
           "ko": "즉시 안전한 곳으로 대피하고 재난 당국의 안내에 따르십시오.",
           "es": "Diríjase a un lugar seguro de inmediato y siga las instrucciones de las autoridades.",
           "fr": "Mettez-vous à l'abri immédiatement et suivez les consignes des autorités.",
           "ja": "直ちに安全な場所へ避難し、自治体の指示に従ってください。",
           "zh": "请立即转移到安全地点，并听从当地政府的指示。"}  # fmt: skip
TAGS = {"en": "en-US", "ko": "ko-KR", "es": "es-US", "fr": "fr-CA", "ja": "ja-JP", "zh": "zh-CN"}


@dataclass(frozen=True)
class Case:
    name: str
    xml: bytes
    languages: tuple[str, ...]  # RFC 5646 tags, in document order
    same_code: str
    msg_type: str


def _area(rng: random.Random) -> str:
    kind = rng.choice(["same", "polygon", "circle", "plain"])
    parts = [f"<areaDesc>{escape(rng.choice(PLACES['en']))}</areaDesc>"]
    if kind == "polygon":
        lat, lon = rng.uniform(25, 45), rng.uniform(-120, 130)
        ring = [(lat, lon), (lat + 0.3, lon), (lat + 0.3, lon + 0.4), (lat, lon)]
        parts.append("<polygon>" + " ".join(f"{a:.4f},{b:.4f}" for a, b in ring) + "</polygon>")
    elif kind == "circle":
        parts.append(
            f"<circle>{rng.uniform(25, 45):.4f},{rng.uniform(-120, 130):.4f} {rng.uniform(1, 40):.1f}</circle>"
        )
    elif kind == "same":
        parts.append(
            f"<geocode><valueName>SAME</valueName><value>0{rng.randint(10000, 56999)}</value></geocode>"
        )
    return "<area>" + "".join(parts) + "</area>"


def generate(rng: random.Random, index: int) -> Case:
    disaster, code, names = rng.choice(EVENTS)
    langs = rng.sample(sorted(TAGS), rng.randint(1, 3))
    offset = timedelta(hours=rng.choice([-7, -5, 0, 1, 8, 9]))
    sent = (
        (NOW - timedelta(minutes=rng.randint(1, 180)))
        .replace(microsecond=0, second=0)
        .astimezone(timezone(offset))
    )
    expires = sent + timedelta(hours=rng.randint(4, 30))  # live while the test runs
    sender = rng.choice(["w-nws.webmaster@noaa.gov", "cap.kma.go.kr", "alerts@civil-protection.example.eu"])
    identifier = f"urn:oid:2.49.0.1.{rng.randint(100, 999)}.0.{SEED}.{index}." + "x" * rng.choice([0, 40, 90])
    msg_type = rng.choice(["Alert", "Alert", "Update"])
    refs = ""
    if msg_type == "Update":
        earlier = (sent - timedelta(hours=1)).isoformat()
        refs = f"<references>{escape(sender)},{escape(identifier)}.prev,{earlier}</references>"
    infos = []
    for lang in langs:
        place = rng.choice(PLACES[lang])
        headline = f"{names[lang]}: {place}"
        if rng.random() < 0.3:
            headline = f"{headline}. " + " ".join([ACTIONS[lang]] * rng.randint(2, 4))
        infos.append(f"""  <info>
    <language>{TAGS[lang]}</language><category>Met</category><event>{escape(names[lang])}</event>
    <urgency>Immediate</urgency><severity>{rng.choice(["Extreme", "Severe", "Moderate"])}</severity>
    <certainty>{rng.choice(["Observed", "Likely"])}</certainty>
    <eventCode><valueName>SAME</valueName><value>{code}</value></eventCode>
    <expires>{expires.isoformat()}</expires>
    <headline>{escape(headline)}</headline>
    <description>{escape(names[lang])} — {escape(place)}.</description>
    <instruction>{escape(ACTIONS[lang])}</instruction>
    {_area(rng)}
  </info>""")
    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{escape(identifier)}</identifier><sender>{escape(sender)}</sender>
  <sent>{sent.isoformat()}</sent><status>Actual</status><msgType>{msg_type}</msgType><scope>Public</scope>
  {refs}
{"".join(infos)}
</alert>
""".encode()
    return Case(f"{index}-{disaster}-{'+'.join(langs)}-{msg_type}", xml, tuple(TAGS[lang] for lang in langs), code,
                msg_type)  # fmt: skip


CASES = [generate(random.Random(SEED * 1000 + i), i) for i in range(N)]


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module", params=CASES, ids=[c.name for c in CASES])
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Case, Path]:
    case: Case = request.param
    tmp = tmp_path_factory.mktemp("unseen")
    (tmp / "alert.xml").write_bytes(case.xml)
    # the channel prefers Korean and English (the defaults); an alert in neither must still air, in its own
    (tmp / "settings.toml").write_text(f'[render]\ncache_dir = "{tmp / "cache"}"\n')
    proc = run(".venv/bin/cinealert", "render", str(tmp / "alert.xml"), "--config", str(tmp / "settings.toml"),
               "--out", str(tmp / "out"), "--profile", "all", "--resolution", "320x180", "--duration", "1")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return case, tmp / "out"


def _shown(case: Case) -> list[str]:
    """The languages the channel airs: the preferred ones (ko, en) the alert has, else all of the alert's."""
    preferred = [t for p in ("ko", "en") for t in case.languages if t.split("-")[0] == p]
    return preferred or list(case.languages)


def test_result_says_it_aired_in_full(rendered: tuple[Case, Path]) -> None:
    case, out = rendered
    doc = json.loads((out / "result.json").read_text())
    assert doc["status"] == "complete" and doc["rung"] == "full", doc.get("degraded")
    assert doc["msg_type"] == case.msg_type
    assert list(doc["captions"]) == _shown(case)
    assert set(doc["outputs"]) == {"atsc1", "atsc3", "hls"}
    for name in doc["files"]:
        assert (out / name).is_file(), name


def test_atsc1_is_one_continuous_stream_with_a_track_per_language(
    rendered: tuple[Case, Path], tmp_path: Path
) -> None:
    case, out = rendered
    doc = json.loads((out / "result.json").read_text())["outputs"]["atsc1"]
    data = b"".join((out / s["name"]).read_bytes() for s in doc["segments"])
    assert continuity_errors(data) == []
    (pmt_pid,) = parse_pat(sections(data, 0)[0]).values()
    pmt = parse_pmt(sections(data, pmt_pid)[0])
    ac3 = [s for s in pmt.streams if s.stream_type == 0x81]
    shown = _shown(case)
    assert len(ac3) == len(shown)
    for stream, tag in zip(ac3, shown, strict=True):
        lang = stream.descriptor(0x0A)
        assert lang is not None and lang[:3].decode() in ISO639_2[tag.split("-")[0]], (tag, lang)
        assert {f.dialnorm for f in ac3_frames(b"".join(pes_payloads(data, stream.pid)))} == {24}
    joined = tmp_path / "joined.ts"
    joined.write_bytes(data)
    decoded = run("ffmpeg", "-v", "error", "-i", str(joined), "-map", "0", "-f", "null", "-")
    assert decoded.returncode == 0 and decoded.stderr.strip() == "", decoded.stderr[-2000:]
    for n, tag in enumerate(shown):
        wav = tmp_path / f"a{n}.wav"
        assert (
            run("ffmpeg", "-v", "error", "-y", "-i", str(joined), "-map", f"0:a:{n}", str(wav)).returncode
            == 0
        )
        lufs, peak = ebur128(wav)
        assert abs(lufs + 24) <= 1.0 and peak <= -1.0, (tag, lufs, peak)


def test_dash_timeline_is_the_files_and_every_language_has_its_sets(rendered: tuple[Case, Path]) -> None:
    case, out = rendered
    p = read_mpd(out)
    assert timeline_mismatches(p) == []
    for rep in p.reps:
        if rep.content in ("video", "audio"):
            assert max(segment_bitrates(rep)) <= rep.bandwidth * 1.0001, rep.rep_id
    sets = p.root.findall("m:Period/m:AdaptationSet", MPD_NS)
    audio = [a.get("lang") for a in sets if a.get("contentType") == "audio"]
    text = [a.get("lang") for a in sets if a.get("contentType") == "text"]
    shown = _shown(case)
    assert audio == shown and sorted(text) == sorted(shown)


def test_hls_declares_what_it_carries(rendered: tuple[Case, Path]) -> None:
    case, out = rendered
    doc = json.loads((out / "result.json").read_text())["outputs"]["hls"]
    master = (out / "hls_master.m3u8").read_text()
    langs = re.findall(r'#EXT-X-MEDIA:TYPE=AUDIO,.*?LANGUAGE="([^"]+)"', master)
    shown = _shown(case)
    assert (langs == shown) if len(shown) > 1 else (langs in ([], shown))
    declared = int(re.search(r"[:,]BANDWIDTH=(\d+)", master).group(1))  # type: ignore[union-attr]
    for s in doc["segments"]:
        assert (out / s["name"]).stat().st_size * 8 / s["duration_s"] <= declared


def test_aeat_is_what_an_a331_receiver_parses(rendered: tuple[Case, Path]) -> None:
    case, out = rendered
    root = etree.parse(str(out / "aeat.xml")).getroot()
    assert root.tag == f"{AEAT_NS}AEAT"
    (aea,) = root.findall(f"{AEAT_NS}AEA")
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,60}[A-Za-z0-9]", aea.get("aeaId", ""))
    assert aea.get("aeaType") == {"Alert": "alert", "Update": "update"}[case.msg_type]
    header = aea.find(f"{AEAT_NS}Header")
    assert header is not None
    assert [(e.get("type"), e.text) for e in header.findall(f"{AEAT_NS}EventCode")] == [
        ("SAME", case.same_code)
    ]
    for element in aea.iter(f"{AEAT_NS}EventDesc", f"{AEAT_NS}AEAText"):
        assert element.get(XML_LANG) in case.languages and element.get("lang") is None
    for m in aea.findall(f"{AEAT_NS}Media"):
        assert m.get("mediaType") in {"EventDescAudio", "AEAtextAudio", "EventSymbol"}
        assert int(m.get("contentLength", "-1")) == (out / m.get("url", "")).stat().st_size
