"""Rule mos_generations: the MOS proxy of the paper's appendix D.2 (``slamming.evaluation.mos``): Cooper et al.'s
predictor on the generated speech (each prompt with its continuation, as vocoded for GenPPL), on the prompts
resynthesised from their units by the same vocoder, and on the real prompts (the paper's "Ground Truth").
Each is a mean over utterances with its 95 % interval (a bootstrap over prompts).

Command line::

    python -m workflow_scripts.mos_generations --predictor resources/sources/ssl_mos_w2vsmall --vocoder '{...}' \\
        --units results/slam/generation/units.parquet --audio results/slam/generation/audio.parquet \\
        --prompts results/slam/generation/prompts.parquet --out-table mos.parquet --out-json mos.json
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from slamming.artifacts import read_parquet
from slamming.data.audio import read_audio
from slamming.evaluation.mos import checkpoint_file, load_mos_predictor, predict_mos
from slamming.evaluation.statistics import INTERVAL, interval
from slamming.evaluation.vocoder import SAMPLE_RATE, batch_seconds_for, load_vocoder, vocode_table
from slamming.logs import run_stage, setup_logging, stage_parser
from slamming.units.kmeans import sha256_of

log = logging.getLogger("mos_generations")
DIFFERENCE = "scored without sv56 level normalisation, which the predictor's authors apply: not exactly comparable with the paper's Table 10"


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--predictor", required=True, help="the fetched source holding ckpt_w2vsmall")
    parser.add_argument("--vocoder", required=True, help="the run's vocoder as JSON (slamming.workflow.plan.Plan.vocoder_settings)")
    parser.add_argument("--units", required=True, help="the generation's units.parquet (its prompt_units are resynthesised)")
    parser.add_argument("--audio", required=True, help="the generation's vocoded audio manifest (ids <prompt>.full are scored)")
    parser.add_argument("--prompts", required=True, help="the cut prompts' manifest (the real speech)")
    parser.add_argument("--out-table", required=True)
    parser.add_argument("--out-json", required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    device = "cuda" if torch.cuda.is_available() else "cpu"

    vocoder = json.loads(args.vocoder)
    units = read_parquet(args.units).to_pylist()
    resynthesised = vocode_table(load_vocoder(vocoder["checkpoint"], vocoder["config"], vocoder["sha256"], device),
                                 [{"units": r["prompt_units"]} for r in units], batch_seconds_for(device))
    generated = {r["id"].removesuffix(".full"): r["path"] for r in read_parquet(args.audio).to_pylist() if r["id"].endswith(".full")}
    real = {r["id"].removesuffix(".prompt"): r["path"] for r in read_parquet(args.prompts).to_pylist()}

    checkpoint = checkpoint_file(args.predictor)
    digest = sha256_of(checkpoint)  # recorded, so that it can be pinned: zenodo publishes none
    model = load_mos_predictor(args.predictor, device=device)
    rows = []
    for row, wave in zip(units, resynthesised):
        prompt = row["id"]
        waves = {"generated": read_audio(generated[prompt], SAMPLE_RATE) if generated.get(prompt) else np.zeros(0, np.float32),
                 "resynthesised": wave, "ground_truth": read_audio(real[prompt], SAMPLE_RATE) if real.get(prompt) else np.zeros(0, np.float32)}
        scores = dict(zip(waves, predict_mos(model, list(waves.values()), device)))
        rows.append({"id": prompt, **scores})
    pq.write_table(pa.Table.from_pylist(rows), args.out_table)

    summary = {"predictor": {"model": "Cooper et al. 2022, wav2vec 2.0 base fine-tuned on BVCC (ckpt_w2vsmall)",
                             "checkpoint_sha256": digest}, "difference": DIFFERENCE, "interval": INTERVAL.replace("items", "prompts")}
    for kind in ("generated", "resynthesised", "ground_truth"):
        scored = [r[kind] for r in rows if r[kind] is not None]
        summary[kind] = {"mean": float(np.mean(scored)) if scored else None, "ci95": interval(scored), "scored": len(scored),
                         "not_scored": len(rows) - len(scored)}
        log.info("MOS %s: %s over %d utterances (%d too short or missing)", kind, summary[kind]["mean"], len(scored),
                 len(rows) - len(scored))
    Path(args.out_json).write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    run_stage(main)
