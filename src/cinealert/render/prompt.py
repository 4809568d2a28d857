"""Prompt writer: turns an alert (or just a disaster type) into a text-to-image prompt.

Two backends behind one small interface. The template backend is the default and needs nothing but the alert: it
is deterministic, so the same alert always asks for the same picture. The LLM backend (the paper's "metadata
generator": a causal LM fine-tuned with LoRA on BLIP captions) lives in ``render.ml.prompter`` and is imported
only when ``ml.prompt_model_dir`` is set. Whatever writes the prompt, :func:`clean_generated` is the one gate it
passes: stray tokens stripped, people removed, the no-humans directive appended, and off-topic text rejected so
the caller falls back to the template.

This module is torch-free on purpose: ``cinealert classify``/``validate`` may import it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cinealert.cap.model import Alert, DisasterType, Info

NO_HUMANS = "Do not include any humans."

DISPLAY_NAME: dict[DisasterType, str] = {
    DisasterType.FLOOD: "Flood",
    DisasterType.LANDSLIDE: "Landslide",
    DisasterType.DROUGHT: "Drought",
    DisasterType.WILDFIRE: "Wildfire",
    DisasterType.HEAVY_SNOW: "Heavy snow",
    DisasterType.TYPHOON: "Typhoon",
    DisasterType.EARTHQUAKE: "Earthquake",
    DisasterType.OTHER: "Severe weather",
}


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words that show a generated description is about the disaster asked for. A prompt with none of them is
# off-topic (the LLM drifted, or an untrained adapter babbled) and the template replaces it.
VOCABULARY: dict[DisasterType, frozenset[str]] = {
    DisasterType.FLOOD: _words(
        "flood floods flooded flooding floodwater floodwaters water waters river inundated submerged "
        "overflowing overflow torrent muddy stream deluge"
    ),
    DisasterType.LANDSLIDE: _words(
        "landslide landslides mudslide mudslides mud muddy debris slope hillside collapsed rocks boulders "
        "soil earth rubble"
    ),
    DisasterType.DROUGHT: _words(
        "drought dry dried arid cracked parched barren dust dusty withered scorched riverbed reservoir heat"
    ),
    DisasterType.WILDFIRE: _words(
        "wildfire wildfires fire fires flame flames burning blaze smoke smoky ember embers forest ablaze charred"
    ),
    DisasterType.HEAVY_SNOW: _words(
        "snow snowy snowfall snowstorm blizzard snowdrift snowdrifts drifts frozen ice icy winter buried white"
    ),
    DisasterType.TYPHOON: _words(
        "typhoon typhoons storm storms hurricane cyclone wind winds gale waves rain torrential surge bent"
    ),
    DisasterType.EARTHQUAKE: _words(
        "earthquake earthquakes quake collapsed rubble cracked cracks damaged ruins debris fallen crumbled destroyed"
    ),
    DisasterType.OTHER: _words("storm weather sky clouds wind rain"),
}

_SEVERITY = {
    "extreme": "catastrophic",
    "severe": "severe",
    "moderate": "serious",
    "minor": "minor",
}

_URBAN = re.compile(
    r"\b(city|cities|downtown|urban|street|streets|district|metropolitan|metro|town|avenue|station|apartment|"
    r"seoul|busan|incheon|daegu|daejeon|gwangju|ulsan)\b|(?:시|구|동|특별시|광역시)(?:\b|$|\s)",
    re.IGNORECASE,
)
_RURAL = re.compile(
    r"\b(village|villages|farm|farms|farmland|rural|countryside|mountain|mountains|valley|forest|coast|coastal|"
    r"island|field|fields|county|river|lake|reservoir)\b|(?:군|읍|면|리|산|섬)(?:\b|$|\s)",
    re.IGNORECASE,
)

_COASTAL = re.compile(
    r"\b(coast|coastal|coastline|shore|shoreline|beach|beaches|harbou?r|port|bay|sea|seaside|island|islands|"
    r"offshore|waterfront)\b|(?:해안|해상|연안|섬|항|바다)",
    re.IGNORECASE,
)
_MOUNTAIN = re.compile(
    r"\b(mountain|mountains|mountainous|hill|hills|hillside|ridge|valley|slope|slopes|highland|highlands|peak)\b|"
    r"(?:산간|산지|산악|고지대|계곡)",
    re.IGNORECASE,
)

_WEATHER: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"heavy rain|torrential|downpour|호우|폭우", re.I), "under torrential rain"),
    (re.compile(r"\brain|비\b", re.I), "in steady rain"),
    (re.compile(r"blizzard|heavy snow|대설|폭설", re.I), "in a blizzard"),
    (re.compile(r"\bsnow|눈\b", re.I), "with snow falling"),
    (re.compile(r"gale|strong wind|high wind|강풍|태풍", re.I), "in gale-force wind"),
    (re.compile(r"\bwind", re.I), "in strong wind"),
    (re.compile(r"\bfog|안개", re.I), "in thick fog"),
    (re.compile(r"heat|폭염|hot\b", re.I), "in scorching heat"),
    (re.compile(r"\bdry|건조", re.I), "in dry air"),
)


@dataclass(frozen=True, slots=True)
class _Scene:
    setting: str
    place: str
    sky: str


# Per disaster: (urban setting, rural setting) -> what the picture holds, then the moving fluid.
_TEMPLATES: dict[DisasterType, tuple[_Scene, _Scene, str]] = {
    DisasterType.FLOOD: (
        _Scene("a city street", "parked cars and shop fronts half under water", "heavy grey clouds"),
        _Scene(
            "a rural valley",
            "farmland and a small bridge swallowed by the overflowing river",
            "low rain clouds",
        ),
        "Fast muddy brown floodwater flows across the whole foreground",
    ),
    DisasterType.LANDSLIDE: (
        _Scene("a hillside road above the town", "a retaining wall torn open", "an overcast sky"),
        _Scene("a steep mountain slope", "uprooted trees and boulders", "an overcast sky"),
        "A river of wet mud and rock debris slides down the slope into the foreground",
    ),
    DisasterType.DROUGHT: (
        _Scene("the edge of a city reservoir", "a dried, cracked reservoir bed", "a hazy white sky"),
        _Scene("open farmland", "withered crops and a cracked, parched riverbed", "a hazy white sky"),
        "Heat shimmer and drifting dust hang over the cracked earth",
    ),
    DisasterType.WILDFIRE: (
        _Scene(
            "the forested edge of a town",
            "burning trees behind empty houses",
            "an orange sky thick with smoke",
        ),
        _Scene(
            "a mountain pine forest", "tall pines ablaze along the ridge", "an orange sky thick with smoke"
        ),
        "Bright flames leap from the trees and dense grey smoke rolls upward",
    ),
    DisasterType.HEAVY_SNOW: (
        _Scene("a city street", "cars and road signs buried in deep snowdrifts", "a low white sky"),
        _Scene("a mountain village road", "roofs and fences buried in deep snowdrifts", "a low white sky"),
        "Thick snow falls steadily and drifts across the foreground",
    ),
    DisasterType.TYPHOON: (
        _Scene(
            "a coastal city waterfront",
            "palm trees bent double and debris on the promenade",
            "dark storm clouds",
        ),
        _Scene("a fishing harbour", "boats tossed against the breakwater", "dark storm clouds"),
        "Wind-driven rain sweeps sideways and huge waves crash over the sea wall",
    ),
    DisasterType.EARTHQUAKE: (
        _Scene("a city block", "collapsed buildings, cracked asphalt and fallen rubble", "a dusty grey sky"),
        _Scene("a small town", "collapsed houses and a cracked road", "a dusty grey sky"),
        "Fine dust and smoke drift up from the rubble",
    ),
    DisasterType.OTHER: (
        _Scene("a city skyline", "empty streets", "a dramatic stormy sky"),
        _Scene("open countryside", "empty fields", "a dramatic stormy sky"),
        "Clouds race across the sky",
    ),
}


class PromptWriter(Protocol):
    """Anything that writes a text-to-image prompt for a disaster. ``variant`` asks for a different picture."""

    def write(self, disaster: DisasterType, alert: Alert | None = None, *, variant: int = 0) -> str: ...

    def write_brief(self, brief: SceneBrief) -> str:
        """The prompt for a scene brief (what the scene backends hand in; ``write`` builds one from the alert)."""
        ...


def _info(alert: Alert | None) -> Info | None:
    if alert is None or not alert.infos:
        return None
    return alert.info_for("en") or alert.infos[0]


def _all_text(alert: Alert | None) -> str:
    if alert is None:
        return ""
    parts: list[str] = []
    for info in alert.infos:
        parts += [info.event, info.headline or "", info.description or ""]
        parts += [area.area_desc for area in info.areas]
    return " ".join(p for p in parts if p)


def _area_text(alert: Alert | None) -> str:
    if alert is None:
        return ""
    return " ".join(area.area_desc for info in alert.infos for area in info.areas)


def is_urban(alert: Alert | None) -> bool:
    """Urban unless the area description leans rural (more rural than urban words). No area: urban."""
    text = _area_text(alert)
    return len(_URBAN.findall(text)) >= len(_RURAL.findall(text))


#: The part of the day (the LLM's keyword) and its light (the template's words), by local hour.
_DAYLIGHT: tuple[tuple[int, int, str, str], ...] = (
    (5, 7, "at dawn", "in cold blue light"),
    (7, 11, "in the morning", "in soft daylight"),
    (11, 15, "at midday", "in flat daylight"),
    (15, 18, "in the afternoon", "in warm low sunlight"),
    (18, 20, "at dusk", "in fading amber light"),
)
_NIGHT = ("at night", "lit by streetlights")
_LIGHT = {part: light for _, _, part, light in _DAYLIGHT} | {_NIGHT[0]: _NIGHT[1]}


def part_of_day(when: datetime, tz: tzinfo) -> str:
    """``at dawn`` ... ``at night`` at ``when`` in the area's local time.

    A timestamp written with a non-zero UTC offset is the sender's local time and is read as is (a hint that
    beats the station's zone: a -05:00 alert describes an evening there, whatever the broadcaster's clock says);
    a UTC or naive one is converted to ``tz`` (``broadcast.timezone``).
    """
    offset = when.utcoffset()
    hour = when.hour if offset else when.astimezone(tz).hour
    for start, end, part, _ in _DAYLIGHT:
        if start <= hour < end:
            return part
    return _NIGHT[0]


def time_of_day(when: datetime, tz: tzinfo) -> str:
    """Light at ``when`` in the area's local time: ``part_of_day`` and its light, e.g. ``at dusk, in fading
    amber light``."""
    part = part_of_day(when, tz)
    return f"{part}, {_LIGHT[part]}"


def weather_words(alert: Alert | None) -> str:
    text = _all_text(alert)
    for pattern, phrase in _WEATHER:
        if pattern.search(text):
            return phrase
    return ""


def _when(alert: Alert | None) -> datetime | None:
    info = _info(alert)
    if info is not None and info.effective is not None:
        return info.effective
    return alert.sent if alert is not None else None


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as 'Asia/Seoul'") from exc


@dataclass(frozen=True, slots=True)
class SceneBrief:
    """What a scene is asked to show: the disaster, its variant, and the alert's words that change the picture.

    Built once per alert in ``render.present`` (``brief_for``) and handed through ``get_loop`` to the scene
    backend. Only a backend that paints from it (``render.backends.BriefedBackend``: the ML backend's prompt
    writer) gets it, and only for such a backend is it part of the cache key; the procedural backend draws
    ``(disaster, variant)`` alone and keeps its key. An empty keyword means the alert did not say (prewarm's
    briefs have none). ``keywords`` is the LLM's instruction text, in the order training rows use.
    """

    disaster: DisasterType
    variant: int = 0
    setting: str = ""  # urban | coastal | mountain | rural (``setting_of``)
    time_of_day: str = ""  # at dawn ... at night, in the area's local time (``part_of_day``)
    weather: str = ""  # e.g. "under torrential rain" (``weather_words``)
    severity: str = ""  # catastrophic | severe | serious | minor (CAP severity)

    def keywords(self) -> str:
        """``Flood, urban, at midday, under torrential rain, severe``: the type's name first, then what is set."""
        words = (self.setting, self.time_of_day, self.weather, self.severity)
        return ", ".join([DISPLAY_NAME[self.disaster], *(w for w in words if w)])

    def key(self) -> dict[str, str]:
        """The alert's words as cache-key fields (the disaster and variant are keyed on their own)."""
        return {"setting": self.setting, "time_of_day": self.time_of_day, "weather": self.weather,
                "severity": self.severity}  # fmt: skip

    def with_variant(self, variant: int) -> SceneBrief:
        return replace(self, variant=variant)


