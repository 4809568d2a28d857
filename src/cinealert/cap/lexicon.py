"""The hazard lexicon for :mod:`cinealert.cap.classify`: event codes and terms in English, Korean, Japanese,
Chinese and a few European languages, each with the disaster it points to and how strongly (0..1), and the
context patterns (vegetation, negation, side effect, cause) that weigh a match.

Only data: :mod:`cinealert.cap.vocabulary` compiles the terms, so a word can be added here without reading
matching code.

Decisions worth knowing (they are deliberate, and the tests pin them):

- **Tsunami -> earthquake.** Tsunami warnings are issued by seismic agencies, CAP files them under ``Geo``,
  EM-DAT classes tsunami as a geophysical/earthquake sub-type, and Korean calls it 지진해일 ("earthquake sea wave").
- **Storm surge -> typhoon.** NWS issues Storm Surge Warnings/Watches (SSW/SSA) only for tropical cyclones;
  a coastal flood without a cyclone is CFW/CFA -> flood.
- **Avalanche -> heavy_snow**: a snow hazard, and the scene that fits is a snow scene.
- **Ice storm / freezing rain -> heavy_snow** (weakly): the winter-storm family; cold waves alone are ``other``.
- **Dust storm -> other**, not drought: it is a wind event; drought is a slow water shortage.
- **Heavy rain -> flood**: rain warnings exist because of flooding (Meteoalarm ``10; rain`` too).
- **Wind alone -> other**, never typhoon: a gale or 강풍 warning is not a tropical cyclone. Wind terms are weak,
  so a wind warning that names the typhoon behind it (暴風警報 ... 台風第10号) is a typhoon.
- **SAME ``LEW`` is Law Enforcement Warning** (generic: police send it for evacuations of any cause), while the
  NWS code space uses ``LEW`` for Lake Effect Snow Warning. Codes are read in the space their ``valueName`` says.
- **NWS ``LSW``/``LSA``/``LSY`` are lakeshore flood products** (there is no landslide event code in SAME/NWS); they
  count for flood with reduced weight so that an event text saying "Landslide Warning" still wins.
- **Generic codes** (CEM, CDW, EVI, SPW, LAE, SAME LEW, SPS) carry no hazard: the text decides.
- **"fire" alone is ambiguous**: it is resolved by context across the alert — vegetation words (forest, acres,
  containment, 산림, 임야, a fire-service sender) make it wildfire; "house/building/chemical fire", "fire drill",
  "fireworks" are ``other``; with no context it leans wildfire at low weight, since public alerts about fires are
  mostly about wildfires.
"""

from __future__ import annotations

import re
from typing import Final

from cinealert.cap.model import DisasterType

FLOOD = DisasterType.FLOOD
LANDSLIDE = DisasterType.LANDSLIDE
DROUGHT = DisasterType.DROUGHT
WILDFIRE = DisasterType.WILDFIRE
SNOW = DisasterType.HEAVY_SNOW
TYPHOON = DisasterType.TYPHOON
QUAKE = DisasterType.EARTHQUAKE
OTHER = DisasterType.OTHER

FIRE: Final = "fire?"
"""Pseudo-class of an unqualified fire mention, resolved to wildfire or other by context."""

NEUTRAL: Final = "neutral"
"""Words that contain a hazard word but name no hazard ("fire department", "Rural Fire Service"): they only
hide the hazard word inside them."""

Target = DisasterType | str

# -- event codes ---------------------------------------------------------------------------------------------

GENERIC: Final = None
"""Codes that say "an alert" without saying which hazard."""

