"""The outputs play in real browser players: HLS in hls.js, DASH (the H.264 rendition,
``broadcast.atsc3_video_codec = "h264"``) in dash.js, both in headless Chromium driven by playwright.

Real parts only: ``cinealert render`` of the shipped samples at 720p, served over HTTP on 127.0.0.1 (an
ephemeral port, a thread), the players' own dist bundles from ``tests/player/node_modules`` (``make setup`` runs
``npm ci --prefix tests/player``), Debian's ``/usr/bin/chromium`` (``make setup`` installs it; playwright never
downloads a browser here). Checked as a viewer would see it: no fatal player error, the clock runs past 3 s and
again after a seek to the middle, the picture is 1280x720 and not black, every language of the alert is an
audio track and a subtitle track, and the subtitles the player loads have cues.

Without Chromium or the node modules the browser tests skip and say why, except under ``CI`` (set by CI
runners), where they fail: ``make setup`` installs both, so a skip there would hide a broken set-up.
The ``CODECS`` test needs no browser: it compares the master playlist with what ffprobe reads in the segments.
"""

from __future__ import annotations

import fnmatch
import functools
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
PLAYER = ROOT / "tests" / "player"
CHROMIUM = Path("/usr/bin/chromium")
BUNDLES = {
    "hls": PLAYER / "node_modules" / "hls.js" / "dist" / "hls.min.js",
    "dash": PLAYER / "node_modules" / "dashjs" / "dist" / "modern" / "umd" / "dash.all.min.js",
}
CLI = Path(sys.executable).parent / "cinealert"
#: How far the clock must run from the start, and past the mid-point seek, in seconds.
PLAY_S = 3.0
#: A 720p alert picture: a black or frozen-grey frame falls far below these (0-255, over the video's pixels).
MIN_MEAN, MIN_STD = 40.0, 20.0

MIME = {
    ".m3u8": "application/vnd.apple.mpegurl", ".mpd": "application/dash+xml", ".m4s": "video/iso.segment",
    ".ts": "video/mp2t", ".vtt": "text/vtt", ".mp4": "video/mp4", ".js": "text/javascript",
}  # fmt: skip


def _missing() -> str | None:
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} is not installed (make setup installs Debian's chromium)"
    for name, bundle in BUNDLES.items():
        if not bundle.is_file():
            return f"{bundle.relative_to(ROOT)} is missing for {name} (make setup runs npm ci --prefix tests/player)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    return None


def require_browser() -> None:
    """Skip with the reason when the browser tooling is absent; fail instead under CI, where it must be."""
    reason = _missing()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"browser check cannot run in CI: {reason}")
    pytest.skip(reason)


# --- the outputs ------------------------------------------------------------------------------------------------


