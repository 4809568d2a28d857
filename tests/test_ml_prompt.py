"""Prompt writer: the deterministic template and the post-processing every generated prompt goes through.

No model here (see test_ml_models.py for the LLM path); these run in milliseconds.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime

import pytest

from cinealert.cap.model import NATURAL_DISASTERS, Alert, Area, DisasterType, Info
from cinealert.render.prompt import (
    NO_HUMANS,
    VOCABULARY,
    SceneBrief,
    TemplatePromptWriter,
    alert_keywords,
    brief_for,
    caption_brief,
    clean_generated,
    fit_prompt,
    is_urban,
    setting_of,
)


def alert(
    *,
    area: str = "Seoul Gangnam-gu",
    sent: str = "2026-11-26T03:00:00+00:00",
    effective: str | None = None,
    severity: str = "Severe",
    description: str = "",
    event: str = "Flood Warning",
) -> Alert:
    info = Info(
        language="en-US",
        categories=("Met",),
        event=event,
        urgency="Immediate",
        severity=severity,
        certainty="Observed",
        effective=datetime.fromisoformat(effective) if effective else None,
        description=description or None,
        areas=(Area(area),),
    )
    when = datetime.fromisoformat(sent)
    return Alert("id-1", "kma@example", when, sent, "Actual", "Alert", "Public", infos=(info,))


@pytest.mark.parametrize("disaster", list(DisasterType))
def test_template_is_deterministic_on_topic_and_ends_with_the_directive(disaster: DisasterType) -> None:
    writer = TemplatePromptWriter("Asia/Seoul")
    a = alert()
    first = writer.write(disaster, a)
    assert first == TemplatePromptWriter("Asia/Seoul").write(disaster, a)
    assert first.endswith(NO_HUMANS)
    assert first.count("humans") == 1
    # The template passes the same gate generated prompts must pass (on-topic vocabulary, no people).
    assert clean_generated(first, disaster) == first


def test_every_natural_disaster_has_its_own_picture() -> None:
    writer = TemplatePromptWriter()
    prompts = {writer.write(d) for d in NATURAL_DISASTERS}
    assert len(prompts) == len(NATURAL_DISASTERS)


def test_setting_follows_area_words() -> None:
    city = alert(area="Seoul Mapo-gu, downtown streets")
    village = alert(area="Pyeongchang-gun mountain village and farmland")
    assert is_urban(city) and not is_urban(village)
    writer = TemplatePromptWriter()
    assert "city street" in writer.write(DisasterType.FLOOD, city)
    assert "rural valley" in writer.write(DisasterType.FLOOD, village)
    # an odd variant swaps the setting, so prewarmed variants differ
    assert "rural valley" in writer.write(DisasterType.FLOOD, city, variant=1)


def test_time_of_day_is_local_time_of_effective_else_sent() -> None:
    # 12:30 UTC is 21:30 in Seoul and 12:30 in UTC
    late = alert(sent="2026-11-26T12:30:00+00:00")
    assert "at night" in TemplatePromptWriter("Asia/Seoul").write(DisasterType.WILDFIRE, late)
    assert "at midday" in TemplatePromptWriter("UTC").write(DisasterType.WILDFIRE, late)
    morning = alert(sent="2026-11-26T12:30:00+00:00", effective="2026-11-26T00:00:00+00:00")
    assert "in the morning" in TemplatePromptWriter("Asia/Seoul").write(DisasterType.WILDFIRE, morning)
    # a sender's own offset is the area's local time: 07:30-05:00 is morning there, night in Seoul
    offset = alert(sent="2026-11-26T07:30:00-05:00")
    assert "in the morning" in TemplatePromptWriter("Asia/Seoul").write(DisasterType.WILDFIRE, offset)


def test_weather_and_severity_words() -> None:
    a = alert(description="Heavy rain of 80 mm per hour expected", severity="Extreme")
    text = TemplatePromptWriter().write(DisasterType.FLOOD, a)
    assert "torrential rain" in text
    assert "catastrophic" in text
    assert alert_keywords(DisasterType.FLOOD, a, "Asia/Seoul").startswith("Flood, urban, ")
    assert alert_keywords(DisasterType.HEAVY_SNOW) == "Heavy snow"


def test_the_brief_holds_the_alerts_words_that_change_the_picture() -> None:
    a = alert(area="Seoul Mapo-gu, downtown", sent="2026-11-26T12:30:00+00:00", severity="Extreme",
              description="Heavy rain of 80 mm per hour")  # fmt: skip
    brief = brief_for(DisasterType.FLOOD, 2, a, "Asia/Seoul")
    assert brief == SceneBrief(
        DisasterType.FLOOD, 2, "urban", "at night", "under torrential rain", "catastrophic"
    )
    # the LLM's instruction text: the type's name first (what every training row starts with), then the words
    assert brief.keywords() == "Flood, urban, at night, under torrential rain, catastrophic"
    assert alert_keywords(DisasterType.FLOOD, a, "Asia/Seoul") == brief.keywords()
    assert brief_for(DisasterType.FLOOD, 2) == SceneBrief(DisasterType.FLOOD, 2)  # prewarm's: no alert words
    assert SceneBrief(DisasterType.HEAVY_SNOW).keywords() == "Heavy snow"
    # the template writes the same picture from the alert or from its brief
    writer = TemplatePromptWriter("Asia/Seoul")
    assert writer.write(DisasterType.FLOOD, a, variant=2) == writer.write_brief(brief)


@pytest.mark.parametrize(
    ("area", "event", "setting"),
    [
        ("Busan Haeundae-gu downtown", "Typhoon Warning", "urban"),
        ("Jeju island coast", "Typhoon Warning", "coastal"),
        ("Pyeongchang-gun mountain villages", "Heavy Snow Warning", "mountain"),
        ("Goesan-gun farmland", "Drought Warning", "rural"),
        ("Montgomery county farms", "Coastal Flood Warning", "coastal"),  # the event text decides a tie
    ],
)
def test_setting_from_the_area_then_the_event(area: str, event: str, setting: str) -> None:
    assert setting_of(alert(area=area, event=event)) == setting
    assert setting_of(None) == ""


def test_a_caption_gives_the_keywords_an_alert_would() -> None:
    """Training rows carry the brief their photo's caption describes, so the adapter learns the same keywords
    it is asked with (``cinealert prompter dataset``)."""
    caption = "a flooded city street at night with heavy rain"
    assert (
        caption_brief(DisasterType.FLOOD, caption).keywords()
        == "Flood, urban, at night, under torrential rain"
    )
    assert caption_brief(DisasterType.TYPHOON, "waves crash on the beach at sunset").keywords() == (
        "Typhoon, coastal, at dusk"
    )
    assert (
        caption_brief(DisasterType.DROUGHT, "a cracked riverbed in farmland").keywords() == "Drought, rural"
    )
    assert caption_brief(DisasterType.WILDFIRE, "flames and smoke").keywords() == "Wildfire"


def test_unknown_timezone_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="IANA"):
        TemplatePromptWriter("Mars/Olympus")


def test_clean_strips_stray_tokens_and_unfinished_fragments() -> None:
    raw = " Brown floodwater covers the street. Cars float in the water.</s>[INST] Wildfire [/INST] Flames"
    assert clean_generated(raw, DisasterType.FLOOD) == (
        f"Brown floodwater covers the street. Cars float in the water. {NO_HUMANS}"
    )
    raw = "Muddy water rushes past the houses. The sky is dark and the"
    assert clean_generated(raw, DisasterType.FLOOD) == f"Muddy water rushes past the houses. {NO_HUMANS}"


def test_clean_removes_people_and_keeps_one_directive() -> None:
    raw = (
        "Flames climb the ridge. Firefighters spray water on the trees. Do not include any humans. No people."
    )
    assert clean_generated(raw, DisasterType.WILDFIRE) == f"Flames climb the ridge. {NO_HUMANS}"


def test_clean_handles_an_echoed_instruction() -> None:
    raw = "[INST] Flood [/INST] The river overflows into the village.</s>"
    assert clean_generated(raw, DisasterType.FLOOD) == f"The river overflows into the village. {NO_HUMANS}"


@pytest.mark.parametrize(
    "raw",
    ["", "</s>", "   ", "A quiet beach with palm trees at sunset.", "floodwater", "abc def ghi jkl."],
)
def test_empty_or_off_topic_output_is_rejected(raw: str) -> None:
    assert clean_generated(raw, DisasterType.FLOOD) is None


def test_vocabulary_covers_every_type() -> None:
    assert set(VOCABULARY) == set(DisasterType)


def test_importing_the_ml_package_imports_no_heavy_library() -> None:
    code = (
        "import sys, cinealert.render.ml, cinealert.render.prompt, cinealert.render.ml.evaluate, cinealert.commands.ml;"
        "heavy = [m for m in ('torch', 'transformers', 'diffusers', 'peft', 'cv2') if m in sys.modules];"
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_default_settings_give_the_template_writer() -> None:
    from cinealert.config import parse
    from cinealert.render.ml.prompter import make_prompt_writer

    writer = make_prompt_writer(parse({"broadcast": {"timezone": "UTC"}}))
    assert isinstance(writer, TemplatePromptWriter)
    assert writer.write(DisasterType.FLOOD, alert(sent="2026-11-26T12:30:00+00:00")) == TemplatePromptWriter(
        "UTC"
    ).write(DisasterType.FLOOD, alert(sent="2026-11-26T12:30:00+00:00"))


def test_fit_prompt_cuts_whole_sentences_and_keeps_the_directive() -> None:
    def words(text: str) -> int:
        return len(text.split())

    prompt = f"Brown water floods the street. Cars float. The sky is grey and low. {NO_HUMANS}"
    assert fit_prompt(prompt, words, 100) == prompt
    assert fit_prompt(prompt, words, 12) == f"Brown water floods the street. Cars float. {NO_HUMANS}"
    assert fit_prompt(prompt, words, 10) == f"Brown water floods the street. {NO_HUMANS}"
    # the first sentence always stays; the directive only when it fits
    assert fit_prompt(prompt, words, 6) == "Brown water floods the street."
    long = TemplatePromptWriter().write(DisasterType.TYPHOON)
    assert words(fit_prompt(long, words, 40)) <= 40 and fit_prompt(long, words, 40).endswith(NO_HUMANS)
