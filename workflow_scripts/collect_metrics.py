"""Rule collect_metrics: ``results/<run>/metrics.json`` - every metric of a run (likelihood accuracies with
the pairs scored and left out, GenPPL, auto-BLEU, GPTScore or why it did not run, the vocoder's
resynthesis word error rate), the recipe, the code's commit, the tokens each training stage saw and
the compute used (``slamming.evaluation.reporting``).

Command line::

    python -m workflow_scripts.collect_metrics --run demo --description "..." --data results/demo/data.json \\
        --likelihood results/demo/eval/*.json --generation results/demo/generation/scores.json \\
        --training results/models/demo/*/training_summary.json --timings timings/demo/*.tsv \\
        --out results/demo/metrics.json
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from slamming.logs import run_stage, setup_logging, stage_parser
from slamming.evaluation.reporting import collect

log = logging.getLogger("collect_metrics")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--run", required=True)
    parser.add_argument("--description", required=True)
    parser.add_argument("--data", nargs="?", help="the run's data.json (none for a model evaluated without training)")
    parser.add_argument("--protocol", choices=["official", "zerospeech"], default="official",
                        help="which accuracy is a benchmark's headline (evaluation.protocol)")
    parser.add_argument("--evaluated-model", help="the speech_lms entry, for a model evaluated without training")
    parser.add_argument("--likelihood", nargs="*", default=[])
    parser.add_argument("--text-topline", nargs="*", default=[], help="the benchmarks' text toplines, when the recipe has one")
    parser.add_argument("--generation")
    parser.add_argument("--out-of-domain-generation", nargs="?",
                        help="the out-of-domain generation's scores.json, when the recipe has one (evaluation.out_of_domain_prompts)")
    parser.add_argument("--mos", nargs="?", help="the MOS proxy's mos.json, when the recipe names a predictor")
    parser.add_argument("--cross-modal", nargs="?", help="an interleaved run's cross-modal StoryCloze (cross_modal.json)")
    parser.add_argument("--judge", nargs="?", help="the judge's judge.json, when the recipe sets one")
    parser.add_argument("--vocoder", nargs="?", help="the vocoder's resynthesis.json, when the workflow trained it")
    parser.add_argument("--training", nargs="*", default=[])
    parser.add_argument("--timings", nargs="*", default=[], help="Snakemake's timings (benchmark files) of the run's jobs")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    metrics = collect(args.run, args.description, args.data, args.likelihood, args.generation, args.judge, args.vocoder,
                      args.training, args.timings, args.text_topline, args.evaluated_model, args.protocol,
                      args.out_of_domain_generation, args.mos, args.cross_modal)
    Path(args.out).write_text(json.dumps(metrics, indent=2) + "\n")
    log.info("%s:\n%s", args.out, Path(args.out).read_text().rstrip())
    return 0


if __name__ == "__main__":
    run_stage(main)
