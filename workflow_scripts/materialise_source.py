"""Rule materialise_source: bring one external model or data set into resources/sources/<name>/ and
write what it is and where it came from (resources/sources/<name>.json).

Command line::

    python -m workflow_scripts.materialise_source NAME --spec '{"url": ..., "sha256": ...}' --root resources/sources
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from slamming.workflow.schema import with_defaults
from slamming.logs import run_stage, setup_logging, stage_parser
from slamming.data.sources import materialise

log = logging.getLogger("materialise_source")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("name", help="the source's name in the config")
    parser.add_argument("--spec", required=True, help="the source's config entry as JSON")
    parser.add_argument("--root", default="resources/sources", help="folder that holds all sources")
    parser.add_argument("--record", help="where to write the provenance record (JSON); default <root>/<name>.json")
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    record = materialise(args.name, with_defaults("sources.<name>", json.loads(args.spec)), args.root)  # by hand: the schema's defaults
    out = Path(args.record or Path(args.root) / f"{args.name}.json")
    out.write_text(json.dumps(record, indent=2) + "\n")
    log.info("%s: materialised from %s", args.name, record["from"])
    return 0


if __name__ == "__main__":
    run_stage(main)
