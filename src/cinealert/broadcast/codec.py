"""Encoding building blocks every container shares: the output ``Profile``, codec options (VBV, BT.709),
streams, picture conversion, the continuous audio encoder and the AC-3 dialnorm label."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from cinealert.errors import Cancelled, CinealertError
from cinealert.render.loop import NTSC_FPS, RESOLUTIONS, Frame

if TYPE_CHECKING:
    pass


AUDIO_RATE = 48_000
TS_OFFSET = "1.4"
Samples = npt.NDArray[np.float32]

#: Called with (file name, bytes, duration seconds) for each finished segment, in order.
Emit = Callable[[str, bytes, float], None]


class EncodeError(RuntimeError, CinealertError):
    """The encoder or muxer failed; the message names the profile and the stage."""


class EncodeCancelledError(Cancelled):
    """Stopped between frames because the cancel event was set."""


@dataclass(frozen=True, slots=True)
class Profile:
    name: Literal["atsc1", "atsc3", "hls"]
    container: Literal["ts", "fmp4"]
    video_codec: str
    audio_codec: str
    width: int
    height: int
    fps: Fraction = NTSC_FPS
    preset: str = "veryfast"
    video_kbps: int = 6000
    audio_kbps: int = 96  # mono speech and a two-tone signal: AC-3/AAC-LC at 96 kbit/s is transparent enough

    @property
    def hevc(self) -> bool:
        return self.video_codec == "libx265"


Atsc1Video = Literal["mpeg2", "h264"]

#: ATSC A/53 Part 4 caps the MPEG-2 VBV buffer at 488 x 16384 bits.
MPEG2_MAX_VBV_BITS = 488 * 16384


def mpeg2_kbps(width: int, height: int) -> int:
    """Peak video rate for MPEG-2 MP@HL in a 19.39 Mbit/s ATSC 1.0 channel: 12 Mbit/s at 1080 lines (room for
    the AC-3 audio, PSI and a second service), 8 at 720; smaller (test) pictures in proportion to their area."""
    if height >= 1080:
        return 12_000
    if height >= 720:
        return 8_000
    return max(800, round(8_000 * width * height / (1280 * 720)))


def make_profile(
    name: Literal["atsc1", "atsc3", "hls"],
    resolution: str = "1080p",
    *,
    size: tuple[int, int] | None = None,
    x264_preset: str = "veryfast",
    x265_preset: str = "ultrafast",
    atsc1_video: Atsc1Video = "mpeg2",
) -> Profile:
    """The delivery profile; ``size`` overrides the picture size (tests use small frames).

    ``atsc1_video``: MPEG-2 is ATSC 1.0's main service video (A/53 Part 4), which every ATSC 1.0 receiver
    decodes; H.264 (A/72) only where the station's path carries it."""
    if resolution not in RESOLUTIONS:
        raise ValueError(f"unknown resolution {resolution!r}; expected one of {sorted(RESOLUTIONS)}")
    width, height = size or RESOLUTIONS[resolution]
    if name == "atsc1" and height > 1080 and size is None:
        width, height = RESOLUTIONS["1080p"]  # ATSC 1.0 (A/53) tops out at 1080 lines
    kbps = max(500, round(6000 * width * height / (1920 * 1080)))
    if name == "atsc1":
        if atsc1_video == "mpeg2":
            kbps = mpeg2_kbps(width, height)
            return Profile(name, "ts", "mpeg2video", "ac3", width, height, video_kbps=kbps)
        if atsc1_video != "h264":
            raise ValueError(f"unknown ATSC 1.0 video codec {atsc1_video!r}; expected mpeg2 or h264")
        return Profile(name, "ts", "libx264", "ac3", width, height, preset=x264_preset, video_kbps=kbps)
    if name == "hls":
        return Profile(name, "ts", "libx264", "aac", width, height, preset=x264_preset, video_kbps=kbps)
    if name == "atsc3":
        return Profile(name, "fmp4", "libx265", "aac", width, height, preset=x265_preset, video_kbps=kbps)
    raise ValueError(f"unknown profile {name!r}")


def frames_per_segment(segment_s: float, fps: Fraction = NTSC_FPS) -> int:
    return max(1, round(segment_s * fps))


#: BT.709 colour description (HD), as ``_video_frame`` converts: without it a receiver guesses (often BT.601)
#: and shifts every hue. Limited ("tv") range.
_X264_BT709 = "colorprim=bt709:transfer=bt709:colormatrix=bt709:range=tv"
_X265_BT709 = "colorprim=bt709:transfer=bt709:colormatrix=bt709:range=limited"


