"""The classifier on alerts written the way real senders write them: codes first, then event, headline,
description; the main event beats side effects; "fire" needs context; non-natural hazards are ``other``."""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.sax.saxutils import escape

import pytest

from cinealert.cap import Classification, DisasterType, classify, parse_alert

D = DisasterType


@dataclass
class I:  # noqa: E742 - one info block, kept short for the case table
    event: str
    headline: str | None = None
    description: str | None = None
    instruction: str | None = None
    codes: tuple[tuple[str, str], ...] = ()
    params: tuple[tuple[str, str], ...] = ()
    categories: tuple[str, ...] = ("Met",)
    language: str = "en-US"
    sender_name: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


def _pairs(tag: str, pairs: tuple[tuple[str, str], ...]) -> str:
    return "".join(
        f"<{tag}><valueName>{escape(n)}</valueName><value>{escape(v)}</value></{tag}>" for n, v in pairs
    )


def build(*infos: I, sender: str = "alerts@example.org") -> bytes:
    blocks = []
    for info in infos:
        opt = ""
        if info.sender_name:
            opt += f"<senderName>{escape(info.sender_name)}</senderName>"
        for tag in ("headline", "description", "instruction"):
            value = getattr(info, tag)
            if value:
                opt += f"<{tag}>{escape(value)}</{tag}>"
        blocks.append(
            f"<info><language>{info.language}</language>"
            + "".join(f"<category>{c}</category>" for c in info.categories)
            + f"<event>{escape(info.event)}</event><urgency>Expected</urgency><severity>Severe</severity>"
            "<certainty>Likely</certainty>"
            + _pairs("eventCode", info.codes)
            + "<expires>2030-01-01T00:00:00+00:00</expires>"
            + opt
            + _pairs("parameter", info.params)
            + "<area><areaDesc>Somewhere</areaDesc></area></info>"
        )
    return (
        '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>T-1</identifier>'
        f"<sender>{escape(sender)}</sender><sent>2026-11-25T00:00:00+00:00</sent><status>Actual</status>"
        "<msgType>Alert</msgType><scope>Public</scope>" + "".join(blocks) + "</alert>"
    ).encode("utf-8")


def run(*infos: I, sender: str = "alerts@example.org") -> Classification:
    return classify(parse_alert(build(*infos, sender=sender)))


