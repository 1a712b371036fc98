"""Rule fit_kmeans: a tokeniser's k-means fitted on a seeded sample of encoder frames (``slamming.units.kmeans``).

Utterances are drawn from the train split of the given manifests in a seeded order, encoded with the
tokeniser's encoder and layer, and a seeded share of each one's frames is kept until there are
``max_frames``; then MiniBatchKMeans with K clusters. Writes the centroids (float32, K x dim, .npy) and
the speech vocabulary (K, frame rate, special tokens; ``slamming.units.vocabulary.SpeechVocabulary``).

Command line::

    python -m workflow_scripts.fit_kmeans --manifests results/corpora/demo_stories/manifest.parquet \\
        --encoder '{"encoder": {"mfcc": {"coefficients": 20}}, "folder": null, "dtype": "float32"}' --k 100 \\
        --max-frames 50000 --seed 0 --tokeniser demo_mfcc_km100 --centroids results/units/demo_mfcc_km100/centroids.npy \\
        --vocabulary results/units/demo_mfcc_km100/vocabulary.json
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from slamming.units.encoder import add_encoder_arguments, encoder_from_arguments
from slamming.units.kmeans import fit_centroids, sample_frames
from slamming.logs import run_stage, setup_stage, stage_parser
from slamming.units.vocabulary import SpeechVocabulary

log = logging.getLogger("fit_kmeans")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--manifests", nargs="+", required=True)
    add_encoder_arguments(parser)
    parser.add_argument("--k", type=int, required=True)
    parser.add_argument("--max-frames", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tokeniser", required=True)
    parser.add_argument("--centroids", required=True, help="where the centroids go (.npy)")
    parser.add_argument("--vocabulary", required=True, help="where the speech vocabulary goes (.json)")
    args = parser.parse_args(argv)
    setup_stage(args.log_file, args.threads)
    Path(args.centroids).parent.mkdir(parents=True, exist_ok=True)
    encoder = encoder_from_arguments(args, "cuda" if torch.cuda.is_available() else "cpu")
    frames = sample_frames(args.manifests, encoder, args.max_frames, args.seed)
    centroids, inertia = fit_centroids(frames, args.k, args.seed)
    log.info("fitted k=%d on %d frames of dim %d: inertia %.4f per frame", args.k, len(frames), frames.shape[1], inertia)
    np.save(args.centroids, centroids)
    SpeechVocabulary(tokeniser=args.tokeniser, num_units=len(centroids), frame_rate=encoder.frame_rate).save(args.vocabulary)
    return 0


if __name__ == "__main__":
    run_stage(main)
