"""Rule evaluate_vocoder: how well a vocoder the workflow trained is understood. The held-out utterances of
its training corpus are spoken again from their units alone (with predicted durations), transcribed, and
their word error rate written to ``resynthesis.json`` with the training's report (steps, losses).

Command line::

    python -m workflow_scripts.evaluate_vocoder --units results/units/demo_mfcc_km100/demo_stories/units.parquet \\
        --manifest results/corpora/demo_stories/manifest.parquet --weights results/vocoders/demo_vocoder/generator.safetensors \\
        --config results/vocoders/demo_vocoder/config.json --training-report results/vocoders/demo_vocoder/training.json \\
        --asr-spec '{"backend": "faster_whisper"}' --asr-model resources/sources/whisper_tiny_en \\
        --out results/vocoders/demo_vocoder/resynthesis.json
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from slamming.artifacts import read_json
from slamming.evaluation.asr import load_asr, word_error_rate
from slamming.evaluation.vocoder import load_vocoder
from slamming.evaluation.vocoder_training import load_training_data
from slamming.logs import run_stage, setup_logging, stage_parser

log = logging.getLogger("evaluate_vocoder")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--units", required=True, help="units table of the vocoder's training corpus")
    parser.add_argument("--manifest", required=True, help="the corpus manifest (its held-out texts)")
    parser.add_argument("--weights", required=True, help="the vocoder's generator.safetensors")
    parser.add_argument("--config", required=True, help="the vocoder's config.json")
    parser.add_argument("--training-report", required=True, help="train_vocoder's training.json")
    parser.add_argument("--asr-spec", required=True, help="the asr_models entry of the recogniser, as JSON")
    parser.add_argument("--asr-model", required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    torch.set_num_threads(args.threads)
    report = read_json(args.training_report)
    model = load_vocoder(args.weights, args.config)
    held_out = load_training_data(args.units, args.manifest, "valid")
    audio = model.vocode([item["units"] for item in held_out]) if held_out else []
    hypotheses = load_asr(json.loads(args.asr_spec), args.asr_model).transcribe(audio)
    references = [item["text"] or "" for item in held_out]
    report.update(held_out_utterances=len(held_out),
                  resynthesis_wer=word_error_rate(references, hypotheses) if held_out else None,
                  examples=[{"id": i["id"], "text": r, "heard": h} for i, r, h in zip(held_out[:3], references, hypotheses)])
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    log.info("resynthesis WER %s on %d held-out utterances", report["resynthesis_wer"], len(held_out))
    return 0


if __name__ == "__main__":
    run_stage(main)