SAME = "SAME"
CASES: list[tuple[str, list[I], D]] = [
    # --- event codes decide, even against the text
    ("same FFW", [I("Flash Flood Warning", codes=((SAME, "FFW"),))], D.FLOOD),
    ("same CFW", [I("Coastal Flood Warning", codes=((SAME, "CFW"),))], D.FLOOD),
    ("same EQW", [I("Earthquake Warning", codes=((SAME, "EQW"),), categories=("Geo",))], D.EARTHQUAKE),
    ("same TSW tsunami", [I("Tsunami Warning", codes=((SAME, "TSW"),), categories=("Geo",))], D.EARTHQUAKE),
    ("same HUW", [I("Hurricane Warning", codes=((SAME, "HUW"),))], D.TYPHOON),
    ("same SSW surge", [I("Storm Surge Warning", codes=((SAME, "SSW"),))], D.TYPHOON),
    ("same BZW", [I("Blizzard Warning", codes=((SAME, "BZW"),))], D.HEAVY_SNOW),
    ("same AVW", [I("Avalanche Warning", codes=((SAME, "AVW"),))], D.HEAVY_SNOW),
    ("same FRW", [I("Fire Warning", codes=((SAME, "FRW"),), categories=("Fire",))], D.WILDFIRE),
    ("same DSW dust", [I("Dust Storm Warning", codes=((SAME, "DSW"),))], D.OTHER),
    ("same CAE", [I("Child Abduction Emergency", codes=((SAME, "CAE"),), categories=("Rescue",))], D.OTHER),
    ("same HMW", [I("Hazardous Materials Warning", codes=((SAME, "HMW"),), categories=("CBRNE",))], D.OTHER),
    ("same NUW", [I("Nuclear Power Plant Warning", codes=((SAME, "NUW"),), categories=("CBRNE",))], D.OTHER),
    ("same TOR", [I("Tornado Warning", codes=((SAME, "TOR"),))], D.OTHER),
    ("code beats text", [I("Warning", description="Flooding possible.", codes=((SAME, "BZW"),))], D.HEAVY_SNOW),
    ("nws LEW is lake effect snow", [I("Lake Effect Snow Warning", codes=(("NationalWeatherService", "LEW"),))],
     D.HEAVY_SNOW),
    ("same LEW is generic", [I("Law Enforcement Warning", description="Evacuate: the Oak Fire is moving into "
                               "the canyon, 2,000 acres burned.", codes=((SAME, "LEW"),))], D.WILDFIRE),
    ("generic CEM uses text", [I("Civil Emergency Message", headline="Levee breach on the Feather River",
                                 codes=((SAME, "CEM"),))], D.FLOOD),
    ("generic EVI wildfire", [I("Evacuation Immediate", description="Brush fire near Highway 1",
                                codes=((SAME, "EVI"),), categories=("Fire",))], D.WILDFIRE),
    ("canada profile code text", [I("Alert", codes=(("profile:CAP-CP:Event:0.4", "forestFire"),),
                                    categories=("Fire",))], D.WILDFIRE),
    ("vtec", [I("Warning", params=(("VTEC", "/O.NEW.KBOU.WS.W.0012.261125T1200Z-261126T1200Z/"),))],
     D.HEAVY_SNOW),
    # --- Meteoalarm awareness_type
    ("meteoalarm flooding", [I("Yellow Warning", params=(("awareness_type", "12; flooding"),))], D.FLOOD),
    ("meteoalarm rain", [I("Orange Warning", params=(("awareness_type", "10; rain"),))], D.FLOOD),
    ("meteoalarm forest fire", [I("Red Warning", params=(("awareness_type", "8; forest-fire"),))], D.WILDFIRE),
    ("meteoalarm snow-ice", [I("Yellow Warning", params=(("awareness_type", "2; snow-ice"),))], D.HEAVY_SNOW),
    ("meteoalarm avalanches", [I("Warning", params=(("awareness_type", "9; avalanches"),))], D.HEAVY_SNOW),
    ("meteoalarm wind is not typhoon", [I("Orange Wind Warning", params=(("awareness_type", "1; wind"),))],
     D.OTHER),
    ("meteoalarm heat", [I("Red Warning", params=(("awareness_type", "5; high-temperature"),))], D.OTHER),
    ("meteoalarm thunderstorm", [I("Warning", params=(("awareness_type", "3; thunderstorm"),))], D.OTHER),
    # --- main event beats side effects
    ("typhoon mentioning flooding", [I("Typhoon Warning", description="Flooding and landslides are likely "
                                       "in low-lying and mountainous areas. Flooding may last for days.")],
     D.TYPHOON),
    ("snow mentioning avalanche", [I("Heavy Snow Warning", description="Avalanches possible in the backcountry."
                                     )], D.HEAVY_SNOW),
    ("wildfire mentioning drought", [I("Wildfire Evacuation Warning", description="Severe drought conditions "
                                       "and drought-stressed vegetation feed the fire.")], D.WILDFIRE),
    ("landslide caused by rain", [I("Landslide Warning", description="Heavy rain and flooding have saturated "
                                    "slopes.")], D.LANDSLIDE),
    ("quake mentioning fires", [I("Earthquake", description="Fires broke out after the earthquake.",
                                  categories=("Geo",))], D.EARTHQUAKE),
    ("description first mention wins", [I("Weather Alert", description="Typhoon Haishen will bring heavy rain, "
                                          "storm surge and flooding to coastal areas.")], D.TYPHOON),
    ("side effect cue", [I("Severe Weather Statement", description="Strong winds may cause power cuts; "
                           "heavy snowfall expected across the Alps with 80 cm of new snow.")], D.HEAVY_SNOW),
    # --- word boundaries and false friends
    ("floodlight", [I("Stadium notice", description="The floodlights at the stadium failed.",
                      categories=("Infra",))], D.OTHER),
    ("fireworks", [I("Public Safety Notice", description="Fireworks display cancelled due to wind.",
                     categories=("Safety",))], D.OTHER),
    ("fire drill", [I("Fire Drill", description="Scheduled fire drill at City Hall at 10:00.",
                      categories=("Safety",))], D.OTHER),
    ("house fire", [I("Structure Fire", description="A house fire on Elm Street. Avoid the area.",
                      categories=("Fire",))], D.OTHER),
    ("chemical fire", [I("Shelter in Place", description="A chemical fire at the ITC tank farm is producing "
                         "a smoke plume.", categories=("Fire", "CBRNE"))], D.OTHER),
    ("apartment fire korean", [I("화재 발생", description="아파트 화재 발생, 인근 주민 창문 닫기 바랍니다.",
                                 language="ko-KR", categories=("Fire",))], D.OTHER),
    ("forest context korean", [I("화재 발생 안내", description="야산에서 화재가 발생하여 확산 중입니다.",
                                 language="ko-KR", categories=("Fire",))], D.WILDFIRE),
    ("named fire with acres", [I("Evacuation Warning", headline="Park Fire: 12,000 acres, 5% containment",
                                 categories=("Fire",))], D.WILDFIRE),
    ("fire service sender", [I("Watch and Act", headline="Bunyip fire, Tonimbuk", categories=("Fire",),
                               sender_name="Country Fire Authority")], D.WILDFIRE),
    ("total fire ban", [I("Total Fire Ban", description="Total fire ban declared for Greater Sydney.",
                          categories=("Fire",))], D.WILDFIRE),
    ("red flag", [I("Red Flag Warning", codes=(("NationalWeatherService", "FWW"),))], D.WILDFIRE),
    # --- non-natural and not-ours
    ("amber text", [I("AMBER Alert", description="Child abducted in a blue van.", categories=("Rescue",))],
     D.OTHER),
    ("gas leak shelter", [I("Shelter in Place", description="Gas leak at 5th and Main. Shelter in place.",
                            categories=("Safety",))], D.OTHER),
    ("heat wave is not drought", [I("Excessive Heat Warning", description="Heat wave with temperatures to "
                                    "43C; dry conditions continue.")], D.OTHER),
    ("cold wave", [I("한파경보", description="아침 최저기온 영하 15도 이하의 강추위가 예상됩니다.",
                     language="ko-KR")], D.OTHER),
    ("wind is not typhoon korean", [I("강풍주의보", description="순간풍속 초속 20m 이상의 강풍이 불겠습니다.",
                                      language="ko-KR")], D.OTHER),
    ("power outage", [I("Utility Notice", description="Planned power outage from 1am to 5am.",
                        categories=("Infra",))], D.OTHER),
    ("terror", [I("Security Alert", description="Terrorist attack in progress downtown.",
                  categories=("Security",))], D.OTHER),
    ("missile korean", [I("민방공 경보", description="미사일 발사. 지하 대피소로 대피하십시오.",
                          language="ko-KR", categories=("Security",))], D.OTHER),
    ("fine dust korean", [I("미세먼지 경보", description="초미세먼지 농도가 매우 높습니다.", language="ko-KR",
                            categories=("Health",))], D.OTHER),
    ("no hazard words", [I("Community Announcement", description="Road works on Main Street.",
                           categories=("Other",))], D.OTHER),
    # --- Korean 재난문자 styles
    ("kr flood", [I("호우경보", description="시간당 70mm 폭우, 하천 범람 우려", language="ko-KR")], D.FLOOD),
    ("kr flood from river", [I("재난문자", headline="[OO시청] 하천 수위 상승으로 홍수경보 발령",
                               language="ko-KR")], D.FLOOD),
    ("kr landslide", [I("긴급재난문자", headline="[산림청] 산사태 위기경보 심각 발령, 집중호우로 인한 산사태 "
                        "우려", language="ko-KR", categories=("Geo",))], D.LANDSLIDE),
    ("kr drought", [I("안전안내문자", headline="[OO군청] 가뭄 장기화로 제한급수 실시", language="ko-KR",
                      categories=("Env",))], D.DROUGHT),
    ("kr wildfire", [I("긴급재난문자", headline="[산림청] 산불 확산, 주민 대피", language="ko-KR",
                       categories=("Fire",))], D.WILDFIRE),
    ("kr snow", [I("대설주의보", description="최고 30cm 이상의 많은 눈, 눈길 교통안전 유의",
                   language="ko-KR")], D.HEAVY_SNOW),
    ("kr typhoon", [I("긴급재난문자", headline="[행정안전부] 태풍 북상, 강풍·호우로 인한 침수 및 산사태 우려",
                      language="ko-KR")], D.TYPHOON),
    ("kr earthquake", [I("지진", headline="[기상청] 경북 포항시 북구 북쪽 5km 지역 규모4.6 지진",
                         language="ko-KR", categories=("Geo",))], D.EARTHQUAKE),
    ("kr tsunami", [I("지진해일경보", description="지진해일이 예상되니 해안가에서 즉시 대피", language="ko-KR",
                      categories=("Geo",))], D.EARTHQUAKE),
    ("kr aftershock", [I("재난문자", description="여진 발생에 유의 바랍니다.", language="ko-KR",
                         categories=("Geo",))], D.EARTHQUAKE),
    ("kr flood no-damage phrasing", [I("호우주의보", description="침수 피해가 없도록 유의 바랍니다.",
                                       language="ko-KR")], D.FLOOD),
    # --- other languages and agencies
    ("jma heavy rain", [I("大雨特別警報", description="土砂災害や浸水害に厳重に警戒", language="ja-JP")],
     D.FLOOD),
    ("jma landslide", [I("土砂災害警戒情報", language="ja-JP", categories=("Geo",))], D.LANDSLIDE),
    ("jma quake", [I("緊急地震速報", description="強い揺れに警戒", language="ja-JP", categories=("Geo",))],
     D.EARTHQUAKE),
    ("pagasa signal", [I("Tropical Cyclone Wind Signal No. 2", description="Bagyong Kristine")], D.TYPHOON),
    ("india cyclone", [I("Cyclone Warning", description="Severe Cyclonic Storm Dana to cross the Odisha "
                         "coast; heavy rainfall and flooding likely.")], D.TYPHOON),
    ("india flood", [I("Flood Alert", description="Brahmaputra above danger level at Dibrugarh; inundation "
                       "of low-lying areas.")], D.FLOOD),
    ("geonet aftershock", [I("Aftershock Advisory", categories=("Geo",))], D.EARTHQUAKE),
    ("shakealert", [I("ShakeAlert", description="Earthquake detected. Drop, cover, hold on.",
                      categories=("Geo",))], D.EARTHQUAKE),
    ("german flood", [I("Amtliche Warnung vor Hochwasser", language="de-DE")], D.FLOOD),
    ("french fire", [I("Alerte feux de forêt", language="fr-FR", categories=("Fire",))], D.WILDFIRE),
    ("spanish quake", [I("Aviso de terremoto", language="es-ES", categories=("Geo",))], D.EARTHQUAKE),
    ("mudslide", [I("Debris Flow Warning", description="Mudslides and debris flows expected below burn scars."
                    )], D.LANDSLIDE),
    ("water shortage", [I("Water Emergency", headline="Stage 3 water shortage: mandatory water restrictions",
                          categories=("Env",))], D.DROUGHT),
    ("winter storm", [I("Winter Storm Warning", description="Snow and freezing rain.")], D.HEAVY_SNOW),
    ("negated tsunami keeps quake", [I("Earthquake Information", description="No tsunami threat.",
                                       categories=("Geo",))], D.EARTHQUAKE),
    ("negated flood", [I("Drought Statement", description="No flooding is expected; reservoirs at 12%.")],
     D.DROUGHT),
]  # fmt: skip


