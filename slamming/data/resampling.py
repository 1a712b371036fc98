"""torchaudio's default sinc resampler, written in torch.

The official code resamples with ``torchaudio.functional.resample`` at its defaults, and any other
filter (scipy's polyphase one, which we used before) changes the samples and so, slightly, the units.
torchaudio cannot be installed beside our torch pin, so this is its algorithm in torch alone.

With both rates reduced by their gcd to ``orig`` and ``new``, output sample n (at time n/new) is

    y[n] = base/orig * sum_k x[k] * sinc(tau) * cos(pi*tau / (2*zc))**2,   tau = base * (k/orig - n/new),

a Hann-windowed sinc (sinc(u) = sin(pi*u)/(pi*u)) with ``tau`` clamped to [-zc, zc], zc = 6 zero
crossings each side and base = 0.99 * min(orig, new). The weights repeat every ``new`` outputs, so
they are stored as ``new`` phases of one kernel and applied as a convolution with stride ``orig``.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

LOWPASS_FILTER_WIDTH = 6
ROLLOFF = 0.99


@lru_cache(maxsize=32)
def sinc_kernel(orig: int, new: int) -> tuple[torch.Tensor, int]:
    """Kernel shaped (new, 1, orig + 2*width) for reduced rates orig -> new, and its half-width."""
    base = min(orig, new) * ROLLOFF
    # Input samples each side of an output's time that fall inside the window's zero crossings.
    width = math.ceil(LOWPASS_FILTER_WIDTH * orig / base)
    input_offsets = torch.arange(-width, width + orig, dtype=torch.float64) / orig
    phase_times = torch.arange(new, dtype=torch.float64)[:, None] / new
    tau = (base * (input_offsets[None, :] - phase_times)).clamp(-LOWPASS_FILTER_WIDTH, LOWPASS_FILTER_WIDTH)
    window = torch.cos(tau * math.pi / (2 * LOWPASS_FILTER_WIDTH)) ** 2
    kernel = torch.sinc(tau) * window * (base / orig)
    return kernel[:, None, :].to(torch.float32), width


def resample(samples: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """Mono float32 samples at ``rate`` resampled to ``target_rate``, as torchaudio would."""
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    if samples.ndim != 1:
        raise ValueError(f"expected mono samples shaped (frames,), got shape {samples.shape}")
    if rate == target_rate:
        return samples
    common = math.gcd(int(rate), int(target_rate))
    orig, new = int(rate) // common, int(target_rate) // common
    kernel, width = sinc_kernel(orig, new)
    length = len(samples)
    # One convolution over the whole recording, as torchaudio does: blocks would change the last bits
    # of some samples (torch's CPU convolution sums in a size-dependent order), and its peak memory is
    # a few times the input (about 2.6 GB extra for an hour at 48 kHz, measured).
    # The extra ``orig`` zeros at the end let the last partial period still produce its outputs.
    padded = torch.nn.functional.pad(torch.from_numpy(samples), (width, width + orig))
    with torch.no_grad():
        phases = torch.nn.functional.conv1d(padded[None, None], kernel, stride=orig)[0]
    # Row p holds outputs p, p + new, p + 2*new, ...; interleave them back into time order.
    out = phases.T.reshape(-1)
    # Exact integer ceiling; torchaudio rounds the quotient through float32 first, which can differ by
    # a few samples at the very end of inputs past 2**24 output samples (about 17 minutes at 16 kHz).
    target_length = -(-new * length // orig)
    return out[:target_length].numpy()
