"""Pack units for training, in one of two ways (``pretrain.packing``).

Each utterance becomes a document ``BOS units EOS``. The documents of a data mix (corpora with
weights: 1 uses a corpus once, 2 twice, 0.5 a seeded half) are shuffled with a seed (``mix_order``)
and then either

* ``windows``: laid end to end and cut into windows of the context length (``pack``). A document that
  does not fit the rest of a window continues at the start of the next one. Only the last window has
  padding. Beside each window's tokens is its ``segments`` row: 1 for the first (piece of a) document
  in the window, 2 for the next and so on, 0 for padding; and a flag per window that says whether its
  first segment continues the last document of the window before (BOS and EOS are one token, so a
  piece starting with it does not tell). Attention stays inside a segment, and positions restart at
  each segment, so a window trains like its documents one by one, without the waste of padding them.
  Outputs: ``<split>_tokens.npy`` and ``<split>_segments.npy`` (uint16, or uint32 tokens for a vocabulary
  past 65,536 ids; windows x context,
  memory-mapped by training), ``<split>_continued.npy`` (bool, one per window).
* ``official``: cut into chunks as the official code does (``chunk``): each document into chunks of
  the context length from its start, its last chunk shorter; a chunk never holds two documents.
  Training lays each micro-batch's chunks end to end in one row (``pretraining.PackedChunks``), as the
  official code's collator does, so that a row of ``per_device_batch_size`` chunks is ~60 % full
  at Slam's sizes. Outputs: ``<split>_chunk_tokens.npy`` (uint16 or uint32, the documents end to end, in mix
  order) and ``<split>_chunk_offsets.npy`` (int64: chunk i is tokens[offsets[i]:offsets[i+1]]).

Either way ``packing.json`` has the counts and the fill ratio (for chunks, the fill of a row of
context x batch: real tokens over chunks x context).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.compute as pc

from slamming.artifacts import read_parquet
from slamming.units.vocabulary import SpeechVocabulary, token_dtype

log = logging.getLogger("pack")

SPLITS = ("train", "valid")
# The arrays each packing writes per split: the files training reads.
ARRAYS = {"windows": ("tokens", "segments", "continued"), "official": ("chunk_tokens", "chunk_offsets")}


def array_names(packing: str) -> list[str]:
    """The .npy files a packing (windows or official) writes, every split's."""
    return [f"{split}_{array}.npy" for split in SPLITS for array in ARRAYS[packing]]


@dataclass
class Documents:
    """Documents as one flat token array and offsets: document i is tokens[offsets[i]:offsets[i+1]]."""

    tokens: np.ndarray
    offsets: np.ndarray

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)


def read_documents(units_path: str | Path, split: str, vocabulary: SpeechVocabulary) -> Documents:
    """The utterances of ``split`` as ``BOS units EOS`` documents, without a Python object per unit."""
    table = read_parquet(units_path, columns=["split", "units"])
    column = table.filter(pc.equal(table["split"], split))["units"].combine_chunks()
    units = column.flatten().to_numpy().astype(np.int64) + vocabulary.unit_offset
    unit_offsets = column.offsets.to_numpy() - column.offsets[0].as_py()
    n = len(unit_offsets) - 1
    lengths = np.diff(unit_offsets) + 2
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    tokens = np.empty(offsets[-1], dtype=token_dtype(vocabulary.vocab_size))
    tokens[offsets[:-1]] = vocabulary.bos_id
    tokens[offsets[1:] - 1] = vocabulary.eos_id
    # the units fill the rest: every position but the first and last of each document
    inner = np.ones(offsets[-1], dtype=bool)
    inner[offsets[:-1]] = False
    inner[offsets[1:] - 1] = False
    tokens[inner] = units
    assert n == len(lengths)
    return Documents(tokens, offsets)