# More real-world shapes: NWS products, Environment Canada, PAGASA, AU fire services, JMA, 행정안전부, EU languages.
MORE: list[tuple[str, I]] = [
    ("flood", I("Flood Advisory", description="Minor flooding in low-lying and poor drainage areas.")),
    ("flood", I("Hydrologic Outlook")),
    (
        "flood",
        I(
            "Heavy Rainfall Warning",
            description="Orange rainfall warning: flooding in low-lying areas.",
            language="en-PH",
        ),
    ),
    (
        "flood",
        I("Rainfall Warning", description="Rainfall amounts of 50 to 80 mm are expected.", language="en-CA"),
    ),
    (
        "flood",
        I(
            "Severe Weather Warning",
            description="Heavy rainfall that may lead to flash flooding. Damaging winds.",
        ),
    ),
    (
        "other",
        I(
            "Severe Thunderstorm Warning",
            description="60 mph wind gusts and quarter size hail. Heavy rain may lead to localized flooding.",
        ),
    ),
    ("typhoon", I("Post-Tropical Cyclone Local Statement")),
    (
        "typhoon",
        I("Hurricane Local Statement", description="Life-threatening storm surge and flooding rainfall."),
    ),
    ("heavy_snow", I("Snow Squall Warning")),
    (
        "heavy_snow",
        I(
            "Winter Weather Advisory",
            description="Mixed precipitation. Total snow accumulations of 2 to 4 inches.",
        ),
    ),
    (
        "heavy_snow",
        I("Avalanche Warning", description="High avalanche danger in the backcountry.", categories=("Geo",)),
    ),
    ("other", I("Frost Advisory")),
    ("other", I("Wind Chill Warning")),
    ("other", I("Dense Fog Advisory")),
    (
        "other",
        I(
            "Air Quality Alert",
            description="Smoke from wildfires in Canada is causing unhealthy air quality.",
        ),
    ),
    ("other", I("Volcano Warning", description="Ashfall expected downwind.", categories=("Geo",))),
    ("earthquake", I("Tsunami Advisory", categories=("Geo",))),
    (
        "earthquake",
        I("Earthquake Early Warning", description="Strong shaking expected.", categories=("Geo",)),
    ),
    (
        "drought",
        I(
            "Drought Information Statement",
            description="Severe drought (D2) continues. Stage 2 water restrictions.",
        ),
    ),
    ("wildfire", I("Fire Weather Watch", codes=(("NationalWeatherService", "FWA"),))),
    (
        "wildfire",
        I(
            "Bushfire Advice",
            headline="Advice - Mount Stuart fire, Hobart",
            categories=("Fire",),
            language="en-AU",
        ),
    ),
    (
        "wildfire",
        I(
            "Emergency Warning",
            headline="Cudlee Creek bushfire: leave now",
            categories=("Fire",),
            language="en-AU",
        ),
    ),
    (
        "wildfire",
        I(
            "Evacuation Warning",
            description="Due to the Dixie Fire, residents of Greenville should prepare to leave.",
            categories=("Fire",),
        ),
    ),
    (
        "other",
        I(
            "Evacuation Order",
            description="A gas main rupture in the downtown core. Leave the area.",
            categories=("Safety",),
        ),
    ),
    ("other", I("Boil Water Advisory", categories=("Health",))),
    ("landslide", I("Debris Flow Warning")),
    (
        "landslide",
        I(
            "Rockfall Warning",
            description="Rockfall on Highway 99 near Lillooet. Road closed.",
            categories=("Geo", "Transport"),
        ),
    ),
    (
        "flood",
        I(
            "Dam Failure Warning",
            description="Oroville Dam spillway failure imminent.",
            codes=(("SAME", "CEM"),),
        ),
    ),
    (
        "typhoon",
        I("Cyclone Watch", description="Tropical Cyclone Alfred may approach the coast.", language="en-AU"),
    ),
    (
        "flood",
        I(
            "Flood Watch",
            description="Tropical moisture from the remnants of Hurricane Helene will bring heavy rain.",
        ),
    ),
    (
        "earthquake",
        I(
            "地震情報",
            description="震源地は能登半島沖。この地震による津波の心配はありません。",
            language="ja-JP",
            categories=("Geo",),
        ),
    ),
    ("flood", I("洪水警報", language="ja-JP")),
    ("typhoon", I("暴風警報", description="台風第10号の接近に伴い", language="ja-JP")),
    ("heavy_snow", I("大雪警報", language="ja-JP")),
    (
        "landslide",
        I("土砂災害警戒情報", description="大雨による土砂災害の危険度が高まっています", language="ja-JP"),
    ),
    (
        "flood",
        I(
            "호우특보",
            description="[행정안전부] 호우경보 발효, 하천변 산책로, 지하차도 등 위험지역 접근 금지",
            language="ko-KR",
        ),
    ),
    (
        "typhoon",
        I("태풍경보", description="태풍 카눈 북상으로 해안가 폭풍해일, 저지대 침수 우려", language="ko-KR"),
    ),
    (
        "earthquake",
        I(
            "지진 발생",
            description="일본 규슈 지역 규모 7.1 지진, 국내 영향 없음",
            language="ko-KR",
            categories=("Geo",),
        ),
    ),
    (
        "wildfire",
        I(
            "산불 재난 국가위기경보",
            description="산불 위기경보 '심각' 발령, 입산 자제",
            language="ko-KR",
            categories=("Fire",),
        ),
    ),
    (
        "other",
        I(
            "실종자 찾기",
            description="배회 중인 치매 어르신(78세)을 찾습니다. 키 160cm",
            language="ko-KR",
            categories=("Rescue",),
        ),
    ),
    (
        "other",
        I("폭염경보", description="낮 최고기온 35도 이상, 온열질환 주의, 물 충분히 마시기", language="ko-KR"),
    ),
    (
        "drought",
        I("재난문자", description="가뭄 심화로 농업용수 부족, 물 절약 동참 바랍니다", language="ko-KR"),
    ),
    (
        "heavy_snow",
        I("대설특보", description="내일까지 최고 20cm 이상 눈, 빙판길 교통안전 유의", language="ko-KR"),
    ),
    ("landslide", I("산사태주의보", description="산사태 위험지역 주민 대피", language="ko-KR")),
    ("flood", I("홍수주의보", description="한강 한강대교 지점 홍수주의보 발령", language="ko-KR")),
    (
        "other",
        I(
            "화재 발생",
            description="OO동 공장에서 화재가 발생하여 연기가 다량 발생하고 있습니다. 창문을 닫아 주십시오.",
            language="ko-KR",
            categories=("Fire",),
        ),
    ),
    (
        "other",
        I("교통통제", description="교통사고로 인해 OO대로 통제", language="ko-KR", categories=("Transport",)),
    ),
    ("other", I("Extreme Heat Warning", description="Hot and dry conditions; fire danger is elevated.")),
    (
        "drought",
        I(
            "Water Conservation Notice",
            description="Due to the ongoing drought, lawn watering is banned.",
            categories=("Env",),
        ),
    ),
    ("earthquake", I("Magnitude 5.8 Earthquake", language="en-IN", categories=("Geo",))),
    (
        "flood",
        I(
            "Flood Situation Report",
            description="Water level of river Kosi is above the danger mark.",
            language="en-IN",
        ),
    ),
    ("typhoon", I("Super Typhoon Warning", description="Super Typhoon Man-yi (Pepito) makes landfall.")),
    (
        "wildfire",
        I("Grassfire", description="Grass and scrub fire near the Stuart Highway", categories=("Fire",)),
    ),
    ("other", I("Police Incident", description="Armed offender. Stay indoors.", categories=("Security",))),
    (
        "wildfire",
        I(
            "Waldbrandgefahr",
            description="Hohe Waldbrandgefahr, Stufe 4",
            language="de-DE",
            categories=("Fire",),
        ),
    ),
    ("heavy_snow", I("Avviso neve", description="nevicate abbondanti", language="it-IT")),
    ("flood", I("Alerte crues", description="Vigilance rouge inondation", language="fr-FR")),
]


