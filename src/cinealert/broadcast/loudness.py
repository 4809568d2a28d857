"""BS.1770-4 loudness and true peak, and the level control built on them (A/85: the programme at the target
LKFS, true peak under the ceiling). Plain numpy, tested against FFmpeg's ebur128 (tests/test_loudness_reference.py).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

RATE = 48_000


Samples = npt.NDArray[np.float32]


# BS.1770-4 K-weighting at 48 kHz: high-shelf pre-filter, then RLB high-pass.
_SHELF_B = (1.53512485958697, -2.69169618940638, 1.19839281085285)


_SHELF_A = (1.0, -1.69065929318241, 0.73248077421585)


_RLB_B = (1.0, -2.0, 1.0)


_RLB_A = (1.0, -1.99004745483398, 0.99007225036621)


@functools.lru_cache(maxsize=8)
def _k_response(n: int) -> npt.NDArray[np.complex128]:
    return _biquad_response(_SHELF_B, _SHELF_A, n) * _biquad_response(_RLB_B, _RLB_A, n)


def _biquad_response(b: Sequence[float], a: Sequence[float], n: int) -> npt.NDArray[np.complex128]:
    z1 = np.exp(-2j * np.pi * np.arange(n // 2 + 1) / n)
    out: npt.NDArray[np.complex128] = (b[0] + b[1] * z1 + b[2] * z1 * z1) / (
        a[0] + a[1] * z1 + a[2] * z1 * z1
    )
    return out


def k_weight(x: npt.NDArray[np.floating], rate: int = RATE) -> npt.NDArray[np.float64]:
    if rate != RATE:
        raise ValueError(f"K-weighting coefficients are for {RATE} Hz, got {rate}")
    n = 1 << math.ceil(math.log2(len(x) + rate))  # >= 1 s of padding for the filter tail
    spec = np.fft.rfft(x.astype(np.float64), n)
    spec *= _k_response(n)
    return np.fft.irfft(spec, n)[: len(x)]


def _block_means(v: npt.NDArray[np.float64], rate: int = RATE) -> npt.NDArray[np.float64]:
    """Mean of ``v`` over 400 ms blocks every 100 ms (the gating blocks of BS.1770-4)."""
    block, step = int(0.4 * rate), int(0.1 * rate)
    if len(v) < block:
        v = np.concatenate([v, np.zeros(block - len(v))])
    csum = np.concatenate([[0.0], np.cumsum(v)])
    starts = np.arange(0, len(v) - block + 1, step)
    out: npt.NDArray[np.float64] = (csum[starts + block] - csum[starts]) / block
    return out


def integrated_loudness(x: npt.NDArray[np.floating], rate: int = RATE) -> float:
    """BS.1770-4 gated integrated loudness of a mono signal, in LKFS (-inf for silence)."""
    y = k_weight(x, rate)
    return gated_loudness(_block_means(y * y, rate))


def gated_loudness(z: npt.NDArray[np.float64]) -> float:
    """Integrated loudness from the blocks' mean squares (absolute gate -70 LKFS, relative gate -10 LU)."""
    with np.errstate(divide="ignore"):
        loud = -0.691 + 10 * np.log10(z)
    gated = z[loud > -70.0]
    if gated.size == 0:
        return -math.inf
    rel = -0.691 + 10 * math.log10(float(gated.mean())) - 10.0
    final = gated[-0.691 + 10 * np.log10(gated) > rel]
    return -0.691 + 10 * math.log10(float(final.mean()))


def _interpolator(factor: int = 4, taps_per_phase: int = 12) -> npt.NDArray[np.float64]:
    """Kaiser-windowed sinc, one row per phase (the BS.1770-4 Annex 2 style 48-tap 4x interpolator)."""
    taps = factor * taps_per_phase
    n = np.arange(taps)
    h = np.sinc((n - (taps - 1) / 2) / factor) * np.kaiser(taps, 8.0)
    phases = h.reshape(taps_per_phase, factor).T.copy()
    out: npt.NDArray[np.float64] = phases / phases.sum(axis=1, keepdims=True)
    return out


_PHASES = _interpolator()


