"""Make a tokeniser's k-means: fit it on a seeded sample of frames, or import TWIST's centroids.

Both write ``centroids.npy`` (float32, K x dim) and ``tokeniser.json`` (the speech vocabulary: K,
frame rate, special tokens) into the tokeniser's folder.

``fit`` draws utterances from the train split of the given manifests in a seeded order, encodes
them with the tokeniser's encoder and layer, and keeps a seeded share of each one's frames until it
has ``max_frames``; then MiniBatchKMeans with K clusters.

Command line::

    python -m workflow_scripts.make_kmeans fit --manifests results/corpora/demo_stories/manifest.parquet \\
        --encoder results/models/demo_encoder --layer 2 --k 100 --max-frames 50000 --seed 0 \\
        --tokeniser demo_hubert_km100 --out-dir results/units/demo_hubert_km100
    python -m workflow_scripts.make_kmeans import --pickle resources/sources/twist_km500/..._km500.bin \\
        --sha256 03cc... --encoder resources/sources/mhubert_base_25hz --tokeniser mhubert25hz_km500 --out-dir ...
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from workflow_scripts.logs import setup_stage
from workflow_scripts.units import SpeechVocabulary

log = logging.getLogger("make_kmeans")


def sample_frames(manifests: list[str], encoder, max_frames: int, seed: int, checks, batch_seconds: float = 60.0) -> np.ndarray:
    """Up to ``max_frames`` encoder frames from a seeded sample of train utterances."""
    import torch
    from tqdm import tqdm

    from workflow_scripts.audio import AudioRejected, read_audio
    from workflow_scripts.encoder import SAMPLE_RATE

    rows = [r for m in manifests for r in pq.read_table(m, columns=["id", "path", "split", "duration"]).to_pylist()
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
                wave = torch.from_numpy(read_audio(row["path"], SAMPLE_RATE, checks))
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    fit = commands.add_parser("fit")
    fit.add_argument("--manifests", nargs="+", required=True)
    fit.add_argument("--layer", type=int, required=True)
    fit.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32", help="the encoder's precision")
    fit.add_argument("--k", type=int, required=True)
    fit.add_argument("--max-frames", type=int, required=True)
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--checks", default="{}", help="the audio_checks config section as JSON")
    fit.add_argument("--threads", type=int, default=1)
    imported = commands.add_parser("import")
    imported.add_argument("--pickle", required=True)
    imported.add_argument("--sha256", required=True)
    for command in (fit, imported):
        command.add_argument("--encoder", required=True, help="HuBERT save_pretrained folder (for the frame rate and, to fit, the features)")
        command.add_argument("--tokeniser", required=True)
        command.add_argument("--out-dir", required=True)
        command.add_argument("--log-file", help="also write the log here")
    args = parser.parse_args(argv)
    setup_stage(args.log_file)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)

    if args.command == "fit":
        import torch

        from workflow_scripts.audio import AudioChecks
        from workflow_scripts.encoder import SpeechEncoder
        from workflow_scripts.kmeans import fit_centroids

        torch.set_num_threads(args.threads)
        encoder = SpeechEncoder(args.encoder, args.layer, device="cuda" if torch.cuda.is_available() else "cpu",
                                dtype=getattr(torch, args.dtype))
        frames = sample_frames(args.manifests, encoder, args.max_frames, args.seed,
                               AudioChecks.from_config(json.loads(args.checks)))
        centroids, inertia = fit_centroids(frames, args.k, args.seed)
        frame_rate = encoder.frame_rate
        log.info("fitted k=%d on %d frames of dim %d: inertia %.4f per frame", args.k, len(frames), frames.shape[1], inertia)
    else:
        from workflow_scripts.kmeans import ChecksumMismatch, centroids_from_pickle

        try:
            centroids = centroids_from_pickle(args.pickle, args.sha256)
        except ChecksumMismatch as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        frame_rate = _frame_rate(args.encoder)
        log.info("imported %d centroids of dim %d from %s", *centroids.shape, args.pickle)

    np.save(out / "centroids.npy", centroids)
    SpeechVocabulary(tokeniser=args.tokeniser, num_units=len(centroids), frame_rate=frame_rate).save(out / "tokeniser.json")
    return 0


def _frame_rate(encoder_folder: str) -> float:
    import math

    from workflow_scripts.encoder import SAMPLE_RATE

    config = json.loads((Path(encoder_folder) / "config.json").read_text())
    return SAMPLE_RATE / math.prod(config["conv_stride"])


if __name__ == "__main__":
    sys.exit(main())
