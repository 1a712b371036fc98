"""Rule dpo: preference optimisation of the pretrained speech LM on spoken preference triples (Table 5).

The loop is the engine's (``slamming/training/engine.py``); what is DPO's own is in ``slamming/training/dpo.py``: the
official filter of the pairs, the sequences ``BOS prompt`` + ``chosen EOS`` / ``rejected EOS``, the
reference model's log-probabilities computed once (keyed by the content of what makes them), and the
sigmoid DPO loss over a step's pairs.

Command line::

    python -m workflow_scripts.dpo --init results/models/demo/pretrained \\
        --units results/units/demo_hubert_km100/demo_swag/units.parquet --pairs results/text/demo/swag.parquet \\
        --settings '{"beta": 0.1, ...}' --seed 0 --out results/models/demo/dpo
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from slamming.training.dpo import train_dpo
from slamming.logs import run_stage, setup_stage, stage_parser

log = logging.getLogger("dpo")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--init", required=True, help="the pretrained speech LM (save_pretrained folder)")
    parser.add_argument("--units", required=True, help="units table of the preference corpus")
    parser.add_argument("--pairs", required=True, help="table of preference pairs: id, prompt, chosen, rejected texts")
    parser.add_argument("--settings", required=True, help="the recipe's dpo section as JSON")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    parser.add_argument("--work", help="checkpoints, reference log-probs and the running log; default <out>.work")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--checkpoint-every-steps", type=int, help="checkpoint by steps instead of minutes")
    parser.add_argument("--log-every-steps", type=int, help="a log row every N steps instead of every 10 s")
    args = parser.parse_args(argv)
    out = Path(args.out)
    work = Path(args.work) if args.work else out.with_name(out.name + ".work")
    setup_stage(args.log_file, args.threads, history=work / "attempts.log")
    summary = train_dpo(Path(args.init), Path(args.units), Path(args.pairs), json.loads(args.settings), args.seed, out, work,
                        checkpoint_every_steps=args.checkpoint_every_steps, log_every_steps=args.log_every_steps)
    log.info("done: %s", json.dumps(summary))
    return 0


if __name__ == "__main__":
    run_stage(main)
