"""k-means for speech units: fit on a seeded sample of frames, or import the TWIST centroids, then assign.

Centroids are kept as a plain ``centroids.npy`` (float32, K x dim). Assignment is a nearest-centroid
search in torch, on the GPU when there is one, in chunks so memory stays flat; it gives the labels
scikit-learn's ``KMeans.predict`` gives on the same data.

The TWIST k-means is a pickle (joblib). A pickle runs code when opened, so its sha256 is checked
first and a mismatch refuses the file before anything reads it.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np
import torch

from slamming.artifacts import read_parquet
from slamming.logs import StageError


class ChecksumMismatch(StageError):
    """A file is not the one its configured sha256 names; it was not opened."""


def sha256_of(path: str | Path) -> str:
    from slamming.data.sources import digest_of

    return digest_of(Path(path), "sha256")


def centroids_from_pickle(path: str | Path, sha256: str) -> np.ndarray:
    """The cluster centres of a pickled scikit-learn k-means whose sha256 is ``sha256``."""
    actual = sha256_of(path)
    if actual != sha256:
        raise ChecksumMismatch(f"{path}: sha256 {actual[:12]}... is not the expected {sha256[:12]}...; "
                               "the pickle was not opened (it could run any code)")
    import joblib  # only now: the file is the one whose checksum the config pins

    model = joblib.load(path)
    return np.asarray(model.cluster_centers_, dtype=np.float32)


def fit_centroids(frames: np.ndarray, k: int, seed: int, batch_size: int = 10_000) -> tuple[np.ndarray, float]:
    """MiniBatchKMeans on ``frames`` (N x dim); returns (centroids, inertia per frame)."""
    from sklearn.cluster import MiniBatchKMeans

    if len(frames) < k:
        raise ValueError(f"k-means needs at least k={k} frames, got {len(frames)}; add audio or lower k")
    model = MiniBatchKMeans(n_clusters=k, random_state=seed, batch_size=min(batch_size, len(frames)), n_init=3,
                            max_iter=100, max_no_improvement=20, reassignment_ratio=0.0)
    model.fit(frames)
    return model.cluster_centers_.astype(np.float32), float(model.inertia_) / len(frames)


class NearestCentroid:
    """Assign frames to their nearest centroid (squared Euclidean distance), in torch."""

    def __init__(self, centroids: np.ndarray, device: str = "cpu", chunk: int = 65536):
        self.centroids = torch.as_tensor(np.asarray(centroids), dtype=torch.float32, device=device)
        self.squared_norms = (self.centroids**2).sum(dim=1)
        self.device = device
        self.chunk = chunk

    @property
    def k(self) -> int:
        return self.centroids.shape[0]

    @torch.inference_mode()
    def __call__(self, frames: torch.Tensor | np.ndarray) -> torch.Tensor:
        frames = torch.as_tensor(frames, dtype=torch.float32)
        labels = []
        for start in range(0, len(frames), self.chunk):
            x = frames[start:start + self.chunk].to(self.device)
            # |x - c|^2 = |x|^2 - 2 x.c + |c|^2; |x|^2 is the same for every c, so it is left out.
            distances = self.squared_norms[None, :] - 2.0 * x @ self.centroids.T
            labels.append(distances.argmin(dim=1).cpu())
        return torch.cat(labels) if labels else torch.zeros(0, dtype=torch.long)


def sample_frames(manifests: list[str], encoder, max_frames: int, seed: int, batch_seconds: float = 60.0) -> np.ndarray:
    """Up to ``max_frames`` encoder frames from a seeded sample of train utterances."""
    import torch
    from tqdm import tqdm

    from slamming.data.audio import AudioRejected, read_audio
    from slamming.units.encoder import SAMPLE_RATE

    rows = [r for m in manifests for r in read_parquet(m, columns=["id", "path", "split", "duration"]).to_pylist()
            if r["split"] == "train"]
    rows.sort(key=lambda r: r["id"])
    rng = random.Random(seed)
    rng.shuffle(rows)
    # Expected frames per utterance vs what is wanted: keep that share of each utterance's frames,
    # so the sample spreads over many utterances instead of exhausting the first few.
    total_frames = sum(r["duration"] for r in rows) * encoder.frame_rate
    keep = min(1.0, max_frames / max(total_frames, 1.0))
    generator = np.random.default_rng(seed)
    frames, count = [], 0
    with tqdm(total=max_frames, desc="k-means sample", unit="frame", file=sys.stderr) as bar:
        for row in rows:
            try:
                wave = torch.from_numpy(read_audio(row["path"], SAMPLE_RATE))
            except AudioRejected:
                continue
            features = encoder.encode([wave])[0].numpy()
            chosen = features[generator.random(len(features)) < keep]
            frames.append(chosen[: max_frames - count])
            count += len(frames[-1])
            bar.update(len(frames[-1]))
            if count >= max_frames:
                break
    return np.concatenate(frames) if frames else np.zeros((0, encoder.dim), np.float32)