# Rain as a cause, wind as a weak hint, marine and India/PAGASA/AU/JMA product names.
MORE += [
    (
        "other",
        I(
            "Hurricane Force Wind Warning",
            description="Hurricane force winds of 65 kt over the outer waters.",
        ),
    ),
    ("other", I("Freeze Warning")),
    (
        "landslide",
        I(
            "재난문자",
            description="집중호우로 인한 토사 유출 및 급경사지 붕괴 우려",
            language="ko-KR",
            categories=("Geo",),
        ),
    ),
    (
        "drought",
        I("재난문자", description="가뭄으로 인한 생활용수 부족, 절수 운동에 참여 바랍니다", language="ko-KR"),
    ),
    (
        "flood",
        I(
            "재난문자",
            description="호우경보 발효 중. 산사태, 상습침수 등 위험지역 주민은 사전 대피",
            language="ko-KR",
        ),
    ),
    (
        "earthquake",
        I(
            "긴급재난문자",
            description="[행정안전부] 오늘 11:35 전남 고흥군 북쪽 12km 지역 규모 3.0 지진/낙하물로부터 몸 보호, "
            "진동 멈춘 후 야외 대피하며 여진 주의",
            language="ko-KR",
        ),
    ),
    (
        "typhoon",
        I(
            "재난문자",
            description="[행정안전부] 태풍 '카눈' 영향으로 강풍, 호우 예상. 해안가, 하천변 산책 자제",
            language="ko-KR",
        ),
    ),
    ("other", I("暴風警報", language="ja-JP")),
    ("heavy_snow", I("なだれ注意報", language="ja-JP")),
    ("flood", I("Orange Coastalevent Warning", params=(("awareness_type", "7; coastalevent"),))),
    (
        "flood",
        I("Yellow Storm Surge Warning", params=(("awareness_type", "7; coastalevent"),), language="en-GB"),
    ),
    ("heavy_snow", I("Orange Snow-Ice Warning", params=(("awareness_type", "2; snow-ice"),))),
    ("other", I("Thunderstorm & Lightning, Squall & Hail", language="en-IN")),
    ("flood", I("Very Heavy Rainfall", language="en-IN")),
    ("other", I("Cold Wave", language="en-IN")),
    ("heavy_snow", I("Avalanche", language="en-IN")),
    ("wildfire", I("Forest Fire", language="en-IN")),
    ("typhoon", I("Tropical Cyclone Bulletin", language="en-PH")),
    ("flood", I("Rainfall Advisory", language="en-PH")),
    ("other", I("Beach Hazards Statement")),
    (
        "wildfire",
        I(
            "Watch and Act",
            headline="Watch and Act - Fire at Yanchep",
            categories=("Fire",),
            language="en-AU",
        ),
    ),
    ("other", I("Heatwave Warning", language="en-AU")),
]