SAME_CODES: Final[dict[str, tuple[Target | None, float]]] = {
    # flood
    "FFW": (FLOOD, 1.0), "FFA": (FLOOD, 1.0), "FFS": (FLOOD, 1.0), "FLW": (FLOOD, 1.0), "FLA": (FLOOD, 1.0),
    "FLS": (FLOOD, 1.0), "CFW": (FLOOD, 1.0), "CFA": (FLOOD, 1.0),
    # winter
    "BZW": (SNOW, 1.0), "WSW": (SNOW, 1.0), "WSA": (SNOW, 0.9), "AVW": (SNOW, 0.9), "AVA": (SNOW, 0.8),
    "ISW": (SNOW, 0.7),
    # tropical cyclones and their surge
    "HUW": (TYPHOON, 1.0), "HUA": (TYPHOON, 1.0), "HLS": (TYPHOON, 1.0), "TRW": (TYPHOON, 1.0),
    "TRA": (TYPHOON, 1.0), "TYW": (TYPHOON, 1.0), "TYA": (TYPHOON, 1.0), "SSW": (TYPHOON, 0.9),
    "SSA": (TYPHOON, 0.9), "EWW": (TYPHOON, 0.8),
    # fire: FRW can be a structure fire, so it yields to an event text that says so
    "FRW": (WILDFIRE, 0.55), "RFW": (WILDFIRE, 1.0), "FWW": (WILDFIRE, 1.0), "FWA": (WILDFIRE, 0.9),
    # geophysical
    "EQW": (QUAKE, 1.0), "TSW": (QUAKE, 1.0), "TSA": (QUAKE, 1.0), "TSY": (QUAKE, 0.9),
    "DGT": (DROUGHT, 0.9),
    # not a natural disaster of ours
    "CAE": (OTHER, 1.0), "HMW": (OTHER, 1.0), "NUW": (OTHER, 1.0), "RHW": (OTHER, 1.0), "TOR": (OTHER, 1.0),
    "TOA": (OTHER, 1.0), "SVR": (OTHER, 1.0), "SVA": (OTHER, 1.0), "SVS": (OTHER, 0.9), "HWW": (OTHER, 0.9),
    "HWA": (OTHER, 0.9), "DSW": (OTHER, 0.9), "VOW": (OTHER, 1.0), "VOA": (OTHER, 1.0), "FZW": (OTHER, 0.9),
    "EAN": (OTHER, 1.0), "EAT": (OTHER, 1.0), "NIC": (OTHER, 1.0), "NPT": (OTHER, 1.0), "NMN": (OTHER, 1.0),
    "DMO": (OTHER, 1.0), "RMT": (OTHER, 1.0), "RWT": (OTHER, 1.0), "TOE": (OTHER, 1.0), "BLU": (OTHER, 1.0),
    "ADR": (OTHER, 0.8), "SMW": (OTHER, 0.8),
    # generic: the text decides
    "CEM": (GENERIC, 0.0), "CDW": (GENERIC, 0.0), "EVI": (GENERIC, 0.0), "SPW": (GENERIC, 0.0),
    "LAE": (GENERIC, 0.0), "LEW": (GENERIC, 0.0), "SPS": (GENERIC, 0.0),
}  # fmt: skip

NWS_CODES: Final[dict[str, tuple[Target | None, float]]] = {
    **SAME_CODES,
    "LEW": (SNOW, 1.0), "LEA": (SNOW, 0.9), "WWY": (SNOW, 0.7), "SQW": (SNOW, 0.9), "LEY": (SNOW, 0.7),
    "FAW": (FLOOD, 1.0), "FAA": (FLOOD, 1.0), "FAY": (FLOOD, 0.8), "FLY": (FLOOD, 0.8), "CFY": (FLOOD, 0.8),
    "CFS": (FLOOD, 0.8), "LSW": (FLOOD, 0.4), "LSA": (FLOOD, 0.4), "LSY": (FLOOD, 0.4),
    "EHW": (OTHER, 1.0), "EHA": (OTHER, 1.0), "XHW": (OTHER, 1.0), "HTY": (OTHER, 1.0), "ECW": (OTHER, 1.0),
    "WCW": (OTHER, 1.0), "WCY": (OTHER, 1.0), "WIY": (OTHER, 0.9), "FGY": (OTHER, 0.9), "DSY": (OTHER, 0.9),
    "FRY": (OTHER, 0.8), "HZW": (OTHER, 0.8), "HFW": (OTHER, 0.8), "GLW": (OTHER, 0.8), "SRW": (OTHER, 0.8),
}  # fmt: skip

SAME_NAMES: Final = frozenset({"SAME", "EAS"})
NWS_NAMES: Final = frozenset({"NATIONALWEATHERSERVICE", "NWS"})

VTEC_PHENOMENA: Final[dict[str, Target]] = {
    "FF": FLOOD, "FA": FLOOD, "FL": FLOOD, "CF": FLOOD, "LS": FLOOD, "HY": FLOOD,
    "WS": SNOW, "BZ": SNOW, "LE": SNOW, "IS": SNOW, "WW": SNOW, "SQ": SNOW, "AV": SNOW,
    "HU": TYPHOON, "TR": TYPHOON, "TY": TYPHOON, "SS": TYPHOON, "EW": TYPHOON,
    "FW": WILDFIRE, "TS": QUAKE,
    "TO": OTHER, "SV": OTHER, "HW": OTHER, "WI": OTHER, "EH": OTHER, "XH": OTHER, "HT": OTHER, "EC": OTHER,
    "WC": OTHER, "FZ": OTHER, "FR": OTHER, "FG": OTHER, "SM": OTHER, "DS": OTHER, "DU": OTHER, "AQ": OTHER,
}  # fmt: skip
VTEC: Final = re.compile(r"/[OTEX]\.[A-Z]{3}\.[A-Z]{4}\.([A-Z]{2})\.[WAYSFON]\.")