def setting_of(alert: Alert | None) -> str:
    """``urban`` where ``is_urban``; else ``coastal`` or ``mountain`` where the area (or the event text) says so,
    else ``rural``; empty without an alert."""
    if alert is None:
        return ""
    if is_urban(alert):
        return "urban"
    for pattern, name in ((_COASTAL, "coastal"), (_MOUNTAIN, "mountain")):
        if pattern.search(_area_text(alert)):
            return name
    for pattern, name in ((_COASTAL, "coastal"), (_MOUNTAIN, "mountain")):
        if pattern.search(_all_text(alert)):
            return name
    return "rural"


def brief_for(
    disaster: DisasterType, variant: int = 0, alert: Alert | None = None, timezone: str = "Asia/Seoul"
) -> SceneBrief:
    """The scene ``alert`` asks for: its setting, the part of the day at the area, its weather and severity."""
    if alert is None:
        return SceneBrief(disaster, variant)
    when = _when(alert)
    info = _info(alert)
    return SceneBrief(
        disaster,
        variant,
        setting=setting_of(alert),
        time_of_day=part_of_day(when, _zone(timezone)) if when is not None else "",
        weather=weather_words(alert),
        severity=_SEVERITY.get(info.severity.lower(), "") if info is not None else "",
    )


_PARTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(night|nighttime|midnight|dark)\b", re.I), "at night"),
    (re.compile(r"\b(dusk|sunset|evening|twilight)\b", re.I), "at dusk"),
    (re.compile(r"\b(dawn|sunrise|daybreak)\b", re.I), "at dawn"),
    (re.compile(r"\bmorning\b", re.I), "in the morning"),
    (re.compile(r"\b(noon|midday)\b", re.I), "at midday"),
    (re.compile(r"\bafternoon\b", re.I), "in the afternoon"),
)


