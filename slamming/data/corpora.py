"""Manifests of the full recipe's corpora, from the unpacked official archives and the hub's Parquet.

* ``librispeech``: LibriSpeech's layout, ``LibriSpeech/<subset>/<speaker>/<chapter>/<id>.flac`` with
  ``<speaker>-<chapter>.trans.txt`` (``<id> TRANSCRIPT`` per line). Train subsets are the train split,
  dev-clean and dev-other the valid split, as the paper. A transcript line without audio and audio
  without a transcript line are both listed in the rejected table.
* ``librilight``: Libri-Light's ``<subset>/<speaker>/<book>/<file>.flac`` (each with a ``.json`` of
  metadata, which is not needed). One row per recording, to be cut by ``vad_chunk``; a seeded 1 % of
  the recordings (``valid_fraction``) form the valid split, as the paper. A recording is only checked
  to be readable here, whatever its length (they average 16 minutes): the corpus's audio checks apply
  to each VAD chunk.
* ``hub-audio``: Parquet files in the hub's ``datasets.Audio`` schema (an audio struct with the
  encoded file's ``bytes`` and ``path``), like ``slprl/sTinyStories``: each row's audio is written out
  as the file it was (no re-encoding) and listed with its text.
* ``hub-triples``: Parquet with a prompt, a chosen and a rejected audio column and their texts, like
  ``slprl/SpokenSwag``: the three recordings of each row become ``<id>_prompt``, ``<id>_chosen`` and
  ``<id>_rejected``, and the triples table (id, prompt, chosen, rejected texts) is written for DPO.
* ``hub-pairs``: Parquet with a positive and a negative audio column, like ``slprl/SALMon`` (one
  folder of Parquet per part): ``<id>_positive`` and ``<id>_negative``, and the items table (id,
  group = the part) that benchmark pairs are made from.

The rules librispeech_manifest, librilight_recordings, hub_audio_shard, hub_triples_shard and hub_pairs_corpus
run these (``workflow_scripts/<rule>.py``).
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from slamming.artifacts import read_parquet
from slamming.data.manifests import scan_audio_files

log = logging.getLogger("prepare_corpus")


def librispeech(folders: dict[str, list[Path]], decode: bool = False):
    """Manifest and rejected rows of LibriSpeech subsets, by split: {"train": [...], "valid": [...]}."""
    files, texts, split_of, rejected = [], {}, {}, []
    for split, roots in folders.items():
        for root in roots:
            transcripts = sorted(Path(root).rglob("*.trans.txt"))
            if not transcripts:
                raise FileNotFoundError(f"{root}: no LibriSpeech transcripts (*.trans.txt) below it; is it an unpacked subset?")
            listed = set()
            for transcript in transcripts:
                for line in transcript.read_text(encoding="utf-8").splitlines():
                    if not line.strip():
                        continue
                    utt_id, _, text = line.strip().partition(" ")
                    audio = transcript.parent / f"{utt_id}.flac"
                    listed.add(audio)
                    if not audio.exists():
                        rejected.append({"id": utt_id, "path": str(audio), "reason": f"listed in {transcript.name} but missing",
                                         "source": "librispeech"})
                        continue
                    files.append((utt_id, audio))
                    texts[utt_id], split_of[utt_id] = text, split
            for audio in sorted(set(Path(root).rglob("*.flac")) - listed):
                rejected.append({"id": audio.stem, "path": str(audio), "reason": "no transcript line", "source": "librispeech"})
    rows, bad = scan_audio_files(files, split_of=split_of.get, source="librispeech", decode=decode, texts=texts)
    return rows, rejected + bad


def librilight(roots: list[Path], valid_fraction: float, seed: int, pattern: str):
    """One row per readable recording of the unpacked Libri-Light subsets (or any long recordings the glob
    ``pattern`` finds below the roots), whatever its length; a seeded share goes to valid."""
    files = []
    for root in roots:
        for audio in sorted(p for p in Path(root).glob(pattern) if p.is_file()):
            files.append(("__".join(audio.relative_to(root).with_suffix("").parts), audio))
    if not files:
        raise FileNotFoundError(f"no {pattern} below {', '.join(map(str, roots))}; are the archives unpacked?")
    ids = sorted(i for i, _ in files)
    valid = set(random.Random(seed).sample(ids, round(valid_fraction * len(ids))))
    # Headers only: the files are long; the VAD stage reads each in full and measures its chunks.
    return scan_audio_files(files, split_of=lambda i: "valid" if i in valid else "train", source="librilight", decode=False)


def _audio_suffix(struct: dict) -> str:
    suffix = Path(struct.get("path") or "").suffix.lower()
    return suffix if suffix in (".wav", ".flac", ".mp3", ".ogg", ".opus") else ".wav"


def _write_audio(struct: dict, folder: Path, utt_id: str) -> Path | None:
    """The encoded file of a datasets.Audio value, written as it is."""
    if not struct or not struct.get("bytes"):
        return None
    path = folder / f"{utt_id}{_audio_suffix(struct)}"
    path.write_bytes(struct["bytes"])
    return path


def _no_audio(utt_id: str, parquet: Path, source: str) -> dict:
    """The rejected row of a Parquet row whose audio cell is empty: nothing is dropped unrecorded."""
    return {"id": utt_id, "path": str(parquet), "reason": "no audio in its Parquet row", "source": source}


def parquet_files(folder: Path, split: str) -> list[Path]:
    """The Parquet files of a split in a hub dataset snapshot (data/<split>-*.parquet and similar)."""
    found = sorted(p for p in Path(folder).rglob("*.parquet") if p.name.startswith(f"{split}-") or f"/{split}/" in str(p)
                   or p.parent.name == split)
    if not found:
        raise FileNotFoundError(f"{folder}: no Parquet files of the split {split!r}")
    return found


def hub_audio(folder: Path, splits: dict[str, str], audio_column: str, text_column: str | None, id_column: str | None,
              shard: int, shards: int, audio_dir: Path, source: str):
    """Rows of this shard's Parquet files (files i, i + shards, ...), audio written to ``audio_dir``."""
    audio_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(f, ours) for theirs, ours in splits.items() for f in parquet_files(folder, theirs)]
    files, texts, split_of, no_audio = [], {}, {}, []
    for path, split in jobs[shard::shards]:
        columns = [c for c in (audio_column, text_column, id_column) if c]
        for row_number, row in enumerate(read_parquet(path, columns=columns).to_pylist()):
            utt_id = str(row[id_column]) if id_column else f"{path.stem}_{row_number:06d}"
            written = _write_audio(row[audio_column], audio_dir, utt_id)
            if written is None:
                no_audio.append(_no_audio(utt_id, path, source))
                continue
            files.append((utt_id, written))
            texts[utt_id], split_of[utt_id] = (row.get(text_column) if text_column else None), split
    rows, rejected = scan_audio_files(files, split_of=split_of.get, source=source, texts=texts)
    return rows, no_audio + rejected