# Meteoalarm ``awareness_type`` ("12; flooding"): number -> (target, strength). Wind (1) is not a typhoon.
AWARENESS_TYPES: Final[dict[int, tuple[Target, float]]] = {
    1: (OTHER, 0.8), 2: (SNOW, 0.9), 3: (OTHER, 0.9), 4: (OTHER, 0.9), 5: (OTHER, 0.9), 6: (OTHER, 0.9),
    7: (FLOOD, 0.6), 8: (WILDFIRE, 1.0), 9: (SNOW, 0.8), 10: (FLOOD, 0.8), 12: (FLOOD, 1.0), 13: (FLOOD, 1.0),
}  # fmt: skip
AWARENESS_NAMES: Final[dict[str, int]] = {
    "wind": 1, "snow-ice": 2, "snow/ice": 2, "thunderstorm": 3, "thunderstorms": 3, "fog": 4,
    "high-temperature": 5, "extreme high temperature": 5, "low-temperature": 6, "extreme low temperature": 6,
    "coastalevent": 7, "coastal event": 7, "forest-fire": 8, "forestfire": 8, "forest fire": 8,
    "avalanches": 9, "avalanche": 9, "rain": 10, "flooding": 12, "flood": 12, "rain-flood": 13, "rain flood": 13,
}  # fmt: skip

# -- terms ---------------------------------------------------------------------------------------------------
# Latin-script terms are regex fragments matched case-insensitively between non-letters; a space stands for
# any run of spaces, hyphens or underscores (so "forestFire" and "forest-fire" match "forest fire").
# CJK/Hangul terms are matched as substrings: those scripts glue particles onto words.

