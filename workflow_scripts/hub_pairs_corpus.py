"""Rule hub_pairs_corpus: a hub benchmark of positive and negative audio, one folder of Parquet per part,
like slprl/SALMon: ``<id>_positive`` and ``<id>_negative``, and the items table (id, group = the part)
that its benchmark pairs are made from.

Command line::

    python -m workflow_scripts.hub_pairs_corpus --folder resources/sources/salmon_hub --settings '{"columns": {...}}' \\
        --corpus salmon --audio-dir results/corpora/salmon/audio --items-out results/text/salmon/items.parquet \\
        --out results/corpora/salmon/manifest.parquet --rejected-out results/corpora/salmon/rejected.parquet
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from slamming.data.corpora import ITEMS_SCHEMA, hub_pairs, write_rows
from slamming.logs import run_stage, setup_logging, stage_parser
from slamming.data.manifests import write_manifest

log = logging.getLogger("hub_pairs_corpus")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--folder", required=True, help="the hub snapshot")
    parser.add_argument("--settings", required=True, help="the corpus's hub_pairs section as JSON")
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--audio-dir", required=True)
    parser.add_argument("--items-out", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--rejected-out", required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    rows, rejected, items = hub_pairs(Path(args.folder), json.loads(args.settings)["columns"], Path(args.audio_dir),
                                      source=f"hub:{args.corpus}")
    write_rows(items, ITEMS_SCHEMA, args.items_out)
    write_manifest(rows, rejected, args.out, args.rejected_out, log)
    return 0


if __name__ == "__main__":
    run_stage(main)