# Smoke is not the fire, fire services are not fires, IMD depressions are cyclones.
MORE += [
    ("other", I("Air Quality Alert", headline="Bushfire smoke across Sydney", categories=("Health",))),
    (
        "other",
        I(
            "Smoke Advisory",
            description="Smoke from the Bridge fire will reduce air quality.",
            categories=("Health",),
        ),
    ),
    (
        "other",
        I("Gas Leak", description="The fire department is on scene of a gas leak.", categories=("Safety",)),
    ),
    (
        "wildfire",
        I(
            "Evacuation Warning",
            description="Fire crews are battling the Creek Fire in dense forest.",
            categories=("Fire",),
        ),
    ),
    (
        "typhoon",
        I(
            "Deep Depression Warning",
            description="Deep Depression over the Bay of Bengal to intensify.",
            language="en-IN",
        ),
    ),
    ("flood", I("Flood Warning", description="Contact the fire department if trapped by flood waters.")),
    (
        "wildfire",
        I(
            "Bushfire Emergency Warning",
            description="NSW Rural Fire Service: the fire is burning towards Buxton.",
            categories=("Fire",),
        ),
    ),
    (
        "other",
        I("Stadium Notice", description="Flood lights out at the stadium tonight.", categories=("Infra",)),
    ),
]


