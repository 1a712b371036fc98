"""Rule build_demo_source: one of the demo's stand-ins for the full recipe's external data, laid out as
the real one arrives (``slamming.data.demo_sources``): Libri-Light's long recordings with their metadata,
hub Parquet with audio, sLM21's sBLIMP with its gold.csv, spoken StoryCloze's correct and incorrect
files. The source is then read by the same rules as the real data.

Command line::

    python -m workflow_scripts.build_demo_source demo_slm21 --layout slm21 \\
        --manifest results/corpora/demo_blimp_sentences/manifest.parquet --table results/text/demo/blimp.parquet \\
        --settings '{}' --root resources/sources
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from slamming.workflow.schema import with_defaults
from slamming.data.demo_sources import LAYOUTS, build
from slamming.logs import run_stage, setup_logging, stage_parser

log = logging.getLogger("build_demo_source")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("name", help="the source's name in the config")
    parser.add_argument("--layout", choices=LAYOUTS, required=True)
    parser.add_argument("--manifest", required=True, help="the manifest of the synthesised audio it is made of")
    parser.add_argument("--table", nargs="?", help="the demo text table of its items (slm21, storycloze); none for the others")
    parser.add_argument("--settings", required=True, help="the source's demo section as JSON")
    parser.add_argument("--root", default="resources/sources", help="folder that holds all sources")
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    out = Path(args.root) / args.name
    # The layout's defaults from the schema, for settings given by hand (the rule passes complete ones).
    settings = with_defaults("sources.<name>.demo", {**json.loads(args.settings), "layout": args.layout})
    report = build(args.layout, args.manifest, args.table, out, settings)
    for utterance in report.get("without_audio", []):
        log.warning("%s: no audio for %s (its synthesis was rejected): its pair is left out and counted", args.name, utterance)
    record = {"name": args.name, "origin": "demo", "from": f"{args.layout} layout of {args.manifest}", "path": str(out), **report}
    (Path(args.root) / f"{args.name}.json").write_text(json.dumps(record, indent=2) + "\n")
    log.info("%s: %s", args.name, json.dumps({k: v for k, v in report.items() if k != "without_audio"}))
    return 0


if __name__ == "__main__":
    run_stage(main)
