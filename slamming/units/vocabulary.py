"""Speech units: the units table and the speech vocabulary.

A units table (Parquet) has one row per utterance: its id and split, the de-duplicated unit ids and
how many frames each lasted (integer lists, not strings), and the number of frames. The frame rate
and the tokeniser's name are in the table's metadata.

The speech vocabulary follows the paper (Table 7): the K units plus a padding token and one token
that marks both the start and the end of a document, so K + 2 tokens (502 for K = 500):

    0 = pad, 1 = BOS/EOS, 2 .. K + 1 = units 0 .. K - 1

An interleaved model's vocabulary (``SpeechVocabulary.with_text``) is a text LM's T ids, then the units,
then the markers: T .. T + K - 1 = units, T + K = <speech>, T + K + 1 = <text>. Every stage maps units
through the vocabulary object, never through the numbers above.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from slamming.artifacts import read_parquet

UNITS_SCHEMA = pa.schema([
    ("id", pa.string()),
    ("split", pa.string()),
    ("units", pa.list_(pa.int16())),       # de-duplicated unit ids (0 .. K-1)
    ("durations", pa.list_(pa.int16())),   # frames each unit lasted (its run length)
    ("num_frames", pa.int32()),            # frames before de-duplication
])


@dataclass(frozen=True)
class SpeechVocabulary:
    """How unit ids map to token ids, and the special tokens. Saved as vocabulary.json beside a tokeniser's centroids, and as speech_vocabulary.json in a speech LM's folder."""

    tokeniser: str
    num_units: int
    frame_rate: float
    pad_id: int = 0
    bos_id: int = 1
    eos_id: int = 1        # the paper and the reference use one token for both ends
    unit_offset: int = 2
    # Interleaving (the paper's section 4.3): a text LM's ids come first (0 .. unit_offset - 1, its own
    # boundary token as BOS and EOS), then the units, then the two modality markers.
    speech_marker: int | None = None
    text_marker: int | None = None

    @property
    def vocab_size(self) -> int:
        return self.num_units + self.unit_offset + (2 if self.speech_marker is not None else 0)

    @property
    def interleaved(self) -> bool:
        """Whether the vocabulary holds a text LM's ids beside the units."""
        return self.speech_marker is not None

    @classmethod
    def with_text(cls, speech: "SpeechVocabulary", text_vocab_size: int, boundary_id: int, pad_id: int) -> "SpeechVocabulary":
        """The vocabulary of an interleaved model: the text LM's ``text_vocab_size`` ids (its ``boundary_id`` as
        BOS and EOS, its ``pad_id``), the speech vocabulary's units after them, then ``<speech>`` and ``<text>``."""
        offset = text_vocab_size
        return cls(tokeniser=speech.tokeniser, num_units=speech.num_units, frame_rate=speech.frame_rate, pad_id=pad_id,
                   bos_id=boundary_id, eos_id=boundary_id, unit_offset=offset,
                   speech_marker=offset + speech.num_units, text_marker=offset + speech.num_units + 1)

    def tokens(self, units: np.ndarray) -> np.ndarray:
        return np.asarray(units, dtype=np.int64) + self.unit_offset

    def units(self, tokens: np.ndarray) -> np.ndarray:
        """Unit ids of the unit tokens in ``tokens``; every other token (special, or a text LM's where the
        vocabulary holds one) dropped."""
        tokens = np.asarray(tokens)
        return tokens[(tokens >= self.unit_offset) & (tokens < self.unit_offset + self.num_units)] - self.unit_offset

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({**asdict(self), "vocab_size": self.vocab_size}, indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "SpeechVocabulary":
        data = json.loads(Path(path).read_text())
        data.pop("vocab_size", None)
        return cls(**data)


def token_dtype(vocab_size: int) -> np.dtype:
    """The narrowest unsigned integer type of packed token arrays for a vocabulary: uint16 for a speech
    vocabulary (502 tokens), uint32 once it holds a text LM's (Qwen2.5's ~152 k ids, interleaving)."""
    return np.dtype(np.uint16) if vocab_size <= np.iinfo(np.uint16).max + 1 else np.dtype(np.uint32)


def deduplicate(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run-length encode frame labels: (units, durations). [5, 5, 7, 5] -> ([5, 7, 5], [2, 1, 1])."""
    labels = np.asarray(labels)
    if len(labels) == 0:
        return labels.astype(np.int16), np.zeros(0, dtype=np.int16)
    starts = np.flatnonzero(np.concatenate([[True], labels[1:] != labels[:-1]]))
    durations = np.diff(np.concatenate([starts, [len(labels)]]))
    return labels[starts].astype(np.int16), np.minimum(durations, np.iinfo(np.int16).max).astype(np.int16)


def table_metadata(tokeniser: str, frame_rate: float) -> dict[bytes, bytes]:
    return {b"tokeniser": tokeniser.encode(), b"frame_rate": str(frame_rate).encode()}


def merge_units(shards: list[str], out: str | Path) -> int:
    """Concatenate units shards, keeping the tokeniser metadata (which must agree)."""
    tables = [read_parquet(p) for p in shards]
    metadata = {t.schema.metadata.get(b"tokeniser") for t in tables}
    if len(metadata) > 1:
        raise ValueError(f"{out}: shards from different tokenisers: {sorted(m.decode() for m in metadata)}")
    table = pa.concat_tables([t.cast(UNITS_SCHEMA.with_metadata(t.schema.metadata)) for t in tables])
    tmp = Path(out).with_name(Path(out).name + ".tmp")
    pq.write_table(table, tmp)
    tmp.replace(out)
    return table.num_rows
