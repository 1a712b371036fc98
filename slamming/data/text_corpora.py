"""Text corpora for speech-text interleaving (the paper's section 4.3): read, split, and quality-filtered.

A text corpus (config ``text_corpora``) is either text tables the workflow writes (the demo's
``demo/documents``) or the files of a source - JSON lines or Parquet shards of a hub dataset at a pinned
revision, read directly (no dataset loading script). Its documents are filtered by all of the Gopher
rules (Rae et al. 2021), quality and repetition, with datatrove's implementation and its defaults: the
official code applied some of them only. A rejected document is kept, with the rule that rejected it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pyarrow as pa

from slamming.artifacts import read_parquet

log = logging.getLogger("text_corpora")

DOCUMENTS_SCHEMA = pa.schema([("id", pa.string()), ("split", pa.string()), ("text", pa.string())])
REJECTED_SCHEMA = pa.schema([("id", pa.string()), ("split", pa.string()), ("reason", pa.string()), ("text", pa.string())])


def table_documents(paths: list[str | Path]) -> list[dict]:
    """The documents (id, split, text) of text tables."""
    return [{"id": row["id"], "split": row["split"], "text": row["text"]}
            for path in paths for row in read_parquet(path, columns=["id", "split", "text"]).to_pylist()]


def split_of(document_id: str, valid_fraction: float) -> str:
    """A document's split from its id alone (its hash), so that adding files never moves a document."""
    draw = int.from_bytes(hashlib.sha256(document_id.encode()).digest()[:8], "little") / 2**64
    return "valid" if draw < valid_fraction else "train"


def file_documents(folder: str | Path, glob: str, text_field: str, valid_fraction: float,
                   max_documents: int | None = None):
    """The documents of a source's JSON-lines or Parquet files, in file order; each id is ``<file>:<line>``."""
    files = sorted(Path(folder).glob(glob))
    if not files:
        raise FileNotFoundError(f"{folder}: no files match {glob!r}")
    count = 0
    for path in files:
        name = path.relative_to(folder).as_posix()
        if path.suffix == ".parquet":
            texts = read_parquet(path, columns=[text_field]).column(text_field).to_pylist()
        else:
            texts = (json.loads(line).get(text_field) for line in path.open(encoding="utf-8") if line.strip())
        for number, text in enumerate(texts):
            if max_documents is not None and count >= max_documents:
                return
            document_id = f"{name}:{number}"
            yield {"id": document_id, "split": split_of(document_id, valid_fraction), "text": text or ""}
            count += 1


class GopherRules:
    """All of the Gopher rules, quality then repetition (datatrove's ``GopherQualityFilter`` and
    ``GopherRepetitionFilter`` with their defaults). ``rejection(text)`` is the first rule a document breaks,
    or None. datatrove splits English words with spaCy's tokenizer (no model download)."""

    def __init__(self):
        from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter

        self.filters = [GopherQualityFilter(), GopherRepetitionFilter()]

    def rejection(self, text: str) -> str | None:
        from datatrove.data import Document

        document = Document(text=text, id="")
        for rule in self.filters:
            verdict = rule.filter(document)
            if verdict is not True:
                return verdict[1] if isinstance(verdict, tuple) else type(rule).__name__
        return None


def filter_documents(documents, rules: str) -> tuple[list[dict], list[dict]]:
    """Documents kept and rejected (with ``reason``) by ``rules`` (gopher, or none). An empty document is
    rejected whatever the rules."""
    gopher = GopherRules() if rules == "gopher" else None
    kept, rejected = [], []
    for document in documents:
        reason = "empty" if not document["text"].strip() else gopher.rejection(document["text"]) if gopher else None
        (rejected if reason else kept).append({**document, "reason": reason} if reason else document)
    return kept, rejected