LATIN: Final[tuple[tuple[str, Target, float], ...]] = (
    # flood
    (r"flash floods?(?:ing)?", FLOOD, 1.0),
    (r"flood(?:s|ing|ed|water|waters|plain|plains)?", FLOOD, 1.0),
    (r"inundat(?:ion|ions|ed|ing|e|es)", FLOOD, 0.9),
    (r"(?:river|creek|stream) (?:overflow(?:s|ing)?|over(?:topping|flowing))", FLOOD, 0.9),
    (r"overflow(?:ing)? (?:of )?(?:the )?(?:river|rivers|banks|creek)", FLOOD, 0.9),
    (r"(?:dam|levee|dike|dyke) (?:break|breach|failure|burst)(?:es|ed)?", FLOOD, 1.0),
    (r"high water", FLOOD, 0.5),
    (r"hydrologic(?:al)?", FLOOD, 0.6),
    (r"(?:heavy|torrential|intense|extreme|excessive) (?:rain|rainfall|rains|downpours?)", FLOOD, 0.8),
    (r"rain ?storms?", FLOOD, 0.7),
    (r"downpours?|cloudbursts?", FLOOD, 0.7),
    (r"rain(?:s|fall|falls)?", FLOOD, 0.4),
    (r"monsoon", FLOOD, 0.5),
    (r"coastal flood(?:ing|s)?", FLOOD, 1.0),
    (r"inondations?|crues?", FLOOD, 0.9),
    (r"(?:hochwasser|überschwemmung|überflutung|starkregen|dauerregen|sturmflut)[a-zäöüß]*", FLOOD, 0.9),
    (r"inundaç(?:ão|ões)|enchentes?|cheias?|alagamentos?", FLOOD, 0.9),
    (r"banjir|genangan", FLOOD, 0.9),
    (r"lũ(?: lụt| quét)?|lụt|ngập(?: lụt| úng)?", FLOOD, 0.9),
    (r"inundaci(?:ón|on|ones)|alluvion(?:e|i)|allagamenti|esondazion(?:e|i)", FLOOD, 0.9),
    (r"baha|pagbaha", FLOOD, 0.9),
    # landslide
    (r"land ?slides?|land ?slips?|mud ?slides?|mud ?flows?", LANDSLIDE, 1.0),
    (r"debris (?:flows?|slides?|torrents?)", LANDSLIDE, 1.0),
    (r"rock ?(?:falls?|slides?)|slope (?:failure|collapse)s?", LANDSLIDE, 1.0),
    (r"glissements? de terrain|erdrutsch(?:e)?|hangrutsch(?:ung)?|fran(?:a|e)|deslizamientos?", LANDSLIDE, 1.0),
    (r"(?:pag)?guho ng lupa", LANDSLIDE, 1.0),
    (r"(?:erdrutsch|hangrutsch|murgang|murenabgang|felssturz|steinschlag)[a-zäöüß]*", LANDSLIDE, 1.0),
    (r"deslizamentos?(?: de terra)?|(?:tanah )?longsor|sạt lở(?: đất)?", LANDSLIDE, 1.0),
    # drought
    (r"droughts?|drought-?stricken", DROUGHT, 1.0),
    (r"water (?:shortages?|scarcity|rationing|restrictions?|emergency)", DROUGHT, 0.9),
    (r"dry spells?|megadrought", DROUGHT, 0.8),
    (r"sécheresse|(?:dürre|trockenheit)[a-zäöüß]*|sequía|siccità|estiagem|kekeringan|hạn hán|tagtuyot", DROUGHT, 1.0),
    # wildfire
    (r"wild ?fires?|wildland fires?|bush ?fires?|forest fires?|grass ?fires?|brush ?fires?", WILDFIRE, 1.0),
    (r"vegetation fires?|scrub fires?|veld ?fires?|peat fires?|hill fires?", WILDFIRE, 1.0),
    (r"red flag (?:warning|conditions?)", WILDFIRE, 1.0),
    (r"fire weather", WILDFIRE, 0.9),
    (r"(?:total )?fire bans?", WILDFIRE, 0.8),
    (r"(?:catastrophic |extreme |severe |high |very high )?fire danger(?: rating)?", WILDFIRE, 0.8),
    (r"spot fires?|ember attacks?|embers", WILDFIRE, 0.7),
    (r"(?:waldbr(?:and|ände)|vegetationsbr(?:and|ände)|flächenbr(?:and|ände))[a-zäöüß]*|feux? de (?:forêt|végétation)",
     WILDFIRE, 1.0),
    (r"incendios? forestal(?:es)?|incendi(?:o)? boschiv(?:o|i)|incêndios? florest(?:al|ais)|incêndios? rura(?:l|is)",
     WILDFIRE, 1.0),
    (r"kebakaran hutan(?: dan lahan)?|karhutla|cháy rừng|sunog sa kagubatan", WILDFIRE, 1.0),
    (r"fires?|blaze", FIRE, 0.5),
    # heavy snow
    (r"blizzards?|snow ?storms?|winter storms?|snow squalls?|whiteouts?", SNOW, 1.0),
    (r"(?:heavy|significant|intense|excessive) snow(?:fall)?", SNOW, 1.0),
    (r"lake effect snow", SNOW, 1.0),
    (r"snow ?fall|snow accumulations?|snowdrifts?", SNOW, 0.8),
    (r"avalanches?", SNOW, 0.9),
    (r"ice storms?", SNOW, 0.7),
    (r"freezing rain|sleet", SNOW, 0.5),
    (r"snow(?:s|ing|y)?", SNOW, 0.5),
    (r"(?:schneefall|schneesturm|schneeverwehung|lawine|starkschneefall)[a-zäöüß]*|chutes? de neige|tempête de neige",
     SNOW, 0.9),
    (r"nevadas?|nevicat(?:a|e)|nevões?|valanghe|valanga|aludes?|salju lebat", SNOW, 0.9),
    # typhoon
    (r"typhoons?|super typhoons?|hurricanes?", TYPHOON, 1.0),
    (r"tropical (?:storms?|cyclones?|depressions?)", TYPHOON, 1.0),
    (r"(?:severe )?cyclonic storms?|cyclones?", TYPHOON, 0.9),
    (r"storm surges?", TYPHOON, 0.8),
    (r"tropical cyclone wind signal|wind signal no\.? ?\d|tcws", TYPHOON, 1.0),
    (r"eye ?wall|landfall", TYPHOON, 0.6),
    (r"bagyo(?:ng)?|ouragans?|huracan(?:es)?|huracán|furacão|uragan(?:o|i)|taifun(?:e)?|topan|siklon(?: tropis)?",
     TYPHOON, 1.0),
    (r"bão(?: nhiệt đới)?|áp thấp nhiệt đới", TYPHOON, 0.9),
    # earthquake
    (r"earthquakes?|quakes?|aftershocks?|shake ?alert", QUAKE, 1.0),
    (r"tsunamis?|tidal waves?", QUAKE, 1.0),
    (r"tremors?|seismic(?:ity)?|ground shaking|strong shaking", QUAKE, 0.8),
    (r"epicent(?:er|re)s?|hypocent(?:er|re)s?", QUAKE, 0.8),
    (r"magnitude ?\d", QUAKE, 0.7),
    (r"erdbeben[a-zäöüß]*|séismes?|seismes?|terremotos?|sismos?|lindol|gempa(?: bumi)?|động đất|sóng thần", QUAKE, 1.0),
    # other: non-natural hazards and natural ones that are not ours
    (r"(?:house|home|building|structure|structural|apartment|residential|commercial|warehouse|factory|plant|"
     r"industrial|chemical|refinery|vehicle|car|truck|kitchen|electrical|tunnel|ship|vessel|hotel|hospital) fires?",
     OTHER, 1.0),
    (r"fires? (?:at|in) (?:an? |the )?(?:[a-z]+ )?(?:building|factory|plant|warehouse|apartment|house|home|"
     r"facility|refinery|mall|hospital|school|hotel|tower|complex)", OTHER, 1.0),
    (r"fire ?drills?|fire ?works|fire ?crackers|fire ?alarms?|fire ?arms?|cease ?fire|fire ?hydrants?", OTHER, 1.0),
    (r"(?:bush ?fire|wild ?fire|forest fire|fire) smoke|"
     r"smoke (?:from|of) (?:the )?(?:[a-z]+ )?(?:bush ?|wild ?)?fires?", OTHER, 0.9),
    (r"fire (?:departments?|services?|brigades?|stations?|marshals?|chiefs?|engines?|trucks?|exits?|"
     r"extinguishers?|officials?|authorit(?:y|ies)|and rescue|rescue|emergency services)|firefighters?|"
     r"fire fighters?|rural fire|country fire|fire ?fighting", NEUTRAL, 0.0),
    (r"flood ?lights?|flood ?lit", NEUTRAL, 0.0),
    (r"deep depression|cyclonic circulation", TYPHOON, 0.7),
    (r"hazardous (?:materials?|substances?|chemicals?)|haz ?mat", OTHER, 1.0),
    (r"chemical(?:s)? (?:leaks?|spills?|releases?|plant|incident|emergency)|toxic (?:gas|fumes|plume|cloud)",
     OTHER, 1.0),
    (r"gas leaks?|ammonia|chlorine|toxic|spills?|leaks?", OTHER, 0.6),
    (r"amber alert|child abductions?|abduct(?:ed|ion|ions)|kidnapp?(?:ed|ing)?|missing (?:child|person|girl|boy)",
     OTHER, 1.0),
    (r"blue alert|silver alert", OTHER, 0.8),
    (r"nuclear|radiolog(?:ical|y)|radiation|radioactive", OTHER, 0.9),
    (r"terroris[mt]s?|active shooter|shooting|bomb threats?|explosives?|missiles?|air raids?", OTHER, 1.0),
    (r"civil unrest|riots?", OTHER, 0.8),
    (r"power outages?|blackouts?|911 outage|telephone outage|boil water", OTHER, 0.9),
    (r"cold waves?|extreme cold|wind chills?|hard freeze|freeze|frost", OTHER, 0.9),
    (r"hurricane force winds?|storm force winds?", OTHER, 0.9),
    (r"heat ?waves?|extreme heat|excessive heat|heat (?:advisory|warning|emergency)|high temperatures?",
     OTHER, 1.0),
    (r"tornado(?:es|s)?|waterspouts?|thunderstorms?|hail(?:storms?)?|lightning", OTHER, 0.9),
    (r"(?:high|strong|damaging|gale force) winds?|gales?|wind advisory", OTHER, 0.3),
    (r"dense fog|fog|air quality|smog|dust storms?|sand ?storms?|haboob|blowing dust", OTHER, 0.8),
    (r"volcan(?:o|oes|ic)|ash ?fall|lahars?|eruptions?", OTHER, 0.9),
    (r"pandemic|epidemic|outbreak|covid(?:-19)?|infectious", OTHER, 0.9),
    (r"high surf|rip currents?|sinkholes?", OTHER, 0.8),
    (r"(?:required )?(?:weekly|monthly) test|test message|this is a test", OTHER, 0.8),
    (r"extra-?tropical (?:cyclones?|storms?|lows?)", OTHER, 0.8),
    (r"drills?", OTHER, 0.3),
)  # fmt: skip