# Codes outweigh event + headline; the ambiguous FRW and NWS LSW yield to a specific event text.
MORE += [
    (
        "flood",
        I(
            "Earthquake drill notice",
            headline="Earthquake",
            description="earthquake earthquake",
            codes=(("SAME", "FFW"),),
        ),
    ),
    (
        "other",
        I(
            "Structure Fire",
            headline="Apartment fire on Main St",
            codes=(("SAME", "FRW"),),
            categories=("Fire",),
        ),
    ),
    ("wildfire", I("Fire Warning", codes=(("SAME", "FRW"),), categories=("Fire",))),
    ("landslide", I("Landslide Warning", codes=(("NationalWeatherService", "LSW"),), categories=("Geo",))),
    ("flood", I("Lakeshore Flood Warning", codes=(("NationalWeatherService", "LSW"),))),
]


@pytest.mark.parametrize(("expected", "info"), MORE, ids=[f"{i}-{m[1].event}" for i, m in enumerate(MORE)])
def test_classify_more(expected: str, info: I) -> None:
    result = run(info)
    assert result.disaster.value == expected, result.reason


@pytest.mark.parametrize(
    ("event", "language", "expected"),
    [
        ("Waldbrandgefahr Stufe 4", "de-DE", D.WILDFIRE),
        ("Unwetterwarnung: Sturmflut", "de-DE", D.FLOOD),
        ("Aviso de inundação", "pt-BR", D.FLOOD),
        ("Peringatan dini banjir", "id-ID", D.FLOOD),
        ("Gempa bumi M6.1", "id-ID", D.EARTHQUAKE),
        ("Tanah longsor", "id-ID", D.LANDSLIDE),
        ("Cảnh báo lũ quét và sạt lở đất", "vi-VN", D.FLOOD),
        ("Tin bão khẩn cấp", "vi-VN", D.TYPHOON),
        ("颱風警報", "zh-TW", D.TYPHOON),
        ("Babala sa bagyo", "fil-PH", D.TYPHOON),
    ],
)
def test_classify_other_languages(event: str, language: str, expected: D) -> None:
    assert run(I(event, language=language)).disaster is expected


