"""Reading audio: the one place that resamples, downmixes, and rejects files with a reason.

Every stage that reads audio goes through ``read_audio`` (or ``prepare_audio`` for audio already in
memory), so an odd file is treated the same everywhere:

* stereo and multi-channel audio is averaged to mono;
* any sample rate is resampled (polyphase, scipy) to the rate asked for;
* 8-, 16-, 24-bit integer and float files all become float32 in [-1, 1];
* unreadable, empty, non-finite, too short, too long and clipped audio raises ``AudioRejected``,
  whose ``reason`` goes into the corpus's rejected table.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf

AUDIO_EXTENSIONS = {".wav", ".flac", ".ogg", ".opus", ".mp3"}

# A sample at or above this share of full scale counts as clipped (8-bit audio peaks at 127/128).
FULL_SCALE = 0.99


class AudioRejected(Exception):
    """An audio file that cannot be used; ``reason`` says why, in a few words."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class AudioChecks:
    """Bounds an audio file must meet (config key audio_checks)."""

    min_seconds: float = 0.0
    max_seconds: float = float("inf")
    max_clipped_fraction: float = 1.0

    @classmethod
    def from_config(cls, section: dict) -> "AudioChecks":
        return cls(**section)


@dataclass(frozen=True)
class AudioInfo:
    sample_rate: int
    channels: int
    num_samples: int
    subtype: str

    @property
    def duration(self) -> float:
        return self.num_samples / self.sample_rate


def probe_audio(path: str | Path) -> AudioInfo:
    """Header facts of an audio file, without decoding it."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError) as e:
        raise AudioRejected(f"unreadable: {_short(e)}") from None
    if info.frames <= 0:
        raise AudioRejected("empty: no samples")
    return AudioInfo(int(info.samplerate), int(info.channels), int(info.frames), info.subtype)


def read_audio(path: str | Path, sample_rate: int, checks: AudioChecks | None = None) -> np.ndarray:
    """Mono float32 samples of ``path`` at ``sample_rate``; raises AudioRejected for unusable files."""
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as e:
        raise AudioRejected(f"unreadable: {_short(e)}") from None
    return prepare_audio(data, rate, sample_rate, checks)


def prepare_audio(data: np.ndarray, rate: int, sample_rate: int, checks: AudioChecks | None = None) -> np.ndarray:
    """Check, downmix and resample samples shaped (frames,) or (frames, channels)."""
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 1:
        data = data[:, None]
    if data.size == 0:
        raise AudioRejected("empty: no samples")
    if not np.isfinite(data).all():
        raise AudioRejected("corrupt: samples that are not finite numbers")
    checks = checks or AudioChecks()
    seconds = data.shape[0] / rate
    if seconds < checks.min_seconds:
        raise AudioRejected(f"too short: {seconds:.2f} s < {checks.min_seconds} s")
    if seconds > checks.max_seconds:
        raise AudioRejected(f"too long: {seconds:.1f} s > {checks.max_seconds} s (chunk it with VAD first)")
    clipped = float(np.mean(np.abs(data) >= FULL_SCALE))
    if clipped > checks.max_clipped_fraction:
        raise AudioRejected(f"clipped: {clipped:.2%} of samples at full scale")
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if not np.any(mono):
        raise AudioRejected("silent: every sample is zero")
    return resample(mono, rate, sample_rate)


def resample(samples: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """Polyphase resampling (exact rational ratio), float32 out."""
    if rate == target_rate:
        return np.ascontiguousarray(samples, dtype=np.float32)
    from scipy.signal import resample_poly

    common = gcd(int(rate), int(target_rate))
    out = resample_poly(samples.astype(np.float64), target_rate // common, rate // common)
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def write_flac(path: str | Path, samples: np.ndarray, sample_rate: int) -> None:
    """16-bit FLAC, written to a temporary name first so a kill never leaves half a file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    sf.write(str(tmp), samples, sample_rate, format="FLAC", subtype="PCM_16")
    tmp.replace(path)


def is_audio_file(path: Path) -> bool:
    return path.suffix.lower() in AUDIO_EXTENSIONS


def _short(error: Exception) -> str:
    return " ".join(str(error).split())[:160]