def hub_triples(folder: Path, split: str, columns: dict[str, str], shard: int, shards: int, audio_dir: Path,
                source: str):
    """Rows of prompt/chosen/rejected recordings and the triples table, for this shard's Parquet files."""
    audio_dir.mkdir(parents=True, exist_ok=True)
    files, texts, triples, no_audio = [], {}, [], []
    for path in parquet_files(folder, split)[shard::shards]:
        table = read_parquet(path).to_pylist()
        for row_number, row in enumerate(table):
            pair_id = f"{path.stem}_{row_number:06d}"
            pair = {"id": pair_id}
            for part in ("prompt", "chosen", "rejected"):
                utt_id = f"{pair_id}_{part}"
                written = _write_audio(row[columns[f"{part}_audio"]], audio_dir, utt_id)
                text = row.get(columns.get(f"{part}_text", ""), None) or ""
                pair[part] = text
                if written is None:
                    no_audio.append(_no_audio(utt_id, path, source))
                else:
                    files.append((utt_id, written))
                    texts[utt_id] = text
            triples.append(pair)
    rows, rejected = scan_audio_files(files, split_of=lambda i: "train", source=source, texts=texts)
    return rows, no_audio + rejected, triples


def hub_pairs(folder: Path, columns: dict[str, str], audio_dir: Path, source: str):
    """Rows of positive/negative recordings and the items table, from every Parquet file below ``folder``
    (the group of an item is the folder its file is in: SALMon's part)."""
    audio_dir.mkdir(parents=True, exist_ok=True)
    files, items, no_audio = [], [], []
    for path in sorted(Path(folder).rglob("*.parquet")):
        group = path.parent.name if path.parent != Path(folder) else path.stem
        for row_number, row in enumerate(read_parquet(path).to_pylist()):
            item = f"{group}_{row.get(columns.get('id', ''), row_number)}"
            for side in ("positive", "negative"):
                written = _write_audio(row[columns[f"{side}_audio"]], audio_dir, f"{item}_{side}")
                if written is None:
                    no_audio.append(_no_audio(f"{item}_{side}", path, source))
                else:
                    files.append((f"{item}_{side}", written))
            items.append({"id": item, "group": group})
    rows, rejected = scan_audio_files(files, split_of=lambda i: "test", source=source)
    return rows, no_audio + rejected, items


ITEMS_SCHEMA = pa.schema([("id", pa.string()), ("group", pa.string())])
TRIPLES_SCHEMA = pa.schema([(k, pa.string()) for k in ("id", "prompt", "chosen", "rejected")])


def write_rows(rows: list[dict], schema: pa.Schema, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
