"""Rule pretrain: the speech LM on a run's packed data under its budget (Slam, the paper's Table 4).

The loop is the engine's (``slamming/training/engine.py``): the learning rate from the share of the budget used,
gradient accumulation derived from the global batch, the run's precision, clipping and AdamW,
validation and checkpoints on the clock, resume after a kill. What is pretraining's own is in
``slamming/training/pretraining.py``: the official code's chunks, laid end to end in one row per micro-batch
(``packing: official``), or full windows of packed documents (``packing: windows``); attention kept
inside each document or chunk, the summed next-token loss over the step's predicted tokens.

Under torchrun (``torchrun --nproc_per_node N -m workflow_scripts.pretrain ...``) the same code runs
data-parallel; the losses equal one process's with the same global batch.

Command line::

    python -m workflow_scripts.pretrain --init results/models/demo/init --data results/packed/.../ctx256-... \\
        --settings '{"learning_rate": 1e-3, ...}' --seed 0 --out results/models/demo/pretrained
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from slamming.logs import run_stage, setup_stage, stage_parser
from slamming.training.pretraining import train_on_windows

log = logging.getLogger("pretrain")


def equal_compute(summary_path: str) -> float:
    """The training FLOPs another run's pretraining spent (its training_summary.json)."""
    flops = json.loads(Path(summary_path).read_text()).get("training_flops")
    if not flops:
        raise ValueError(f"{summary_path}: no training_flops (trained before the FLOPs were recorded); train that run again "
                         "(snakemake --forcerun pretrain) or set pretrain.budget.max_flops")
    return float(flops)


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--init", required=True, help="the model to start from (save_pretrained folder)")
    parser.add_argument("--data", required=True, help="folder of packed chunks or windows (pack_chunks, pack_windows)")
    parser.add_argument("--settings", required=True, help="the recipe's pretrain section as JSON")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    parser.add_argument("--work", help="checkpoints and the running log; default <out>.work")
    parser.add_argument("--threads", type=int, help="CPU threads for torch")
    parser.add_argument("--checkpoint-every-steps", type=int, help="checkpoint by steps instead of minutes")
    parser.add_argument("--log-every-steps", type=int, help="a log row every N steps instead of every 10 s")
    parser.add_argument("--flops-of", help="the training summary of the run whose pretraining FLOPs are this budget's "
                        "max_flops (pretrain.budget.flops_of)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    work = Path(args.work) if args.work else out.with_name(out.name + ".work")
    setup_stage(args.log_file, args.threads, history=work / "attempts.log")
    settings = json.loads(args.settings)
    if args.flops_of:
        settings["budget"]["max_flops"] = equal_compute(args.flops_of)
        log.info("budget: %.4g training FLOPs, as %s spent", settings["budget"]["max_flops"], args.flops_of)
    summary = train_on_windows(Path(args.init), Path(args.data), settings, args.seed, out, work, log,
                               checkpoint_every_steps=args.checkpoint_every_steps, log_every_steps=args.log_every_steps)
    log.info("done: %s", json.dumps(summary))
    return 0


if __name__ == "__main__":
    run_stage(main)