CJK: Final[tuple[tuple[str, Target, float], ...]] = (
    # Korean: flood
    ("홍수", FLOOD, 1.0),
    ("범람", FLOOD, 1.0),
    ("침수", FLOOD, 0.9),
    ("집중호우", FLOOD, 0.9),
    ("호우", FLOOD, 0.9),
    ("폭우", FLOOD, 0.9),
    ("월류", FLOOD, 0.8),
    ("댐 방류", FLOOD, 0.7),
    ("댐방류", FLOOD, 0.7),
    ("하천", FLOOD, 0.4),
    ("제방", FLOOD, 0.5),
    ("장마", FLOOD, 0.5),
    ("저지대", FLOOD, 0.3),
    ("해안 침수", FLOOD, 1.0),
    ("풍수해", FLOOD, 0.5),
    ("저수지 붕괴", FLOOD, 1.0),
    ("댐 붕괴", FLOOD, 1.0),
    ("제방 붕괴", FLOOD, 1.0),
    # Korean: landslide
    ("산사태", LANDSLIDE, 1.0),
    ("토석류", LANDSLIDE, 1.0),
    ("땅밀림", LANDSLIDE, 0.9),
    ("낙석", LANDSLIDE, 0.9),
    ("사면 붕괴", LANDSLIDE, 0.9),
    ("사면붕괴", LANDSLIDE, 0.9),
    ("급경사지", LANDSLIDE, 0.7),
    ("토사 유출", LANDSLIDE, 0.8),
    ("토사유출", LANDSLIDE, 0.8),
    ("토사", LANDSLIDE, 0.5),
    ("축대 붕괴", LANDSLIDE, 0.7),
    ("옹벽 붕괴", LANDSLIDE, 0.6),
    # Korean: drought
    ("가뭄", DROUGHT, 1.0),
    ("물부족", DROUGHT, 1.0),
    ("물 부족", DROUGHT, 1.0),
    ("제한급수", DROUGHT, 1.0),
    ("제한 급수", DROUGHT, 1.0),
    ("급수 제한", DROUGHT, 1.0),
    ("용수 부족", DROUGHT, 0.9),
    ("식수 부족", DROUGHT, 0.8),
    ("저수율", DROUGHT, 0.6),
    ("물 절약", DROUGHT, 0.6),
    ("절수", DROUGHT, 0.6),
    ("물절약", DROUGHT, 0.6),
    # Korean: wildfire
    ("산불", WILDFIRE, 1.0),
    ("들불", WILDFIRE, 0.9),
    ("임야 화재", WILDFIRE, 1.0),
    ("임야화재", WILDFIRE, 1.0),
    ("산림화재", WILDFIRE, 1.0),
    ("산림 화재", WILDFIRE, 1.0),
    ("건조경보", WILDFIRE, 0.4),
    ("건조주의보", WILDFIRE, 0.4),
    ("건조특보", WILDFIRE, 0.4),
    ("화재", FIRE, 0.5),
    # Korean: heavy snow
    ("대설", SNOW, 1.0),
    ("폭설", SNOW, 1.0),
    ("눈폭풍", SNOW, 1.0),
    ("적설", SNOW, 0.8),
    ("강설", SNOW, 0.7),
    ("많은 눈", SNOW, 0.8),
    ("눈사태", SNOW, 0.9),
    ("결빙", SNOW, 0.3),
    ("빙판", SNOW, 0.3),
    # Korean: typhoon
    ("태풍", TYPHOON, 1.0),
    ("폭풍해일", TYPHOON, 0.8),
    ("열대저압부", TYPHOON, 0.9),
    ("허리케인", TYPHOON, 1.0),
    ("사이클론", TYPHOON, 0.9),
    # Korean: earthquake
    ("지진", QUAKE, 1.0),
    ("여진", QUAKE, 1.0),
    ("지진해일", QUAKE, 1.0),
    ("쓰나미", QUAKE, 1.0),
    ("진앙", QUAKE, 0.8),
    ("진원", QUAKE, 0.8),
    ("흔들림", QUAKE, 0.5),
    # Korean: other
    ("한파", OTHER, 1.0),
    ("폭염", OTHER, 1.0),
    ("무더위", OTHER, 0.8),
    ("황사", OTHER, 0.9),
    ("미세먼지", OTHER, 0.9),
    ("유해화학물질", OTHER, 1.0),
    ("화학물질", OTHER, 0.9),
    ("화학사고", OTHER, 1.0),
    ("화학", OTHER, 0.7),
    ("폭발", OTHER, 0.8),
    ("가스 누출", OTHER, 1.0),
    ("가스누출", OTHER, 1.0),
    ("누출", OTHER, 0.6),
    ("유출", OTHER, 0.5),
    ("방사능", OTHER, 0.9),
    ("방사선", OTHER, 0.8),
    ("원전", OTHER, 0.8),
    ("테러", OTHER, 1.0),
    ("실종", OTHER, 0.8),
    ("배회", OTHER, 0.5),
    ("유괴", OTHER, 1.0),
    ("앰버", OTHER, 1.0),
    ("정전", OTHER, 0.9),
    ("단수", OTHER, 0.6),
    ("감염병", OTHER, 0.9),
    ("코로나", OTHER, 0.9),
    ("공습", OTHER, 1.0),
    ("민방공", OTHER, 1.0),
    ("미사일", OTHER, 1.0),
    ("강풍", OTHER, 0.25),
    ("너울", OTHER, 0.5),
    ("풍랑", OTHER, 0.4),
    ("뇌우", OTHER, 0.7),
    ("낙뢰", OTHER, 0.7),
    ("우박", OTHER, 0.6),
    ("안개", OTHER, 0.6),
    ("화산", OTHER, 0.9),
    ("싱크홀", OTHER, 0.8),
    ("훈련", OTHER, 0.3),
    ("공장 화재", OTHER, 1.0),
    ("공장화재", OTHER, 1.0),
    ("건물 화재", OTHER, 1.0),
    ("건물화재", OTHER, 1.0),
    ("아파트 화재", OTHER, 1.0),
    ("아파트화재", OTHER, 1.0),
    ("주택 화재", OTHER, 1.0),
    ("주택화재", OTHER, 1.0),
    ("창고 화재", OTHER, 1.0),
    ("상가 화재", OTHER, 1.0),
    ("차량 화재", OTHER, 1.0),
    ("선박 화재", OTHER, 1.0),
    ("터널 화재", OTHER, 1.0),
    ("화재훈련", OTHER, 1.0),
    ("소방훈련", OTHER, 1.0),
    ("불꽃놀이", OTHER, 1.0),
    # Japanese
    ("洪水", FLOOD, 1.0),
    ("氾濫", FLOOD, 1.0),
    ("浸水", FLOOD, 0.9),
    ("大雨", FLOOD, 0.9),
    ("豪雨", FLOOD, 0.9),
    ("土砂災害", LANDSLIDE, 1.0),
    ("土砂崩れ", LANDSLIDE, 1.0),
    ("がけ崩れ", LANDSLIDE, 1.0),
    ("崖崩れ", LANDSLIDE, 1.0),
    ("土石流", LANDSLIDE, 1.0),
    ("地すべり", LANDSLIDE, 1.0),
    ("干ばつ", DROUGHT, 1.0),
    ("渇水", DROUGHT, 1.0),
    ("山火事", WILDFIRE, 1.0),
    ("林野火災", WILDFIRE, 1.0),
    ("大雪", SNOW, 1.0),
    ("暴風雪", SNOW, 0.9),
    ("雪崩", SNOW, 0.9),
    ("台風", TYPHOON, 1.0),
    ("高潮", TYPHOON, 0.8),
    ("緊急地震速報", QUAKE, 1.0),
    ("地震", QUAKE, 1.0),
    ("津波", QUAKE, 1.0),
    ("余震", QUAKE, 1.0),
    ("震度", QUAKE, 0.7),
    ("熱中症", OTHER, 0.9),
    ("猛暑", OTHER, 0.9),
    ("火災", FIRE, 0.5),
    ("暴風", OTHER, 0.25),
    ("波浪", OTHER, 0.5),
    ("雷", OTHER, 0.5),
    ("竜巻", OTHER, 0.9),
    ("噴火", OTHER, 0.9),
    ("高温", OTHER, 0.7),
    ("乾燥", WILDFIRE, 0.3),
    ("なだれ", SNOW, 0.9),
    ("融雪", FLOOD, 0.5),
    # Chinese (simplified)
    ("暴雨", FLOOD, 0.9),
    ("山洪", FLOOD, 1.0),
    ("滑坡", LANDSLIDE, 1.0),
    ("泥石流", LANDSLIDE, 1.0),
    ("干旱", DROUGHT, 1.0),
    ("森林火灾", WILDFIRE, 1.0),
    ("暴雪", SNOW, 1.0),
    ("台风", TYPHOON, 1.0),
    ("海啸", QUAKE, 1.0),
    ("火灾", FIRE, 0.5),
    # Chinese (traditional, Taiwan CWA style)
    ("颱風", TYPHOON, 1.0),
    ("豪雨", FLOOD, 0.9),
    ("淹水", FLOOD, 0.9),
    ("山崩", LANDSLIDE, 1.0),
    ("乾旱", DROUGHT, 1.0),
    ("森林火災", WILDFIRE, 1.0),
    ("海嘯", QUAKE, 1.0),
)