def caption_brief(disaster: DisasterType, text: str) -> SceneBrief:
    """The brief a photo's caption describes, for a training row's ``keywords``: the same words an alert gives
    at inference (setting, part of the day, weather; no severity: a photo has none), each only where the caption
    says it, so the adapter learns what every keyword changes in the description."""
    urban, rural = len(_URBAN.findall(text)), len(_RURAL.findall(text))
    setting = ""
    if urban and urban >= rural:
        setting = "urban"
    elif _COASTAL.search(text):
        setting = "coastal"
    elif _MOUNTAIN.search(text):
        setting = "mountain"
    elif rural:
        setting = "rural"
    part = next((name for pattern, name in _PARTS if pattern.search(text)), "")
    weather = next((phrase for pattern, phrase in _WEATHER if pattern.search(text)), "")
    return SceneBrief(disaster, 0, setting=setting, time_of_day=part, weather=weather)


def alert_keywords(disaster: DisasterType, alert: Alert | None = None, timezone: str = "Asia/Seoul") -> str:
    """The LLM's instruction: disaster name first (what the adapter was trained on), then alert context."""
    return brief_for(disaster, 0, alert, timezone).keywords()


class TemplatePromptWriter:
    """Deterministic prompts filled from the alert: setting, time of day in local time, weather, severity."""

    def __init__(self, timezone: str = "Asia/Seoul") -> None:
        self.timezone = timezone
        self._tz = _zone(timezone)

    def write(self, disaster: DisasterType, alert: Alert | None = None, *, variant: int = 0) -> str:
        return self.write_brief(brief_for(disaster, variant, alert, self.timezone))

    def write_brief(self, brief: SceneBrief) -> str:
        urban_scene, rural_scene, fluid = _TEMPLATES[brief.disaster]
        urban = brief.setting in ("", "urban")
        # Odd variants swap the setting so that prewarmed variants of one type are not the same picture.
        scene = urban_scene if urban != bool(brief.variant % 2) else rural_scene
        severity = brief.severity or "severe"
        part = brief.time_of_day
        light = f"{part}, {_LIGHT[part]}" if part in _LIGHT else "in dramatic daylight"
        name = DISPLAY_NAME[brief.disaster].lower()
        head = f"A photorealistic wide-angle photograph of {severity} {name} in {scene.setting}, {light}"
        if brief.weather:
            head += f", {brief.weather}"
        body = f"{head}. {scene.place.capitalize()} under {scene.sky}. {fluid}. Cinematic, highly detailed."
        return f"{body} {NO_HUMANS}"