def render(sample: str, out: Path, cache: Path, profiles: list[str]) -> Path:
    """``cinealert render`` as an operator runs it: 720p, a 2 s scene loop, DASH video in H.264."""
    config = out.parent / f"{out.name}.toml"
    config.write_text(
        "[broadcast]\n"
        f"profiles = {json.dumps(profiles)}\n"
        'atsc3_video_codec = "h264"\n'
        "[render]\n"
        f"cache_dir = {json.dumps(str(cache))}\n"
    )
    done = subprocess.run(
        [str(CLI), "render", str(ROOT / "samples" / sample), "--config", str(config), "--out", str(out),
         "--resolution", "720p", "--duration", "2"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.splitlines()[-1])["rung"] == "full", done.stdout
    return out


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The bilingual typhoon (ko-KR + en-US) to HLS and DASH, and the English flood to HLS."""
    tmp = tmp_path_factory.mktemp("browser")
    cache = tmp / "cache"
    return {
        "bilingual": render("bilingual_typhoon.xml", tmp / "bilingual", cache, ["hls", "atsc3"]),
        "english": render("en_flood.xml", tmp / "english", cache, ["hls"]),
    }


def _attributes(line: str) -> dict[str, str]:
    return {k: v.strip('"') for k, v in re.findall(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)', line.split(":", 1)[1])}


# --- CODECS: the master playlist says what the segments carry (no browser needed) --------------------------------

H264_PROFILES = {"Baseline": 66, "Constrained Baseline": 66, "Main": 77, "High": 100}


def probe(path: Path) -> list[dict[str, Any]]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_name,profile,level", "-of", "json",
         str(path)], capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return list(json.loads(out)["streams"])


def expected_codecs(streams: list[dict[str, Any]]) -> list[str]:
    """RFC 6381 values from what ffprobe reports (its own parser, not ours); ffprobe does not report the
    constraint-flags byte, so the H.264 value is matched on profile and level."""
    out = []
    for s in streams:
        if s["codec_name"] == "h264":
            out.append(f"avc1.{H264_PROFILES[s['profile']]:02X}??{int(s['level']):02X}")
        elif s["codec_name"] == "aac":
            assert s["profile"] == "LC", s
            out.append("mp4a.40.2")
        elif s["codec_name"] == "ac3":
            out.append("ac-3")
        else:
            raise AssertionError(f"unexpected stream {s}")
    return out


def _matches(declared: list[str], expected: list[str]) -> bool:
    return len(declared) == len(expected) and all(
        fnmatch.fnmatchcase(d, e) for d, e in zip(declared, expected, strict=True)
    )


@pytest.mark.parametrize("alert", ["bilingual", "english"])
def test_hls_codecs_are_what_the_segments_carry(outputs: dict[str, Path], alert: str) -> None:
    """``CODECS`` names the H.264 profile and level x264 actually coded (720p: High@3.1, ``avc1.64001F``; the
    writer used to claim ``avc1.640028``, level 4.0, for every size) and the AAC of the main segments and of
    every ``EXT-X-MEDIA`` audio rendition, each once."""
    folder = outputs[alert]
    master = (folder / "hls_master.m3u8").read_text()
    stream_inf = _attributes(
        next(line for line in master.splitlines() if line.startswith("#EXT-X-STREAM-INF"))
    )
    declared = stream_inf["CODECS"].split(",")
    first = next(
        line for line in (folder / "hls_media.m3u8").read_text().splitlines() if line.endswith(".ts")
    )
    expected = expected_codecs(probe(folder / first))
    renditions = [_attributes(line)["URI"] for line in master.splitlines()
                  if line.startswith("#EXT-X-MEDIA:TYPE=AUDIO") and "URI=" in line]  # fmt: skip
    assert len(renditions) == (1 if alert == "bilingual" else 0)
    for uri in renditions:
        seg = next(line for line in (folder / uri).read_text().splitlines() if line.endswith(".ts"))
        expected += [c for c in expected_codecs(probe(folder / seg)) if c not in expected]
    assert _matches(declared, expected), (declared, expected)
    assert declared[0] == "avc1.64001F"  # x264 High, no constraint flags, level 3.1 at 720p


def test_dash_h264_codecs_are_what_the_segments_carry(outputs: dict[str, Path], tmp_path: Path) -> None:
    """``broadcast.atsc3_video_codec = "h264"``: the MPD's video is ``avc1.PPCCLL`` from the avcC (H.264 as
    ffprobe reads it from init + first segment), the result says h264."""
    folder = outputs["bilingual"]
    mpd = (folder / "manifest.mpd").read_text()
    video = re.search(r'<Representation id="video" codecs="([^"]+)"[^>]*width="(\d+)" height="(\d+)"', mpd)
    assert video is not None, mpd
    joined = tmp_path / "video.mp4"
    joined.write_bytes(
        (folder / "atsc3_video_init.mp4").read_bytes() + (folder / "atsc3_video_00000.m4s").read_bytes()
    )
    assert _matches([video[1]], expected_codecs(probe(joined))), video[1]
    assert (video[2], video[3]) == ("1280", "720")
    result = json.loads((folder / "result.json").read_text())
    assert result["outputs"]["atsc3"]["video_codec"] == "h264"


# --- the browser --------------------------------------------------------------------------------------------------


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map: ClassVar[dict[str, str]] = {**http.server.SimpleHTTPRequestHandler.extensions_map, **MIME}

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture(scope="module")
def tooling() -> None:
    """Before anything is rendered for the browser tests: are Chromium, playwright and the players there?"""
    require_browser()


@pytest.fixture(scope="module")
def server(
    tooling: None, outputs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """``/player/`` (the page and node_modules) and ``/media/<alert>/`` over HTTP on 127.0.0.1."""
    root = tmp_path_factory.mktemp("www")
    (root / "player").symlink_to(PLAYER)
    (root / "media").mkdir()
    for name, folder in outputs.items():
        (root / "media" / name).symlink_to(folder)
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Handler, directory=str(root))
    )
    thread = threading.Thread(target=httpd.serve_forever, name="player-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser(server: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--autoplay-policy=no-user-gesture-required"]
        )
        try:
            yield chromium
        finally:
            chromium.close()


def _report(page: Any) -> dict[str, Any]:
    return dict(page.evaluate("() => ({...window.report, currentTime: window.video.currentTime})"))


def _wait(page: Any, condition: str, what: str, timeout_s: float = 20.0) -> dict[str, Any]:
    """Wait until ``condition`` (a JS expression over ``r``, the report, and ``v``, the video) or a fatal error."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            f"() => {{ const r = window.report, v = window.video; return r && (r.fatal || ({condition})); }}",
            timeout=timeout_s * 1000,
        )
    except PlaywrightTimeout:
        pytest.fail(f"{what}: not within {timeout_s} s; player report {json.dumps(_report(page))}")
    report = _report(page)
    assert report["fatal"] is None, f"{what}: fatal player error {report['fatal']}; {json.dumps(report)}"
    return report