# Korean fires in or at a named structure, with the particles Korean puts between ("공장에서 발생한 화재").
CJK_REGEX: Final[tuple[tuple[str, Target, float], ...]] = (
    (r"(?:공장|건물|아파트|주택|창고|상가|빌딩|차량|선박|터널|병원|학교|호텔|시장|물류센터|점포|식당|다중이용시설|"
     r"빌라|오피스텔|요양원|지하철|발전소|화학단지|산업단지|공단)\s*(?:에서|의|내|안|인근)?\s*(?:발생한\s*)?"
     r"(?:대형\s*)?화재", OTHER, 1.0),
)  # fmt: skip

# Context that decides what an unqualified "fire"/화재 means, looked for anywhere in the alert.
VEGETATION: Final = re.compile(
    r"(?<![a-z])(?:forests?|woodlands?|brush|bush|grass(?:lands?)?|vegetation|wildland|scrub|acres|hectares|"
    r"containment|canyons?|hillsides?|timber|national forest|fire ?lines?|fire (?:crews|fighters)|"
    r"cal ?fire|rural fire service|country fire authority|fire and rescue nsw|forest service|dry fuels?)(?![a-z])"
    r"|산림|임야|야산|숲|산중|입산|등산|산자락|산림청|헥타르|山林|森林|林野",
    re.IGNORECASE,
)