# --- post-processing shared by every generated prompt ------------------------------------------------------

_STRAY = re.compile(
    r"</s>|<s>|<eos>|<bos>|<pad>|<unk>|<end_of_turn>|<start_of_turn>|<\|[^|>]*\|>|\[/?INST\]|\[/?SYS\]|<<SYS>>",
    re.IGNORECASE,
)
_CLOSE = re.compile(r"\[/INST\]", re.IGNORECASE)
_HUMAN = re.compile(
    r"\b(human|humans|person|people|persons|man|men|woman|women|child|children|kid|kids|boy|boys|girl|girls|"
    r"crowd|crowds|resident|residents|firefighter|firefighters|rescuer|rescuers|worker|workers|pedestrian|"
    r"pedestrians|driver|drivers|family|families|someone|somebody|face|faces|victim|victims|survivor|survivors)\b",
    re.IGNORECASE,
)
_DIRECTIVE = re.compile(r"\b(do not|don't|dont|no)\b[^.!?]*\b(humans?|people|persons?)\b[^.!?]*[.!?]?", re.I)
_SENTENCE = re.compile(r"[^.!?]+[.!?]")
_WORD = re.compile(r"[a-z]+")


def clean_generated(text: str, disaster: DisasterType, instruction: str = "") -> str | None:
    """A usable prompt from raw model text, or ``None`` when the text is empty or off-topic.

    Everything after the first end/turn marker is dropped (models ramble on into a new instruction), an echoed
    instruction is removed, sentences that mention people are dropped (the picture must not show any), an
    unfinished trailing fragment is cut, and the no-humans directive ends the prompt exactly once.
    """
    while True:  # leading markers: a BOS, or an echo of "[INST] keywords [/INST]" before the answer
        lead = _STRAY.match(text.lstrip())
        if lead is None:
            break
        text = text.lstrip()[lead.end() :]
        if lead.group(0).lower() == "[inst]":
            close = _CLOSE.search(text)
            text = text[close.end() :] if close is not None else ""
    first = _STRAY.search(text)
    if first is not None:
        text = text[: first.start()]
    if instruction and text.strip().lower().startswith(instruction.strip().lower()):
        text = text.strip()[len(instruction.strip()) :]
    text = _DIRECTIVE.sub(" ", text)
    text = " ".join(text.split())
    sentences = [s.strip() for s in _SENTENCE.findall(text)]
    if not sentences and len(text.split()) >= 4:
        sentences = [text.rstrip(",;: ") + "."]  # a single unterminated sentence is still a description
    kept = [s for s in sentences if not _HUMAN.search(s)]
    body = " ".join(kept).strip()
    words = set(_WORD.findall(body.lower()))
    if len(body.split()) < 3 or not words & VOCABULARY[disaster]:
        return None
    return f"{body} {NO_HUMANS}"


def fit_prompt(prompt: str, count: Callable[[str], int], limit: int) -> str:
    """``prompt`` cut to ``limit`` tokens at sentence ends, so the text encoder never truncates mid-sentence.

    Stable Diffusion's CLIP encoder reads 77 tokens and silently drops the rest, which would drop the no-humans
    directive first. Trailing description sentences go first; the first sentence always stays; the directive
    stays when it fits (the negative prompt already keeps people out when it does not).
    """
    if count(prompt) <= limit:
        return prompt
    body = prompt[: -len(NO_HUMANS)].strip() if prompt.endswith(NO_HUMANS) else prompt.strip()
    sentences = [s.strip() for s in _SENTENCE.findall(body)] or [body]
    while len(sentences) > 1 and count(f"{' '.join(sentences)} {NO_HUMANS}") > limit:
        sentences.pop()
    text = " ".join(sentences)
    with_directive = f"{text} {NO_HUMANS}"
    return with_directive if count(with_directive) <= limit else text
