"""Rule hub_audio_shard: one shard of a hub data set of Parquet files with audio (datasets.Audio) and
text, like slprl/sTinyStories: each row's audio is written out as the file it was, and listed.

Command line::

    python -m workflow_scripts.hub_audio_shard --folder resources/sources/stinystories_hub \\
        --settings '{"splits": {"train": "train"}, ...}' --shard 0 --shards 128 --corpus stinystories \\
        --audio-dir results/corpora/stinystories/audio/0 --out results/corpora/stinystories/shards/0.parquet \\
        --rejected-out results/corpora/stinystories/shards/0.rejected.parquet
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from slamming.workflow.schema import with_defaults
from slamming.data.corpora import hub_audio
from slamming.logs import run_stage, setup_logging, stage_parser
from slamming.data.manifests import write_manifest

log = logging.getLogger("hub_audio_shard")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--folder", required=True, help="the hub snapshot")
    parser.add_argument("--settings", required=True, help="the corpus's hub_audio section as JSON")
    parser.add_argument("--shard", type=int, default=0)
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--audio-dir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--rejected-out", required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    settings = with_defaults("corpora.<name>.hub_audio", json.loads(args.settings))  # by hand: the schema's defaults
    rows, rejected = hub_audio(Path(args.folder), settings["splits"], settings["audio_column"],
                               settings.get("text_column"), settings.get("id_column"), args.shard, args.shards,
                               Path(args.audio_dir), source=f"hub:{args.corpus}")
    write_manifest(rows, rejected, args.out, args.rejected_out, log)
    return 0


if __name__ == "__main__":
    run_stage(main)