NEGATION_BEFORE: Final = re.compile(
    r"(?<![a-z])(?:no|not|without|zero)\s+(?:(?:threat|risk|danger|chance|sign|signs|reports?)\s+of\s+)?"
    r"(?:an?\s+|the\s+)?$",
    re.IGNORECASE,
)
NEGATION_AFTER: Final = re.compile(
    r"^[^.;:!?]{0,12}(?:(?:is|are|was|were) not (?:expected|forecast|anticipated|likely|occurring)|not expected)"
    r"|^\s*(?:발생\s*)?(?:(?:가능성|우려|위험|위협|염려)\s*)?(?:은|는|이|가)?\s*(?:없(?!도록)|아님|아닙니다)"
    r"|^[^。]{0,8}(?:心配はありません|ありません|なし)",
    re.IGNORECASE,
)
SIDE_EFFECT_BEFORE: Final = re.compile(
    r"(?<![a-z])(?:possible|possibility of|potential(?: for)?|risk of|threat of|chance of|cause[sd]?|causing|"
    r"lead(?:s|ing)? to|result(?:s|ing)? in|trigger(?:s|ed|ing)?|prone to|including|as well as|along with|"
    r"accompanied by|associated)(?![a-z])[^.;:!?]{0,40}$"
    r"|(?:인한|따른|동반한|동반된)\s*[^.。]{0,8}$",
    re.IGNORECASE,
)
SIDE_EFFECT_AFTER: Final = re.compile(r"^[^.。]{0,6}(?:우려|가능성|유발|위험이 있|恐れ|おそれ)")


RAIN: Final = frozenset({
    r"(?:heavy|torrential|intense|extreme|excessive) (?:rain|rainfall|rains|downpours?)", r"rain ?storms?",
    r"downpours?|cloudbursts?", r"rain(?:s|fall|falls)?", r"monsoon",
    "집중호우", "호우", "폭우", "장마", "大雨", "豪雨", "暴雨",
})  # fmt: skip
"""Rain means flood only when rain is the subject: "집중호우로 인한 토사 유출" and "landslides due to heavy rain" warn
about what the rain causes, so a rain term in cause position is damped (see :data:`CAUSE_AFTER`)."""

CAUSE_AFTER: Final = re.compile(
    r"^\s*(?:(?:으)?로\s*(?:인한|인해|인하여|말미암은)|에\s*(?:따른|의한)|による|の影響|导致|引发)"
)
CAUSE_BEFORE: Final = re.compile(
    r"(?<![a-z])(?:due to|caused by|owing to|because of|following|after|triggered by|induced by|from)\s+"
    r"(?:the\s+)?(?:[a-z0-9-]+\s+){0,3}$",
    re.IGNORECASE,
)
