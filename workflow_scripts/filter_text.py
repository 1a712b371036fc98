"""Rule filter_text: a text corpus (``text_corpora``) read and quality-filtered (``slamming.data.text_corpora``):
results/text_corpora/<name>.parquet (id, split, text), <name>_rejected.parquet (id, split, reason, text) and
<name>.json (documents kept and rejected, by rule and split).

Command line::

    python -m workflow_scripts.filter_text --settings '{"tables": ["demo/documents"], "filter": "gopher"}' \\
        --tables results/text/demo/documents.parquet --out results/text_corpora/demo_text_documents.parquet \\
        --rejected-out results/text_corpora/demo_text_documents_rejected.parquet --report results/text_corpora/demo_text_documents.json
"""

from __future__ import annotations

import collections
import json
import logging

import pyarrow as pa
from tqdm import tqdm

from slamming.data.manifests import write_arrow
from slamming.data.text_corpora import DOCUMENTS_SCHEMA, REJECTED_SCHEMA, file_documents, filter_documents, table_documents
from slamming.logs import run_stage, setup_logging, stage_parser

log = logging.getLogger("filter_text")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--settings", required=True, help="the corpus's text_corpora entry as JSON")
    parser.add_argument("--tables", nargs="*", default=[], help="its text tables' files (tables)")
    parser.add_argument("--folder", help="its source's folder (files)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--rejected-out", required=True)
    parser.add_argument("--report", required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    settings = json.loads(args.settings)
    if args.tables:
        documents = table_documents(args.tables)
    else:
        files = settings["files"]
        documents = file_documents(args.folder, files["glob"], files["text_field"], files["valid_fraction"], files["max_documents"])
    kept, rejected = filter_documents(tqdm(documents, desc="filter", unit="doc", mininterval=10), settings["filter"])
    write_arrow(pa.Table.from_pylist(kept, schema=DOCUMENTS_SCHEMA), args.out)
    write_arrow(pa.Table.from_pylist(rejected, schema=REJECTED_SCHEMA), args.rejected_out)
    by_rule = collections.Counter(row["reason"] for row in rejected)
    report = {"filter": settings["filter"], "kept": len(kept), "rejected": len(rejected), "rejected_by_rule": dict(by_rule),
              "kept_by_split": dict(collections.Counter(row["split"] for row in kept))}
    with open(args.report, "w") as f:
        f.write(json.dumps(report, indent=2) + "\n")
    log.info("%d documents kept, %d rejected (%s)", len(kept), len(rejected),
             ", ".join(f"{rule}: {n}" for rule, n in by_rule.most_common()) or "none")
    return 0


if __name__ == "__main__":
    run_stage(main)
