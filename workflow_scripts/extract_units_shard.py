"""Rule extract_units_shard: one shard of a corpus manifest to a units table (``slamming.units.extraction``).

Each utterance is read (resampled and downmixed as needed), encoded by the tokeniser's encoder layer,
assigned to its nearest centroid frame by frame, and de-duplicated into units and durations. Audio
that cannot be used goes to the rejected table beside the output, with the reason.

Command line::

    python -m workflow_scripts.extract_units_shard --manifest results/corpora/demo_stories/manifest.parquet \\
        --shard 0 --shards 2 --encoder '{"encoder": {"mfcc": {"coefficients": 20}}, "folder": null, "dtype": "float32"}' \\
        --centroids results/units/demo_mfcc_km100/centroids.npy --tokeniser demo_mfcc_km100 \\
        --out results/units/demo_mfcc_km100/demo_stories/shards/0.parquet
"""

from __future__ import annotations

import logging
import time

from slamming.artifacts import load_npy, read_parquet
from slamming.units.encoder import add_encoder_arguments, encoder_from_arguments
from slamming.units.extraction import extract, pick_device, write_units
from slamming.units.kmeans import NearestCentroid
from slamming.logs import run_stage, setup_stage, stage_parser
from slamming.data.manifests import REJECTED_SCHEMA, rejected_path, write_table
from slamming.data.synthesis import shard_slice

log = logging.getLogger("extract_units_shard")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--shard", type=int, default=0)
    parser.add_argument("--shards", type=int, default=1)
    add_encoder_arguments(parser)
    parser.add_argument("--centroids", required=True, help="centroids.npy")
    parser.add_argument("--tokeniser", required=True, help="name recorded in the table's metadata")
    parser.add_argument("--batch-seconds", type=float, default=120.0, help="padded audio per batch")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads: torch's, plus audio-reading workers")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    setup_stage(args.log_file, args.threads)

    rows = read_parquet(args.manifest).to_pylist()
    rows = rows[shard_slice(len(rows), args.shard, args.shards)]
    device = pick_device(args.device)
    encoder = encoder_from_arguments(args, device)
    assign = NearestCentroid(load_npy(args.centroids), device=device)
    start = time.perf_counter()
    units, rejected, seconds = extract(rows, encoder, assign, args.batch_seconds, workers=max(0, args.threads - 1))
    elapsed = time.perf_counter() - start
    write_table(rejected, REJECTED_SCHEMA, rejected_path(args.out))
    write_units(units, args.out, args.tokeniser, encoder.frame_rate)
    tokens = sum(len(r["units"]) for r in units)
    log.info("%s shard %d/%d on %s: %d utterances, %.1f s of audio in %.1f s (%.1f s of audio per second), "
             "%d units (%.1f per second of audio), %d rejected", args.manifest, args.shard, args.shards, device,
             len(units), seconds, elapsed, seconds / max(elapsed, 1e-9), tokens, tokens / max(seconds, 1e-9), len(rejected))
    for row in rejected:
        log.warning("rejected %s: %s", row["id"], row["reason"])
    return 0


if __name__ == "__main__":
    run_stage(main)