def oversampled_abs(x: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """|x| at 4x the sample rate (polyphase FIR interpolation), shaped ``(len(x), 4)``."""
    x64 = x.astype(np.float64)
    cols = [np.abs(np.convolve(x64, phase, mode="same")) for phase in _PHASES]
    return np.stack(cols, axis=1)


_HREV = _PHASES[:, ::-1].T.copy()  # (taps, phases): output n of phase p = x[n-6 : n+6] @ _HREV[:, p]


_GAIN_BOUND = float(np.abs(_PHASES).sum(axis=1).max())  # |interpolated| <= this x the window's max |x|


_TP_BLOCK = 256


def true_peak(x: npt.NDArray[np.floating]) -> float:
    """Linear true peak: the exact maximum of ``oversampled_abs(x)``, computed only where it can occur.

    Each 4x-interpolated sample depends on 12 input samples, so a block of output can exceed the peak found so
    far only if its neighbourhood's sample peak times the interpolator's gain bound does; speech has few
    such blocks, so this costs a fraction of interpolating everything.
    """
    n = len(x)
    if n == 0:
        return 0.0
    nb = -(-n // _TP_BLOCK)
    xp = np.zeros(nb * _TP_BLOCK + 12)
    xp[6 : 6 + n] = x
    bmax = np.abs(xp[6 : 6 + nb * _TP_BLOCK]).reshape(nb, _TP_BLOCK).max(axis=1)
    near = np.maximum(bmax, np.maximum(np.r_[0.0, bmax[:-1]], np.r_[bmax[1:], 0.0]))
    bound = near * _GAIN_BOUND
    order = np.argsort(-bound, kind="stable")
    offsets = np.arange(_TP_BLOCK + 11)
    best = 0.0
    for start in range(0, nb, 64):
        chunk = order[start : start + 64]
        chunk = chunk[bound[chunk] > best]
        if chunk.size == 0:
            break
        segs = xp[chunk[:, None] * _TP_BLOCK + offsets[None, :]]
        windows = np.lib.stride_tricks.sliding_window_view(segs, 12, axis=1)  # (blocks, 256, 12)
        y = np.abs(windows @ _HREV).max(axis=2)  # (blocks, 256)
        positions = chunk[:, None] * _TP_BLOCK + np.arange(_TP_BLOCK)[None, :]
        y[positions >= n] = 0.0  # outputs past the end do not exist
        best = max(best, float(y.max()))
    return best


def true_peak_dbtp(x: npt.NDArray[np.floating]) -> float:
    peak = true_peak(x)
    return 20 * math.log10(peak) if peak > 0 else -math.inf


def limit(x: Samples, ceiling_dbtp: float, rate: int = RATE) -> Samples:
    """Look-ahead peak limiter on the true-peak envelope: 5 ms blocks, gain held over neighbours, smoothed."""
    ceiling = 10 ** (ceiling_dbtp / 20)
    env = oversampled_abs(x).max(axis=1)
    need = np.minimum(1.0, ceiling / np.maximum(env, 1e-12))
    if need.min() >= 1.0:
        return x
    blk = max(1, int(0.005 * rate))
    nb = math.ceil(len(x) / blk)
    padded = np.ones(nb * blk)
    padded[: len(x)] = need
    gb = padded.reshape(nb, blk).min(axis=1)
    held = np.minimum(gb, np.minimum(np.r_[1.0, gb[:-1]], np.r_[gb[1:], 1.0]))
    gain = np.repeat(held, blk)[: len(x)]
    csum = np.concatenate([[0.0], np.cumsum(np.r_[np.full(blk // 2, gain[0]), gain, np.full(blk, gain[-1])])])
    smooth = (csum[blk:] - csum[:-blk])[: len(x)] / blk
    out: Samples = (x * np.minimum(smooth, gain)).astype(np.float32)
    return out


def normalize(x: Samples, target_lkfs: float, ceiling_dbtp: float, rate: int = RATE) -> Samples:
    """Gain to ``target_lkfs``, limit true peaks to ``ceiling_dbtp`` (minus a margin), re-gain, repeat."""
    y = x.astype(np.float32)
    margin = 0.3  # dB: the independent meters' 4x interpolators differ slightly from ours
    for _ in range(4):
        loud = integrated_loudness(y, rate)
        if not math.isfinite(loud):
            return y
        y = (y * 10 ** ((target_lkfs - loud) / 20)).astype(np.float32)
        if true_peak_dbtp(y) <= ceiling_dbtp - margin:
            break
        y = limit(y, ceiling_dbtp - margin - 0.2, rate)
    peak = true_peak_dbtp(y)
    if peak > ceiling_dbtp - margin:
        y = (y * 10 ** ((ceiling_dbtp - margin - peak) / 20)).astype(np.float32)
    return y
