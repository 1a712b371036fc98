"""Rule lhotse_prepare: a corpus's lhotse manifests, once: ``lhotse.recipes.prepare_<recipe>`` on the
downloaded (or source) folder, and of its splits those the corpus keeps, under our split names
(``slamming.data.lhotse_corpora.prepare``).

Command line::

    python -m workflow_scripts.lhotse_prepare --record resources/lhotse/tedlium.json --folder resources/lhotse/tedlium \\
        --settings '{"recipe": "tedlium", "prepare": {}, "splits": {"train": "train", "dev": "valid"}, ...}' \\
        --prepared results/corpora/tedlium/lhotse/prepared --recordings-out results/corpora/tedlium/lhotse/recordings.jsonl.gz \\
        --supervisions-out results/corpora/tedlium/lhotse/supervisions.jsonl.gz
"""

from __future__ import annotations

import logging
from pathlib import Path

from slamming.data.lhotse_corpora import corpus_folder, prepare, use_audio_backend, write_manifest_file
from slamming.logs import json_argument, run_stage, setup_logging, stage_parser

log = logging.getLogger("lhotse_prepare")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--record", required=True, help="the download's record (or the source's)")
    parser.add_argument("--folder", required=True, help="the corpus folder when the record names none (a source's)")
    parser.add_argument("--settings", required=True, type=json_argument,
                        help="recipe, prepare arguments, splits and audio_backend, as JSON")
    parser.add_argument("--prepared", required=True, help="lhotse's own output_dir")
    parser.add_argument("--recordings-out", required=True)
    parser.add_argument("--supervisions-out", required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    settings = args.settings
    use_audio_backend(settings["audio_backend"])
    folder = corpus_folder(Path(args.record), Path(args.folder))
    recordings, supervisions = prepare(settings["recipe"], folder, Path(args.prepared), settings["prepare"], settings["splits"])
    write_manifest_file(recordings, Path(args.recordings_out))
    write_manifest_file(supervisions, Path(args.supervisions_out))
    log.info("%s: %d recordings; %s: %d segments, %.1f h", args.recordings_out, len(recordings), args.supervisions_out,
             len(supervisions), sum(s.duration for s in supervisions) / 3600)
    return 0


if __name__ == "__main__":
    run_stage(main)
