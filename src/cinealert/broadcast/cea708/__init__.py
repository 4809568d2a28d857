"""A/53 closed captions in the coded video: CEA-608 CC1 and CEA-708 DTVCC services in ``cc_data``.

Why this exists: US broadcast (ATSC 1.0) needs captions inside the video elementary stream, and FFmpeg has no
608/708 encoder while PyAV's frame side data is read-only. So the ``cc_data`` is built here and spliced into
each coded picture as the encoder hands it out (``carriage.py``):

* H.264 (A/72): an SEI NAL unit (``user_data_registered_itu_t_t35``: country 0xB5, provider 0x0031, ``GA94``,
  type 0x03) placed before the access unit's first slice, with emulation prevention applied.
* MPEG-2 video (A/53 main): picture user data (``0x000001B2`` ``GA94`` 0x03) after the picture header and its
  extensions, before the first slice.

What is carried, at the A/53 rate of ``cc_count`` triplets a picture (600 a second, 9600 bit/s: 20 at 29.97):

* **CEA-608 CC1** on field 1 (``cc_type`` 0, the "608 compatibility bytes", ``cc608.py``): one language, pop-on,
  at the top of the picture, one byte pair per 1/29.97 s in the first triplets. Latin only: English when the
  alert has it, else its first language in Latin script. Field 2 is present and marked invalid.
* **CEA-708 DTVCC** (``dtvcc.py``): caption channel packets (``cc_type`` 3 then 2) in the triplets after the
  608 ones, one packet a picture when something is due (at most 18 triplets, 8.6 kbit/s, at 29.97 fps).
  Service 1 is CC1's language (the same text), services 2, 3, ... the alert's other languages, one each;
  with no Latin language, service 1 is the first language. Each service shows its language's cues pop-on in
  a window at the top (DefineWindow, DisplayWindows / HideWindows at the cue times, DeleteWindows at the end).
  Characters: G0/G1 directly, G2 after EXT1, and Korean as 16-bit KS X 1001 codes (EUC-KR byte pairs) with
  P16, the Korean terrestrial (TTA) practice. Japanese and Chinese would take the same P16 route with their
  national codes (JIS X 0208, GB 2312) but are not implemented: such languages get no service (logged as
  ``not_carried``) and stay in the WebVTT/TTML sidecars; a stray character nothing carries is replaced by a
  stand-in or dropped, the drops counted in the ``broadcast.cea708_dropped_characters`` log event.
* The PMT's video elementary stream gets the ATSC caption_service_descriptor (A/65, tag 0x86) naming them
  (``ServicePlan.descriptor``, added by ``mpegts.TsRewriter``): the 608 entry (``digital_cc`` 0, field 1) and
  one entry per DTVCC service (language, ``caption_service_number``, ``wide_aspect_ratio`` 1, and
  ``korean_code`` 0, KS X 1001, for a Korean service). The plan is fixed from the alert's languages before any
  cue exists, so the descriptor is right in the first segment.

Each language's captions follow its own audio track's timing (``media/ts.py`` passes cues timed on the
language tracks, ``broadcast.audio.language_tracks``).
"""

from cinealert.broadcast.cea708.carriage import (
    CaptionInserter,
    Captions,
    ServicePlan,
    add_emulation_prevention,
    atsc_user_data,
    carriable,
    cc_count_for,
    cc_data,
    dtvcc_triplets,
    insert_h264_sei,
    insert_mpeg2_user_data,
    latin_script,
    plan_services,
    remove_emulation_prevention,
    sei_t35_nal,
    start_codes,
)
from cinealert.broadcast.cea708.cc608 import (
    CC608_RATE,
    EDM,
    ENM,
    EOC,
    RCL,
    CaptionError,
    CaptionTrack,
    Pair,
    Shown,
    choose_language,
    latin_share,
    odd_parity,
    pac,
    popon_units,
    text_pairs,
    to_608,
)
from cinealert.broadcast.cea708.dtvcc import DtvccTrack, Service, text_units

__all__ = [
    "CC608_RATE", "EDM", "ENM", "EOC", "RCL", "CaptionError", "CaptionInserter", "CaptionTrack", "Captions",
    "DtvccTrack", "Pair", "Service", "ServicePlan", "Shown", "add_emulation_prevention", "atsc_user_data",
    "carriable", "cc_count_for", "cc_data", "choose_language", "dtvcc_triplets", "insert_h264_sei",
    "insert_mpeg2_user_data", "latin_script", "latin_share", "odd_parity", "pac", "plan_services", "popon_units",
    "remove_emulation_prevention", "sei_t35_nal", "start_codes", "text_pairs", "text_units", "to_608",
]  # fmt: skip
