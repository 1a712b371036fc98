"""Extract speech units: one shard of a corpus manifest to a units table.

Each utterance is read (resampled and downmixed as needed), encoded by the HuBERT layer, assigned to
its nearest centroid frame by frame, and de-duplicated into units and durations. Utterances are
sorted by length and batched up to ``batch_seconds`` of padded audio, so little compute goes to
padding; audio is read by DataLoader workers while the encoder runs. A file's units do not depend on
its batch (see ``encoder.py``). The encoder runs in float32, as the reference extracts units; a
tokeniser with ``dtype: bfloat16`` runs it under bfloat16 autocast instead (faster on a GPU, and some
units differ: ``python -m benchmarking.units`` measures how many), and its units are stored under another key.

Audio that cannot be used goes to the rejected table beside the output, with the reason.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from slamming.data.audio import AudioRejected, read_audio
from slamming.units.encoder import SAMPLE_RATE, SpeechEncoder
from slamming.units.kmeans import NearestCentroid
from slamming.units.vocabulary import UNITS_SCHEMA, deduplicate, table_metadata

log = logging.getLogger("extract_units")


def length_sorted_batches(lengths: list[float], budget: float) -> list[list[int]]:
    """Indices sorted by length and grouped so that each batch, padded to its longest item, holds at
    most ``budget`` (seconds of audio, tokens ...): little compute goes to padding."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches, current = [], []
    for i in order:
        if current and (len(current) + 1) * lengths[i] > budget:
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


class AudioBatches(torch.utils.data.Dataset):
    """Batch ``i`` of the manifest rows: (row, wave or None, rejection reason or None) per item."""

    def __init__(self, rows: list[dict], batches: list[list[int]]):
        self.rows, self.batches = rows, batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int):
        items = []
        for j in self.batches[i]:
            row = self.rows[j]
            try:
                items.append((row, torch.from_numpy(read_audio(row["path"], SAMPLE_RATE)), None))
            except AudioRejected as e:
                items.append((row, None, e.reason))
        return items


def extract(rows: list[dict], encoder: SpeechEncoder, assign: NearestCentroid, batch_seconds: float, workers: int = 0):
    """(units rows, rejected rows, seconds of audio) for manifest ``rows``."""
    from tqdm import tqdm

    batches = length_sorted_batches([r["duration"] for r in rows], batch_seconds)
    loader = torch.utils.data.DataLoader(AudioBatches(rows, batches), batch_size=None, shuffle=False,
                                         num_workers=workers, collate_fn=lambda items: items)
    out, rejected, seconds = {}, [], 0.0
    with tqdm(total=len(rows), desc="extract units", unit="utt", file=sys.stderr) as bar:
        for items in loader:
            good = [(row, wave) for row, wave, reason in items if wave is not None]
            rejected += [{"id": row["id"], "path": row["path"], "reason": reason, "source": "extract_units"}
                         for row, wave, reason in items if wave is None]
            if good:
                features = encoder.encode([wave for _, wave in good])
                lengths = [len(f) for f in features]
                labels = np.split(assign(torch.cat(features)).numpy(), np.cumsum(lengths)[:-1])
                for (row, wave), frame_labels in zip(good, labels):
                    units, durations = deduplicate(frame_labels)
                    out[row["id"]] = {"id": row["id"], "split": row["split"], "units": units, "durations": durations,
                                      "num_frames": len(frame_labels)}
                    seconds += len(wave) / SAMPLE_RATE
            bar.update(len(items))
    # Back to manifest order: the table does not depend on how it was batched.
    return [out[r["id"]] for r in rows if r["id"] in out], rejected, seconds


def write_units(rows: list[dict], path: str | Path, tokeniser: str, frame_rate: float) -> None:
    table = pa.Table.from_pylist(rows, schema=UNITS_SCHEMA).replace_schema_metadata(table_metadata(tokeniser, frame_rate))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)


def pick_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device
