"""Reading audio: the one place that resamples, downmixes, and rejects files with a reason.

Every stage that reads audio goes through ``read_audio`` (or ``prepare_audio`` for audio already in
memory), so an odd file is treated the same everywhere:

* stereo and multi-channel audio is averaged to mono;
* any sample rate is resampled to the rate asked for by torchaudio's sinc resampler (Hann window, 6
  zero crossings, roll-off 0.99), written in torch because torchaudio cannot be installed beside the
  torch pin;
* 8-, 16-, 24-bit integer and float files all become float32 in [-1, 1];
* unreadable, empty and non-finite audio raises ``AudioRejected``, whose ``reason`` goes into the
  corpus's rejected table; too short, too long, clipped or silent audio only when the corpus's
  checks (``AudioChecks``) say so.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    """What a corpus keeps of its audio (a corpus's ``audio_checks``); ``None`` is no bound.

    A file's facts (duration, share of clipped samples, silence) are measured where it is made and
    stored in the corpus's candidates table; the checks are applied to those facts afterwards, so a
    changed check re-runs only the check, never the synthesis or the VAD that made the files.
    """

    min_seconds: float | None = None
    max_seconds: float | None = None
    max_clipped_fraction: float | None = None
    reject_silent: bool = False

    @classmethod
    def from_config(cls, section: dict) -> "AudioChecks":
        return cls(**section)

    @property
    def needs_samples(self) -> bool:
        """Whether a check looks at the samples, not only at the duration a header gives."""
        return self.max_clipped_fraction is not None or self.reject_silent

    def problem(self, duration: float, clipped_fraction: float | None = None, silent: bool | None = None) -> str | None:
        """Why a file with these facts is not kept, or None when it is."""
        if self.min_seconds is not None and duration < self.min_seconds:
            return f"too short: {duration:.2f} s < {self.min_seconds} s"
        if self.max_seconds is not None and duration > self.max_seconds:
            return f"too long: {duration:.1f} s > {self.max_seconds} s (chunk it with VAD first)"
        if self.max_clipped_fraction is not None and clipped_fraction is not None and clipped_fraction > self.max_clipped_fraction:
            return f"clipped: {clipped_fraction:.2%} of samples at full scale"
        if self.reject_silent and silent:
            return "silent: every sample is zero"
        return None


def audio_facts(samples: np.ndarray) -> dict:
    """What the checks look at, measured once on mono or (frames, channels) samples."""
    samples = np.asarray(samples)
    return {"clipped_fraction": float(np.mean(np.abs(samples) >= FULL_SCALE)) if samples.size else 0.0,
            "silent": not bool(np.any(samples))}


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
    """Check, downmix and resample samples shaped (frames,) or (frames, channels).

    Empty and non-finite audio is always rejected (nothing can be made of it); the rest only when
    ``checks`` say so.
    """
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 1:
        data = data[:, None]
    if data.size == 0:
        raise AudioRejected("empty: no samples")
    if not np.isfinite(data).all():
        raise AudioRejected("corrupt: samples that are not finite numbers")
    if checks is not None:
        facts = audio_facts(data) if checks.needs_samples else {}
        problem = checks.problem(data.shape[0] / rate, **facts)
        if problem:
            raise AudioRejected(problem)
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    return resample(mono, rate, sample_rate)


def resample(samples: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """torchaudio's default sinc resampling (as the official code does), float32 out."""
    if rate == target_rate:
        return np.ascontiguousarray(samples, dtype=np.float32)
    from slamming.data.resampling import resample as sinc_resample

    out = sinc_resample(samples, int(rate), int(target_rate))
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
