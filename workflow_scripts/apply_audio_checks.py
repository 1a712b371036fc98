"""Rule apply_audio_checks: a corpus's manifest from its candidates - the files that pass the corpus's
audio checks (``audio_checks`` in the config: by the kind of corpus, or the corpus's own) - and its
rejected table: what the stages before turned away, and each file that failed a check, with the reason.

The checks run on what the stages before measured (duration, the share of clipped samples, silence),
so a changed check re-runs this job alone, never the synthesis, download or VAD that made the files.

Command line::

    python -m workflow_scripts.apply_audio_checks --candidates results/corpora/c/candidates.parquet \\
        --rejected results/corpora/c/candidates.rejected.parquet --checks '{"min_seconds": 0.2, ...}' --corpus c \\
        --out results/corpora/c/manifest.parquet --rejected-out results/corpora/c/rejected.parquet
"""

from __future__ import annotations

import json
import logging

import pyarrow as pa

from slamming.data.audio import AudioChecks
from slamming.logs import StageError, run_stage, setup_logging, stage_parser
from slamming.data.manifests import MANIFEST_SCHEMA, REJECTED_SCHEMA, apply_checks, read_table, write_arrow

log = logging.getLogger("apply_audio_checks")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--candidates", required=True, help="the corpus's files before the checks")
    parser.add_argument("--rejected", required=True, help="what the stages before rejected")
    parser.add_argument("--checks", required=True, help="the corpus's audio checks as JSON")
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--rejected-out", required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    candidates = read_table(args.candidates, MANIFEST_SCHEMA).select(MANIFEST_SCHEMA.names).cast(MANIFEST_SCHEMA)
    try:
        kept, failed = apply_checks(candidates, AudioChecks.from_config(json.loads(args.checks)))
    except ValueError as e:
        raise StageError(f"corpora.{args.corpus}.audio_checks: {e}") from None
    before = read_table(args.rejected, REJECTED_SCHEMA).select(REJECTED_SCHEMA.names).cast(REJECTED_SCHEMA)
    rejected = pa.concat_tables([before, pa.Table.from_pylist(failed, schema=REJECTED_SCHEMA)])
    write_arrow(kept, args.out)
    write_arrow(rejected, args.rejected_out)
    for row in failed[:20]:
        log.warning("rejected %s: %s", row["path"], row["reason"])
    if len(failed) > 20:
        log.warning("... and %d more (all in %s)", len(failed) - 20, args.rejected_out)
    log.info("%s: %d of %d files kept (%.2f h); %d failed the checks %s, %d rejected before", args.out, kept.num_rows,
             candidates.num_rows, sum(kept["duration"].to_pylist()) / 3600, len(failed), args.checks, before.num_rows)
    return 0


if __name__ == "__main__":
    run_stage(main)
