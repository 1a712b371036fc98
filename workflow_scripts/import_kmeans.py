"""Rule import_kmeans: a tokeniser's centroids from a published k-means (TWIST's 500 centroids, a
scikit-learn pickle whose sha256 is checked before it is opened).

Command line::

    python -m workflow_scripts.import_kmeans --pickle resources/sources/twist_km500/..._km500.bin --sha256 03cc... \\
        --encoder '{"encoder": {"hubert": "mhubert_base_25hz", "layer": 11}, "folder": "resources/sources/mhubert_base_25hz",
        "dtype": "float32"}' --tokeniser mhubert25hz_km500 --centroids results/units/mhubert25hz_km500/centroids.npy \
        --vocabulary results/units/mhubert25hz_km500/vocabulary.json
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from slamming.units.encoder import add_encoder_arguments, frame_rate_of
from slamming.units.kmeans import centroids_from_pickle
from slamming.logs import run_stage, setup_stage, stage_parser
from slamming.units.vocabulary import SpeechVocabulary

log = logging.getLogger("import_kmeans")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--pickle", required=True)
    parser.add_argument("--sha256", required=True)
    add_encoder_arguments(parser)
    parser.add_argument("--tokeniser", required=True)
    parser.add_argument("--centroids", required=True, help="where the centroids go (.npy)")
    parser.add_argument("--vocabulary", required=True, help="where the speech vocabulary goes (.json)")
    args = parser.parse_args(argv)
    setup_stage(args.log_file)
    Path(args.centroids).parent.mkdir(parents=True, exist_ok=True)
    centroids = centroids_from_pickle(args.pickle, args.sha256)
    log.info("imported %d centroids of dim %d from %s", *centroids.shape, args.pickle)
    np.save(args.centroids, centroids)
    encoder = json.loads(args.encoder)
    frame_rate = frame_rate_of(encoder["encoder"], encoder["folder"])
    SpeechVocabulary(tokeniser=args.tokeniser, num_units=len(centroids), frame_rate=frame_rate).save(args.vocabulary)
    return 0


if __name__ == "__main__":
    run_stage(main)