def token_documents(rows, vocabulary: SpeechVocabulary) -> Documents:
    """Documents already in tokens (lists of ids), as one flat array."""
    lengths = np.array([len(row) for row in rows], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    tokens = np.fromiter((t for row in rows for t in row), dtype=token_dtype(vocabulary.vocab_size), count=int(offsets[-1]))
    return Documents(tokens, offsets)


def mix_order(sizes: list[int], weights: list[float], seed: int) -> np.ndarray:
    """Rows of (corpus, document) for a weighted mix, shuffled: weight w takes floor(w) full passes
    over a corpus plus a seeded (w - floor(w)) share of it."""
    rng = np.random.default_rng(seed)
    order = []
    for corpus, (size, weight) in enumerate(zip(sizes, weights)):
        whole, part = int(weight), weight - int(weight)
        chosen = [np.arange(size)] * whole
        if part > 0:
            chosen.append(np.sort(rng.choice(size, size=round(part * size), replace=False)))
        for documents in chosen:
            order.append(np.stack([np.full(len(documents), corpus), documents], axis=1))
    order = np.concatenate(order) if order else np.zeros((0, 2), dtype=np.int64)
    return order[rng.permutation(len(order))]


def pack(corpora: list[Documents], order: np.ndarray, context: int, tokens_out: np.ndarray,
         segments_out: np.ndarray, continued_out: np.ndarray, pad_id: int) -> dict:
    """Lay the documents of ``order`` end to end into ``tokens_out`` / ``segments_out`` (windows x
    context); ``continued_out[w]`` is set when window w starts with the rest of a document."""
    flat_tokens, flat_segments = tokens_out.reshape(-1), segments_out.reshape(-1)
    position, window, segment, split_documents = 0, -1, 0, 0
    for corpus, index in order:
        documents = corpora[corpus]
        start, end = documents.offsets[index], documents.offsets[index + 1]
        length = end - start
        flat_tokens[position:position + length] = documents.tokens[start:end]
        piece_start, doc_end = position, position + length
        if piece_start // context != (doc_end - 1) // context:
            split_documents += 1
        while piece_start < doc_end:  # one piece per window the document touches
            this_window = piece_start // context
            if this_window != window:
                window, segment = this_window, 0
                continued_out[window] = piece_start != position
            segment += 1
            piece_end = min(doc_end, (this_window + 1) * context)
            flat_segments[piece_start:piece_end] = segment
            piece_start = piece_end
        position = doc_end
    flat_tokens[position:] = pad_id
    flat_segments[position:] = 0
    continued_out[window + 1:] = False
    windows = tokens_out.shape[0]
    return {"documents": len(order), "tokens": int(position), "windows": int(windows),
            "fill_ratio": position / max(windows * context, 1), "documents_split_across_windows": split_documents}


def chunk_offsets(lengths: np.ndarray, context: int) -> np.ndarray:
    """Chunk boundaries in documents of ``lengths`` laid end to end: each document cut into chunks of
    ``context`` tokens from its start, the last one shorter. Chunk i is [offsets[i], offsets[i+1])."""
    lengths = np.asarray(lengths, dtype=np.int64)
    counts = -(-lengths // context)
    starts = np.cumsum(lengths) - lengths
    first_chunk = np.cumsum(counts) - counts  # of each document
    within = np.arange(int(counts.sum())) - np.repeat(first_chunk, counts)
    return np.concatenate([np.repeat(starts, counts) + within * context, [int(lengths.sum())]]).astype(np.int64)


def chunk(corpora: list[Documents], order: np.ndarray, context: int, tokens_out: np.ndarray) -> tuple[np.ndarray, dict]:
    """Lay the documents of ``order`` end to end into ``tokens_out`` (flat); the offsets of their
    chunks (``chunk_offsets``) and the counts."""
    lengths = np.zeros(len(order), dtype=np.int64)
    position = 0
    for row, (corpus, index) in enumerate(order):
        documents = corpora[corpus]
        start, end = documents.offsets[index], documents.offsets[index + 1]
        tokens_out[position:position + end - start] = documents.tokens[start:end]
        lengths[row], position = end - start, position + end - start
    offsets = chunk_offsets(lengths, context)
    chunks = len(offsets) - 1
    return offsets, {"documents": len(order), "tokens": int(position), "chunks": int(chunks),
                     "mean_tokens_per_chunk": position / max(chunks, 1),
                     # what a row of context x batch carries on average (the official code's ~60 %)
                     "fill_ratio": position / max(chunks * context, 1),
                     "documents_split_across_chunks": int((lengths > context).sum())}


def reference_fill_ratio(lengths: np.ndarray, context: int, batch_size: int) -> float:
    """Fill of the reference code's contexts: documents cut into chunks of at most ``context``
    tokens, each batch of ``batch_size`` chunks concatenated into one sequence."""
    chunks = np.diff(chunk_offsets(lengths, context))
    batches = int(np.ceil(len(chunks) / batch_size))
    return float(chunks.sum() / max(batches * batch_size * context, 1))


def mixed_documents(corpora: dict[str, dict], split: str, vocabulary: SpeechVocabulary, seed: int):
    """The documents of each corpus of the mix and the seeded mix order over them. The weights are the
    training split's; the validation split takes each corpus once, a weight of 0 included, so that runs
    whose data differ only in weights (a data study) are validated on the same documents."""
    documents = [read_documents(spec["units"], split, vocabulary) for spec in corpora.values()]
    weights = [spec["weight"] if split == "train" else 1.0 for spec in corpora.values()]
    order = mix_order([len(d) for d in documents], weights, seed)
    return documents, order


def order_tokens(documents: list[Documents], order: np.ndarray) -> list[int]:
    """Tokens of each set of documents in a mix order."""
    return [int(d.lengths[order[order[:, 0] == c, 1]].sum()) for c, d in enumerate(documents)]


def pack_split(documents: list[Documents], order: np.ndarray, split: str, vocabulary: SpeechVocabulary, context: int,
               out_dir: Path) -> dict:
    """``windows``: the split's mix packed into full windows (see the module's docstring)."""
    total = sum(order_tokens(documents, order))
    windows = max(1, -(-total // context))
    tokens = np.lib.format.open_memmap(out_dir / f"{split}_tokens.npy.tmp", mode="w+", dtype=token_dtype(vocabulary.vocab_size),
                                       shape=(windows, context))
    segments = np.lib.format.open_memmap(out_dir / f"{split}_segments.npy.tmp", mode="w+", dtype=np.uint16, shape=(windows, context))
    continued = np.zeros(windows, dtype=bool)
    stats = pack(documents, order, context, tokens, segments, continued, vocabulary.pad_id)
    tokens.flush()
    segments.flush()
    del tokens, segments
    np.save(out_dir / f"{split}_continued.npy.tmp.npy", continued)
    (out_dir / f"{split}_continued.npy.tmp.npy").replace(out_dir / f"{split}_continued.npy")
    for name in ("tokens", "segments"):
        (out_dir / f"{split}_{name}.npy.tmp").replace(out_dir / f"{split}_{name}.npy")
    return stats


def chunk_split(documents: list[Documents], order: np.ndarray, split: str, vocabulary: SpeechVocabulary, context: int,
                out_dir: Path) -> dict:
    """``official``: the split's mix cut into the official code's chunks (see the module's docstring)."""
    total = sum(order_tokens(documents, order))
    tokens = np.lib.format.open_memmap(out_dir / f"{split}_chunk_tokens.npy.tmp", mode="w+", dtype=token_dtype(vocabulary.vocab_size),
                                       shape=(total,))
    offsets, stats = chunk(documents, order, context, tokens)
    tokens.flush()
    del tokens
    np.save(out_dir / f"{split}_chunk_offsets.npy.tmp.npy", offsets)
    (out_dir / f"{split}_chunk_offsets.npy.tmp.npy").replace(out_dir / f"{split}_chunk_offsets.npy")
    (out_dir / f"{split}_chunk_tokens.npy.tmp").replace(out_dir / f"{split}_chunk_tokens.npy")
    return stats