@pytest.mark.parametrize(("infos", "expected"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_classify_case(infos: list[I], expected: D) -> None:
    result = run(*infos)
    assert result.disaster is expected, result.reason
    assert 0.0 <= result.confidence <= 1.0


def test_event_code_confidence_is_high_and_names_the_code() -> None:
    result = run(I("Flash Flood Warning", codes=((SAME, "FFW"),)))
    assert result.confidence >= 0.9
    assert result.field == "eventCode SAME" and result.term == "FFW"
    assert result.reason == "eventCode SAME matched 'FFW'"


def test_confidence_orders_by_field_trust() -> None:
    by_code = run(I("Warning", codes=((SAME, "EQW"),), categories=("Geo",))).confidence
    by_event = run(I("Earthquake", categories=("Geo",))).confidence
    by_headline = run(I("Notice", headline="Earthquake felt in the city", categories=("Geo",))).confidence
    by_description = run(I("Notice", description="An earthquake was felt.", categories=("Geo",))).confidence
    assert by_code > by_event > by_headline > by_description > 0.3


def test_other_without_any_term_has_low_confidence() -> None:
    result = run(I("Community Announcement", description="Library closed Monday.", categories=("Other",)))
    assert result.disaster is D.OTHER and result.confidence <= 0.3
    assert result.term == "" and "no hazard term" in result.reason


def test_bilingual_alert_combines_evidence() -> None:
    # The Korean block's event is generic; the English block carries the hazard.
    ko = I("긴급재난문자", headline="[행정안전부] 안전에 유의 바랍니다", language="ko-KR")
    en = I("Emergency Alert", headline="Flash flooding along the Han River", language="en-US")
    result = run(ko, en)
    assert result.disaster is D.FLOOD and result.term.lower() == "flash flooding"


def test_competing_evidence_lowers_confidence() -> None:
    clean = run(I("Typhoon Warning"))
    mixed = run(I("Typhoon Warning", description="Flooding, landslides and flash floods in many areas."))
    assert clean.disaster is mixed.disaster is D.TYPHOON
    assert mixed.confidence < clean.confidence


def test_alert_without_info_is_other() -> None:
    data = build(I("x")).replace(b"<info>", b"<!--", 1).replace(b"</info>", b"-->", 1)
    result = classify(parse_alert(data))
    assert result.disaster is D.OTHER and result.confidence == 0.0


def test_hostile_long_repetitive_text_is_bounded() -> None:
    result = run(I("Notice", description="rain " * 100_000, categories=("Other",)))
    assert result.disaster is D.FLOOD and result.confidence < 0.7


def test_many_info_blocks_are_bounded() -> None:
    blocks = [I("Flood Warning")] + [I("Notice", description="rain " * 20, categories=("Other",))] * 2000
    alert = parse_alert(build(*blocks))
    assert len(alert.infos) == 2001
    result = classify(alert)
    assert result.disaster is D.FLOOD and result.field == "event"


def test_repeating_or_reordering_info_blocks_does_not_change_the_answer() -> None:
    from dataclasses import replace
    from pathlib import Path

    for path in sorted((Path(__file__).resolve().parents[1] / "samples").glob("*.xml")):
        alert = parse_alert(path.read_bytes())
        base = classify(alert)
        assert classify(replace(alert, infos=alert.infos * 2)).disaster is base.disaster, path.name
        assert classify(replace(alert, infos=alert.infos[::-1])).disaster is base.disaster, path.name
        assert classify(alert) == base  # deterministic
