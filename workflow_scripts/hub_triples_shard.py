"""Rule hub_triples_shard: one shard of a hub data set of preference triples with three audio columns and
their texts, like slprl/SpokenSwag: ``<id>_prompt``, ``<id>_chosen`` and ``<id>_rejected``, and the
shard's triples table for DPO.

Command line::

    python -m workflow_scripts.hub_triples_shard --folder resources/sources/spokenswag_hub --settings '{...}' \\
        --shard 0 --shards 16 --corpus spokenswag --audio-dir results/corpora/spokenswag/audio/0 \\
        --pairs-out results/corpora/spokenswag/shards/0.pairs.parquet --out results/corpora/spokenswag/shards/0.parquet \\
        --rejected-out results/corpora/spokenswag/shards/0.rejected.parquet
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from slamming.data.corpora import TRIPLES_SCHEMA, hub_triples, write_rows
from slamming.logs import run_stage, setup_logging, stage_parser
from slamming.data.manifests import write_manifest

log = logging.getLogger("hub_triples_shard")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--folder", required=True, help="the hub snapshot")
    parser.add_argument("--settings", required=True, help="the corpus's hub_triples section as JSON")
    parser.add_argument("--shard", type=int, default=0)
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--audio-dir", required=True)
    parser.add_argument("--pairs-out", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--rejected-out", required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    settings = json.loads(args.settings)
    rows, rejected, triples = hub_triples(Path(args.folder), settings["split"], settings["columns"], args.shard,
                                          args.shards, Path(args.audio_dir), source=f"hub:{args.corpus}")
    write_rows(triples, TRIPLES_SCHEMA, args.pairs_out)
    write_manifest(rows, rejected, args.out, args.rejected_out, log)
    return 0


if __name__ == "__main__":
    run_stage(main)