def _screen(page: Any, path: Path) -> tuple[float, float]:
    page.locator("video").screenshot(path=str(path))
    pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)
    return float(pixels.mean()), float(pixels.std())


def play(browser: Any, server: str, kind: str, src: str, shots: Path) -> dict[str, Any]:
    """Load the page, play from the start past ``PLAY_S``, seek to the middle and play on, show the first
    subtitle track, switch to the second audio track (if any) and play on; the player's report, with the figures
    measured on the way."""
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    console: list[str] = []
    page.on(
        "console", lambda m: console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None
    )
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    started = time.perf_counter()
    try:
        page.goto(f"{server}/player/player.html?kind={kind}&src={src}")
        report = _wait(page, f"v.currentTime > {PLAY_S}", f"{kind} {src}: play past {PLAY_S} s")
        played_s = time.perf_counter() - started
        mid = report["duration"] / 2
        page.evaluate(f"() => {{ window.video.currentTime = {mid}; }}")
        report = _wait(page, f"v.currentTime > {mid + 1.0} && !v.seeking", f"{kind}: play on after the seek")
        mean, std = _screen(page, shots / f"{kind}_{Path(src).parent.name}_mid.png")
        # The first subtitle track on: the player fetches and parses it (WebVTT for HLS, stpp for DASH).
        page.evaluate(
            "() => { const p = window.player; if (window.report.kind === 'hls') { p.subtitleDisplay = true;"
            " p.subtitleTrack = 0; } else { p.setTextTrack(0); } }"
        )
        cues = _wait(
            page,
            "Array.from(v.textTracks).some(t => t.mode !== 'disabled' && t.cues && t.cues.length > 0)",
            f"{kind}: subtitle cues",
        )
        cue_count = page.evaluate(
            "() => Array.from(window.video.textTracks).reduce((n, t) => n + (t.cues ? t.cues.length : 0), 0)"
        )
        if len(cues["audioTracks"]) > 1:  # the second language's audio, and the clock runs on with it
            at = page.evaluate("() => { window.switchAudio(); return window.video.currentTime; }")
            cues = _wait(page, f"r.audioSwitched && v.currentTime > {at + 1.0}", f"{kind}: switch audio")
        report = {**cues, "mean": mean, "std": std, "played_s": played_s, "cues": cue_count}
        report["failed"], report["console"] = failed, console
        return report
    finally:
        page.close()


def check(report: dict[str, Any], languages: list[str]) -> None:
    figures = {k: report[k] for k in ("player", "version", "firstFrameMs", "currentTime", "played_s", "mean",
                                      "std", "cues", "audioSwitched", "warnings", "console")}  # fmt: skip
    print(
        f"\n{report['kind']}: {json.dumps(figures)} audio={report['audioTracks']} text={report['textTracks']}"
    )
    assert report["errors"] == [], report
    assert report["failed"] == [], report["failed"]  # every request the player made was served
    assert (report["videoWidth"], report["videoHeight"]) == (1280, 720)
    assert report["firstFrameMs"] is not None
    assert [t["lang"] for t in report["audioTracks"]] == languages or (
        len(languages) == 1 and report["audioTracks"] == []  # one language: the muxed audio, no track list
    ), report["audioTracks"]
    assert [t["lang"] for t in report["textTracks"]] == languages, report["textTracks"]
    assert report["audioSwitched"] == (languages[1] if len(languages) > 1 else None), report["log"]
    assert report["cues"] > 0
    assert report["mean"] > MIN_MEAN and report["std"] > MIN_STD, (report["mean"], report["std"])


def test_hls_plays_in_hls_js(browser: Any, server: str, tmp_path: Path) -> None:
    """The bilingual alert's HLS: two audio renditions (ko-KR muxed, en-US audio-only) and two WebVTT
    renditions; hls.js plays it from the start and after a seek."""
    check(play(browser, server, "hls", "/media/bilingual/hls_master.m3u8", tmp_path), ["ko-KR", "en-US"])


def test_hls_single_language_plays_in_hls_js(browser: Any, server: str, tmp_path: Path) -> None:
    check(play(browser, server, "hls", "/media/english/hls_master.m3u8", tmp_path), ["en-US"])


def test_dash_h264_plays_in_dash_js(browser: Any, server: str, tmp_path: Path) -> None:
    """The bilingual alert's DASH with H.264 video: an AAC AdaptationSet and an stpp (IMSC1) one per language;
    dash.js plays it from the start and after a seek. (HEVC, the broadcast default, does not decode in
    headless Chromium.)"""
    check(play(browser, server, "dash", "/media/bilingual/manifest.mpd", tmp_path), ["ko-KR", "en-US"])
