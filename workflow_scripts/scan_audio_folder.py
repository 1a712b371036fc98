"""Rule scan_audio_folder: the manifest of an ``audio_folder`` corpus (your own recordings, or a benchmark's
files): every audio file is read and measured for the corpus's audio checks (which the rule
apply_audio_checks applies), and the ones that cannot be read are listed with the reason.

Command line::

    python -m workflow_scripts.scan_audio_folder --folder resources/sources/mine --corpus mine \\
        --settings '{"source": "mine", "glob": "**/*.wav"}' \\
        --out results/corpora/mine/candidates.parquet --rejected-out results/corpora/mine/candidates.rejected.parquet
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from slamming.workflow.schema import with_defaults
from slamming.logs import StageError, run_stage, setup_logging, stage_parser
from slamming.data.manifests import MANIFEST_SCHEMA, REJECTED_SCHEMA, scan_folder, write_table

log = logging.getLogger("scan_audio_folder")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--folder", required=True)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--settings", required=True, help="the corpus's audio_folder section as JSON")
    parser.add_argument("--out", required=True)
    parser.add_argument("--rejected-out", required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    folder = Path(args.folder)
    if not folder.is_dir():
        raise StageError(f"audio folder {folder} not found; check the source of corpora.{args.corpus}.audio_folder")
    settings = with_defaults("corpora.<name>.audio_folder", json.loads(args.settings))  # by hand: the schema's defaults
    rows, rejected = scan_folder(folder, args.corpus, settings)
    if not rows and all(r["reason"].startswith("not audio") for r in rejected):  # not one audio file
        raise StageError(f"no audio files in {folder} (glob {settings['glob']!r}); put the recordings there, "
                         f"or change corpora.{args.corpus}.audio_folder")
    write_table(rows, MANIFEST_SCHEMA, args.out)
    write_table(rejected, REJECTED_SCHEMA, args.rejected_out)
    log.info("%s: %d files, %d rejected", args.out, len(rows), len(rejected))
    for row in rejected:
        log.warning("rejected %s: %s", row["path"], row["reason"])
    return 0


if __name__ == "__main__":
    run_stage(main)
