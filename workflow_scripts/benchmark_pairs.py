"""Rule benchmark_pairs: a benchmark's pair manifest (id, positive and negative utterance, their audio)
from a table of items, from file names (spoken StoryCloze's ``<n>_correct`` / ``<n>_incorrect``) or
from ZeroSpeech's gold.csv (sBLIMP, sWUGGY); never from an order of file names (``slamming.evaluation.likelihood``).

Command line::

    python -m workflow_scripts.benchmark_pairs --benchmark sstorycloze --pairing \\
        '{"table": "results/text/demo/storycloze.parquet", "positive": "ending", "negative": "contradicting_ending", "official": false}' \\
        --manifest results/corpora/demo_storycloze/manifest.parquet --out pairs.parquet
"""

from __future__ import annotations

import json
import logging

from slamming.evaluation.likelihood import gold_csv_pairs, make_pairs, suffix_pairs, write_pairs
from slamming.logs import run_stage, setup_logging, stage_parser

log = logging.getLogger("benchmark_pairs")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--pairing", required=True,
                        help="as JSON (slamming.workflow.plan.Plan.pairing): one of gold_csv (sLM21's gold.csv), by_file_name "
                             "({positive, negative, group}: files <key>_<positive> and <key>_<negative>, in one folder with group: folder) or table (items whose "
                             "utterances are <id>_<positive> and <id>_<negative>, with positive and negative), and official")
    parser.add_argument("--manifest", required=True, help="the corpus manifest with the audio")
    parser.add_argument("--benchmark", required=True, help="its name, for messages")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    pairing = json.loads(args.pairing)
    if "gold_csv" in pairing:
        pairs, missing = gold_csv_pairs(pairing["gold_csv"], args.manifest)
    elif "by_file_name" in pairing:
        sides = pairing["by_file_name"]
        pairs, missing = suffix_pairs(args.manifest, sides["positive"], sides["negative"], sides.get("group") == "folder")
    else:
        pairs, missing = make_pairs(pairing["table"], pairing["positive"], pairing["negative"], args.manifest)
    # a published benchmark: a pair without audio stops with an error
    write_pairs(pairs, missing, args.benchmark, args.manifest, pairing["official"], args.out, log)
    return 0


if __name__ == "__main__":
    run_stage(main)
