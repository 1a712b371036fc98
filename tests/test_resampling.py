"""The torch resampler is torchaudio's filter: checked against the filter's formula, not its code."""

from __future__ import annotations

import math

import numpy as np
import pytest

from slamming.data.audio import resample as audio_resample
from slamming.data.resampling import resample

RATIOS = [(24000, 16000), (22050, 16000), (44100, 16000), (8000, 16000)]


def windowed_sinc_reference(x: np.ndarray, rate: int, target_rate: int, zero_crossings: int = 6,
                            rolloff: float = 0.99) -> np.ndarray:
    """y[n] = sum_k x[k] h(k/rate - n/target_rate), h the Hann-windowed sinc in seconds, float64.

    Written in unreduced rates and seconds, with numpy only, so that it shares no code (nor the gcd
    reduction, the phase table or the padding) with the module under test.
    """
    cutoff = min(rate, target_rate) * rolloff  # Hz; the sinc's zeros are 1/cutoff seconds apart
    n_out = math.ceil(target_rate * len(x) / rate)
    out_times = np.arange(n_out) / target_rate
    reach = math.ceil(zero_crossings * rate / cutoff) + 1
    nearest = np.floor(out_times * rate).astype(np.int64)
    k = nearest[:, None] + np.arange(-reach, reach + 2)[None, :]
    inside = (k >= 0) & (k < len(x))
    tau = cutoff * (k / rate - out_times[:, None])
    h = np.where(np.abs(tau) < zero_crossings,
                 np.sinc(tau) * np.cos(np.pi * tau / (2 * zero_crossings)) ** 2, 0.0) * cutoff / rate
    return (np.where(inside, x.astype(np.float64)[np.clip(k, 0, len(x) - 1)], 0.0) * h).sum(axis=1)


def sine(freq: float, rate: int, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * freq * np.arange(int(rate * seconds)) / rate)).astype(np.float32)


@pytest.mark.parametrize("rate,target_rate", RATIOS)
@pytest.mark.parametrize("signal", ["random", "sine"])
def test_matches_the_windowed_sinc_formula_everywhere_including_the_edges(rate, target_rate, signal):
    if signal == "random":
        x = np.random.default_rng(rate).uniform(-1, 1, int(0.3 * rate) + 7).astype(np.float32)
    else:
        x = sine(440.0 * math.pi, rate, 0.3)
    out = resample(x, rate, target_rate)
    expected = windowed_sinc_reference(x, rate, target_rate)
    assert out.dtype == np.float32 and out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("rate", [24000, 22050, 44100, 8000])
def test_a_1khz_sine_keeps_its_amplitude_and_frequency(rate):
    out = resample(sine(1000.0, rate, 1.0), rate, 16000).astype(np.float64)
    t = np.arange(len(out)) / 16000
    middle = slice(1600, len(out) - 1600)  # away from the zero padding at either end
    basis = np.stack([np.sin(2 * np.pi * 1000 * t), np.cos(2 * np.pi * 1000 * t)], axis=1)[middle]
    coefficients, *_ = np.linalg.lstsq(basis, out[middle], rcond=None)
    assert abs(np.hypot(*coefficients) - 0.5) < 1e-3
    # What a 1 kHz sinusoid does not explain: nothing, so the frequency did not move.
    assert np.abs(out[middle] - basis @ coefficients).max() < 1e-3


def test_a_tone_above_the_new_nyquist_is_removed_not_aliased():
    x = sine(10000.0, 24000, 1.0)  # would alias to 6 kHz at 16 kHz
    out = resample(x, 24000, 16000)
    middle = out[1600:-1600]
    assert np.sqrt(np.mean(middle**2)) < 0.01 * np.sqrt(np.mean(x**2))  # below -40 dB


@pytest.mark.parametrize("rate,target_rate", RATIOS + [(48000, 16000), (16000, 24000)])
@pytest.mark.parametrize("length", [1, 2, 3, 440, 441, 442, 12345])
def test_output_length_is_the_ceiling_of_the_scaled_length(rate, target_rate, length):
    out = resample(np.ones(length, dtype=np.float32), rate, target_rate)
    assert len(out) == -(-target_rate * length // rate)


def test_fifteen_minutes_at_24khz_has_the_right_length_and_right_ends():
    length = 15 * 60 * 24000 + 1
    # Only the ends are compared, so only they need content.
    rng = np.random.default_rng(0)
    x = np.zeros(length, dtype=np.float32)
    x[:3000], x[-3001:] = rng.uniform(-0.5, 0.5, 3000), rng.uniform(-0.5, 0.5, 3001)
    out = resample(x, 24000, 16000)
    assert len(out) == 14_400_001  # ceil(2 * length / 3)
    head, tail = x[:3000], x[-3001:]
    np.testing.assert_allclose(out[:1000], windowed_sinc_reference(head, 24000, 16000)[:1000], atol=1e-6)
    # The tail's reference keeps the output grid because the tail starts at a multiple of 3 samples.
    np.testing.assert_allclose(out[-1000:], windowed_sinc_reference(tail, 24000, 16000)[-1000:], atol=1e-6)


def test_audio_resample_uses_it_clipped_and_leaves_the_same_rate_alone():
    x = sine(3000.0, 24000, 0.1, amplitude=1.0)
    out = audio_resample(x, 24000, 16000)
    np.testing.assert_array_equal(out, np.clip(resample(x, 24000, 16000), -1, 1))
    assert out.dtype == np.float32 and np.abs(out).max() <= 1.0
    np.testing.assert_array_equal(audio_resample(x, 16000, 16000), x)


def test_refuses_multichannel_input():
    with pytest.raises(ValueError, match="mono"):
        resample(np.zeros((100, 2), dtype=np.float32), 24000, 16000)
