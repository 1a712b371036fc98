"""Rule import_kmeans: a tokeniser's centroids from a published k-means (TWIST's 500 centroids, a
scikit-learn pickle whose sha256 is checked before it is opened).

Command line::

    python -m workflow_scripts.import_kmeans --pickle resources/sources/twist_km500/..._km500.bin --sha256 03cc... \\
        --encoder '{"hubert": "mhubert_base_25hz", "layer": 11}' --encoder-dir resources/sources/mhubert_base_25hz --tokeniser mhubert25hz_km500 --out-dir results/units/mhubert25hz_km500
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from slamming.encoder import add_encoder_arguments, frame_rate_of
from slamming.kmeans import centroids_from_pickle
from slamming.logs import run_stage, setup_stage
from slamming.units import SpeechVocabulary

log = logging.getLogger("import_kmeans")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pickle", required=True)
    parser.add_argument("--sha256", required=True)
    add_encoder_arguments(parser)
    parser.add_argument("--tokeniser", required=True)
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--log-file", help="also write the log here")
    args = parser.parse_args(argv)
    setup_stage(args.log_file)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    centroids = centroids_from_pickle(args.pickle, args.sha256)
    log.info("imported %d centroids of dim %d from %s", *centroids.shape, args.pickle)
    np.save(out / "centroids.npy", centroids)
    vocabulary = SpeechVocabulary(tokeniser=args.tokeniser, num_units=len(centroids), frame_rate=frame_rate_of(json.loads(args.encoder), args.encoder_dir))
    vocabulary.save(out / "tokeniser.json")
    return 0


if __name__ == "__main__":
    run_stage(main)
