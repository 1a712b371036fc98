"""Rule score_cross_modal: an interleaved speech LM on cross-modal StoryCloze (``slamming.evaluation.cross_modal``):
each story's beginning in one modality and its two endings in another - speech to text, text to speech, text to
text, and speech to speech - as the official code scores them. results/<run>/eval/cross_modal.parquet (a row per
story and direction) and cross_modal.json (each direction's accuracy with its interval over stories).

Command line::

    python -m workflow_scripts.score_cross_modal --model results/models/demo_interleaved/dpo \\
        --folder resources/sources/demo_cross_modal_audio --manifest results/corpora/demo_cross_modal/manifest.parquet \\
        --units results/units/<tokeniser>/demo_cross_modal/units.parquet --text-lm results/models/demo_text_lm \\
        --out-table results/demo_interleaved/eval/cross_modal.parquet --out-json results/demo_interleaved/eval/cross_modal.json
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pyarrow as pa
import torch

from slamming.artifacts import load_causal_lm, read_parquet
from slamming.data.manifests import write_arrow
from slamming.evaluation.cross_modal import cross_modal_items, score_cross_modal
from slamming.logs import StageError, run_stage, setup_logging, stage_parser
from slamming.training.speech_lm import load_vocabulary

log = logging.getLogger("score_cross_modal")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--folder", required=True, help="the benchmark's files (<n>_mutual/_correct/_incorrect .wav and .txt)")
    parser.add_argument("--manifest", required=True, help="its corpus's manifest (which utterance each .wav is)")
    parser.add_argument("--units", required=True, help="its corpus's units table")
    parser.add_argument("--text-lm", required=True, help="the text LM whose tokenizer the model's text ids are")
    parser.add_argument("--batch-tokens", type=int, default=16384, help="padded tokens per batch")
    parser.add_argument("--out-table", required=True)
    parser.add_argument("--out-json", required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    from transformers import AutoTokenizer

    vocabulary = load_vocabulary(args.model)
    if not vocabulary.interleaved:
        raise StageError(f"{args.model}: a speech-only model has no text to score; cross-modal StoryCloze is for interleaved runs")
    items, missing = cross_modal_items(args.folder)
    ids = {str(Path(r["path"]).resolve()): r["id"] for r in read_parquet(args.manifest, columns=["id", "path"]).to_pylist()}
    units = {r["id"]: r["units"] for r in read_parquet(args.units, columns=["id", "units"]).to_pylist()}
    by_path, no_units = {}, []
    for item in items:
        for key in ("mutual_wav", "correct_wav", "incorrect_wav"):
            utterance = ids.get(str(Path(item[key]).resolve()))
            if utterance in units:
                by_path[item[key]] = units[utterance]
            else:
                no_units.append(item["id"])
    scored = [item for item in items if item["id"] not in set(no_units)]
    if not scored:
        raise StageError(f"{args.folder}: no story has units for all three of its speech files; check {args.units}")
    tokenizer = AutoTokenizer.from_pretrained(args.text_lm)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = load_causal_lm(args.model, dtype=torch.float32).to(device).eval()
    rows, summary = score_cross_modal(model, vocabulary, lambda text: tokenizer(text, add_special_tokens=False)["input_ids"],
                                      scored, by_path, args.batch_tokens, device)
    write_arrow(pa.Table.from_pylist(rows), args.out_table)
    result = {"directions": {d: {k: s[k] for k in ("accuracy", "accuracy_ci95", "pairs", "aggregation", "interval")}
                             for d, s in summary.items()},
              "stories": len(scored), "stories_left_out": {"missing_files": missing, "without_units": sorted(set(no_units))}}
    Path(args.out_json).write_text(json.dumps(result, indent=2) + "\n")
    for direction, s in summary.items():
        log.info("%s: %.3f %s over %d stories", direction, s["accuracy"], s["accuracy_ci95"], s["pairs"])
    return 0


if __name__ == "__main__":
    run_stage(main)
