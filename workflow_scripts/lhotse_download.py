"""Rule lhotse_download: a corpus downloaded by its lhotse recipe (``lhotse.recipes.download_<recipe>``)
into a folder of its own, once (``slamming.data.lhotse_corpora.download``); the record says which folder
the recipe's prepare reads.

Command line::

    python -m workflow_scripts.lhotse_download --settings '{"recipe": "tedlium", "download": {}}' \\
        --folder resources/lhotse/tedlium --record resources/lhotse/tedlium.json
"""

from __future__ import annotations

import logging
from pathlib import Path

from slamming.data.lhotse_corpora import download, write_download_record
from slamming.logs import json_argument, run_stage, setup_logging, stage_parser

log = logging.getLogger("lhotse_download")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--settings", required=True, type=json_argument, help="the recipe and its download arguments, as JSON")
    parser.add_argument("--folder", required=True, help="where the corpus is downloaded to")
    parser.add_argument("--record", required=True, help="the record written once it is there")
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    settings = args.settings
    corpus_dir = download(settings["recipe"], settings["download"], Path(args.folder))
    write_download_record(Path(args.record), Path(args.folder))
    log.info("%s: downloaded; the recipe's prepare reads %s", args.record, corpus_dir)
    return 0


if __name__ == "__main__":
    run_stage(main)
