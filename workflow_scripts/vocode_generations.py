"""Rule vocode_generations: the generated unit sequences as 16 kHz speech with the run's unit vocoder
(``slamming.evaluation.vocoder``: TWIST's checkpoint format, or one the workflow trained), and their manifest.

Command line::

    python -m workflow_scripts.vocode_generations --vocoder '{"checkpoint": "results/vocoders/demo_vocoder/generator.safetensors",
        "config": "results/vocoders/demo_vocoder/config.json", "sha256": null}' --units results/demo/generation/units.parquet \\
        --columns continuation_units full_units --out-dir results/demo/generation/audio \\
        --manifest results/demo/generation/audio.parquet
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import torch

from slamming.artifacts import read_parquet
from slamming.data.audio import write_flac
from slamming.logs import run_stage, setup_logging, stage_parser
from slamming.data.manifests import MANIFEST_SCHEMA, write_table
from slamming.evaluation.vocoder import SAMPLE_RATE, batch_seconds_for, load_vocoder, vocode_table

log = logging.getLogger("vocode_generations")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--vocoder", required=True,
                        help="the vocoder as JSON (slamming.workflow.plan.Plan.vocoder_settings): its checkpoint, its config and, "
                             "for a pickled checkpoint, the sha256 checked before it is opened")
    parser.add_argument("--units", required=True, help="table with id and units (unit ids, not tokens)")
    parser.add_argument("--columns", nargs="+", default=["units"], help="the columns of units to vocode")
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--batch-seconds", type=float,
                        help="units of this many seconds per batch; default 60 on a GPU, and one sequence at a time on "
                             "a CPU, where batching is slower (benchmarking.vocoder measures both)")
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    batch_seconds = args.batch_seconds if args.batch_seconds is not None else batch_seconds_for(device)
    vocoder = json.loads(args.vocoder)
    model = load_vocoder(vocoder["checkpoint"], vocoder["config"], vocoder["sha256"], device)
    table = read_parquet(args.units).to_pylist()
    rows = [{"id": f"{r['id']}.{column.removesuffix('_units')}" if len(args.columns) > 1 else r["id"], "units": r[column]}
            for r in table for column in args.columns]
    start = time.perf_counter()
    audio = vocode_table(model, rows, batch_seconds)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = []
    for row, samples in zip(rows, audio):
        path = out / f"{row['id']}.flac"
        if len(samples):  # no units, no audio: the manifest keeps the row with no path; its transcript is empty
            write_flac(path, samples, SAMPLE_RATE)
        manifest.append({"id": row["id"], "path": str(path) if len(samples) else "", "duration": len(samples) / SAMPLE_RATE,
                         "sample_rate": SAMPLE_RATE, "num_samples": len(samples), "split": "test", "text": None,
                         "source": f"vocoder:{vocoder['checkpoint']}"})
    write_table(manifest, MANIFEST_SCHEMA, args.manifest)
    seconds = sum(len(a) for a in audio) / SAMPLE_RATE
    log.info("%d utterances, %.1f s of audio in %.1f s", len(rows), seconds, time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    run_stage(main)