def video_options(profile: Profile, gop: int) -> dict[str, str]:
    """Encoder options (FFmpeg AVOptions, also valid as ``ffmpeg -KEY:v VALUE``): GOP = segment, no scene cut,
    a VBV/HRD rate buffer bounding the peak rate, BT.709 colour description."""
    if profile.video_codec == "mpeg2video":
        # Main profile @ High level (4/4; numbers, not names, so FFmpeg 5's CLI takes them too), closed GOP =
        # segment, no B pictures (nothing to reorder across a cut; a sequence header with every I picture is
        # FFmpeg's default), VBR up to the peak rate in an A/53-sized VBV buffer. The non-linear quantiser scale
        # (MP@HL allows it) gives the rate control coarser steps for pictures the peak rate cannot otherwise hold.
        rate = profile.video_kbps * 1000
        return {
            "b": str(rate * 3 // 4), "maxrate": str(rate), "bufsize": str(min(rate // 2, MPEG2_MAX_VBV_BITS)),
            "g": str(gop), "bf": "0", "flags": "+cgop", "sc_threshold": "1000000000", "profile": "4", "level": "4",
            "non_linear_quant": "1", "qmax": "28",  # FFmpeg's non-linear scale stops at 28
            "color_primaries": "bt709", "color_trc": "bt709", "colorspace": "bt709", "color_range": "tv",
        }  # fmt: skip
    vbv = f"vbv-maxrate={profile.video_kbps}:vbv-bufsize={profile.video_kbps}"
    if profile.hevc:
        params = (
            f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=0:open-gop=0:{vbv}:crf=26:{_X265_BT709}"
            ":log-level=error"
        )
        return {"preset": profile.preset, "tune": "zerolatency", "x265-params": params}
    params = (
        f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=0:open-gop=0:{vbv}:nal-hrd=vbr:crf=23"
        f":repeat-headers=1:forced-idr=1:{_X264_BT709}"
    )
    return {"preset": profile.preset, "tune": "zerolatency", "x264-params": params}


def _add_video_stream(container: Any, profile: Profile, gop: int) -> Any:
    stream = container.add_stream(profile.video_codec, rate=profile.fps)
    stream.width, stream.height, stream.pix_fmt = profile.width, profile.height, "yuv420p"
    stream.time_base = 1 / profile.fps
    stream.codec_context.time_base = 1 / profile.fps
    stream.codec_context.options = video_options(profile, gop)
    if profile.hevc:
        stream.codec_tag = "hvc1"
    return stream


def _add_audio_stream(container: Any, profile: Profile) -> Any:
    stream = container.add_stream(profile.audio_codec, rate=AUDIO_RATE)
    stream.layout = "mono"
    stream.bit_rate = profile.audio_kbps * 1000
    return stream


def _video_frame(arr: Frame, pts: int, profile: Profile, key: bool = False) -> Any:
    """The picture in 4:2:0 converted with the BT.709 matrix to limited range: what the colour description in
    ``video_options`` says (PyAV's implicit conversion would use BT.601). ``key`` forces an I picture."""
    import av

    if arr.shape != (profile.height, profile.width, 3):
        raise EncodeError(
            f"{profile.name}: frame {arr.shape} does not match {profile.height}x{profile.width}x3"
        )
    rgb = av.VideoFrame.from_ndarray(arr, format="rgb24")
    frame = rgb.reformat(format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG")
    frame.pts = pts
    frame.time_base = 1 / profile.fps
    if key:
        frame.pict_type = av.video.frame.PictureType.I
    return frame


def dialnorm_for(loudness_lkfs: float) -> int:
    """AC-3 ``dialnorm`` for a programme normalised to ``loudness_lkfs``: the receiver attenuates by
    31 + dialnorm dB, so it must say the programme's real loudness (A/85); the field holds -31..-1."""
    return max(-31, min(-1, round(loudness_lkfs)))


class AudioEncoder:
    """One continuous audio encoder fed in pieces: priming happens once, packets carry the true timeline."""

    def __init__(self, codec: str, kbps: int = 96, dialnorm: int | None = None) -> None:
        """``dialnorm`` (AC-3/E-AC-3 only; ``dialnorm_for``): FFmpeg's default, -31, would label the programme
        7 dB quieter than a -24 LKFS mix is, and receivers would play it that much too loud."""
        import av

        ctx: Any = av.CodecContext.create(codec, "w")
        ctx.sample_rate, ctx.layout, ctx.format = AUDIO_RATE, "mono", "fltp"
        ctx.bit_rate = kbps * 1000
        ctx.time_base = Fraction(1, AUDIO_RATE)
        if codec == "aac":
            # Speech, not music: the fast coder without PNS/TNS is ~2x quicker and indistinguishable here.
            ctx.options = {"aac_coder": "fast", "aac_pns": "0", "aac_tns": "0"}
        elif codec in ("ac3", "eac3") and dialnorm is not None:
            ctx.options = {"dialnorm": str(dialnorm_for(dialnorm))}
        ctx.open()
        self._ctx = ctx
        self._size: int = ctx.frame_size or 1024
        self._pending = np.zeros(0, np.float32)
        self._pts = 0

    def _encode(self, chunk: Samples) -> list[Any]:
        import av

        frame = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = AUDIO_RATE, self._pts, Fraction(1, AUDIO_RATE)
        self._pts += len(chunk)
        return list(self._ctx.encode(frame))

    def feed(self, samples: Samples) -> list[Any]:
        data = np.concatenate([self._pending, np.asarray(samples, np.float32)])
        packets: list[Any] = []
        whole = len(data) // self._size * self._size
        for start in range(0, whole, self._size):
            packets += self._encode(np.ascontiguousarray(data[start : start + self._size]))
        self._pending = data[whole:]
        return packets

    def finish(self) -> list[Any]:
        packets: list[Any] = []
        if len(self._pending):
            chunk = np.concatenate([self._pending, np.zeros(self._size - len(self._pending), np.float32)])
            packets += self._encode(chunk)
            self._pending = np.zeros(0, np.float32)
        packets += list(self._ctx.encode(None))
        return packets


def encode_audio(samples: Samples, codec: str, kbps: int = 96) -> list[Any]:
    """The whole clip's audio packets (time base 1/48000), priming included exactly once."""
    encoder = AudioEncoder(codec, kbps)
    return encoder.feed(samples) + encoder.finish()
