"""Word alignments: each word of an utterance with its start and end in seconds, what interleaving needs to
put a word's units in place of its text (``slamming.data.interleaving``).

Two aligners, as the paper's:

* ``tts``: where the workflow synthesised the audio, the TTS's own timing (the paper takes sTinyStories'
  alignment from its TTS). Piper reports how many samples each phoneme lasted (its voice patched in memory
  to expose them, which needs the ``onnx`` package); espeak's phonemes mark word boundaries with a space,
  so the phonemes between two spaces are a word, which starts with its first sound and ends with its
  last. espeak reads some words together ("in the" as one word) and some apart ("1990"): each written
  word phonemised alone says how many sounds it has, and the two sequences are paired where their sizes
  agree best. Where nothing pairs, there is no TTS alignment (None), and the Whisper aligner is the one
  to use.
* ``whisper``: Whisper's word timestamps (faster-whisper's, from its cross-attention), for real speech:
  the full recipe's Whisper large-v3-turbo, as the paper. Its words are Whisper's, with their leading
  spaces, as the official code interleaves them.

A word is ``(text, start, end)``; its text has the leading space it is written with.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

# A table of word alignments (results/alignments/<aligner>/<corpus>.parquet): per utterance its words, or
# why it has none (the TTS's phonemes did not pair with the text; a voice that reports no timing).
WORD = pa.struct([("word", pa.string()), ("start", pa.float32()), ("end", pa.float32())])
WORDS_SCHEMA = pa.schema([("id", pa.string()), ("words", pa.list_(WORD)), ("reason", pa.string())])


def words_row(utterance: str, words: list[tuple[str, float, float]] | None, reason: str | None = None) -> dict:
    """A row of a word-alignment table."""
    if words is None:
        return {"id": utterance, "words": None, "reason": reason or "not aligned"}
    return {"id": utterance, "words": [{"word": w, "start": s, "end": e} for w, s, e in words], "reason": None}

WORD_BOUNDARY = " "                     # espeak's phoneme between two words
PIPER_SENTENCE_MARKS = ("^", "$", "_")  # Piper's BOS, EOS and PAD phonemes: not part of a word
UNCOUNTED = set("ˈˌ.,;:!?¡¿—-…\"'()")   # stress and punctuation: timed, but not a sound of the word
MOST_MERGED = 3                         # words espeak reads as one (in the, of a), or groups one word becomes


def _phoneme_words(sentences: list[list[tuple[str, int]]]) -> list[list[tuple[str, int, int]]]:
    """The phoneme words of what a TTS spoke, each its (phoneme, start sample, end sample), in order."""
    groups, offset = [], 0
    for phonemes in sentences:
        group: list = []
        for phoneme, samples in phonemes:
            if phoneme == WORD_BOUNDARY or phoneme in PIPER_SENTENCE_MARKS:
                if group:
                    groups.append(group)
                group = []
            else:
                group.append((phoneme, offset, offset + int(samples)))
            offset += int(samples)
        if group:
            groups.append(group)
    return groups


def sounds(phonemes) -> int:
    """How many phonemes of a word are sounds (stress marks and punctuation left out)."""
    return sum(p not in UNCOUNTED for p in phonemes)


def _pairing(group_sizes: list[int], word_sizes: list[int]) -> list[tuple[int, int, int, int]] | None:
    """The monotonic pairing of phoneme words with written words whose sizes differ least: each step one
    phoneme word with up to MOST_MERGED written words, or up to MOST_MERGED phoneme words with one written
    word. Steps as (first group, groups, first word, words)."""
    m, n = len(group_sizes), len(word_sizes)
    inf = float("inf")
    cost = [[inf] * (n + 1) for _ in range(m + 1)]
    step: list[list] = [[None] * (n + 1) for _ in range(m + 1)]
    cost[0][0] = 0.0
    for i in range(m + 1):
        for j in range(n + 1):
            if cost[i][j] == inf:
                continue
            moves = [(1, k) for k in range(1, MOST_MERGED + 1)] + [(k, 1) for k in range(2, MOST_MERGED + 1)]
            for groups, words in moves:
                if i + groups > m or j + words > n:
                    continue
                # a merge costs a little, so that one to one wins a tie
                c = cost[i][j] + abs(sum(group_sizes[i:i + groups]) - sum(word_sizes[j:j + words])) + 0.5 * (groups + words - 2)
                if c < cost[i + groups][j + words]:
                    cost[i + groups][j + words], step[i + groups][j + words] = c, (i, groups, j, words)
    if cost[m][n] == inf:
        return None
    path, i, j = [], m, n
    while (i, j) != (0, 0):
        i0, groups, j0, words = step[i][j]
        path.append((i0, groups, j0, words))
        i, j = i0, j0
    return path[::-1]


def tts_words(text: str, sentences: list[list[tuple[str, int]]], sample_rate: int,
              word_sizes: list[int] | None = None) -> list[tuple[str, float, float]] | None:
    """The words of ``text`` timed by a TTS that reports each phoneme's samples: ``sentences`` are the
    chunks it spoke, one after the other, each a list of (phoneme, samples). A word runs from its first
    sound to its last. Where espeak reads several words as one phoneme word ("in the" as ɪnðə) or one word
    as several ("1990"), ``word_sizes`` (the sounds of each written word phonemised alone) pair them up, and
    a merged phoneme word is split between its words in proportion to their sizes. Without them, or when
    nothing pairs up, only a one-to-one pairing is taken; else None."""
    groups = [[ph for ph in g if ph[0] not in UNCOUNTED] or g for g in _phoneme_words(sentences)]
    written = text.split()
    if word_sizes is None:
        if len(groups) != len(written):
            return None
        path = [(i, 1, i, 1) for i in range(len(written))]
    else:
        path = _pairing([len(g) for g in groups], word_sizes)
        if path is None:
            return None
    words = []
    for first_group, group_count, first_word, word_count in path:
        phonemes = [ph for g in groups[first_group:first_group + group_count] for ph in g]
        sizes = word_sizes[first_word:first_word + word_count] if word_sizes else [1]
        # cut the phonemes between the words in proportion to their sizes, each word at least one phoneme
        cuts = np.round(np.cumsum([0, *sizes]) / max(sum(sizes), 1) * len(phonemes)).astype(int)
        for k in range(word_count):
            lo, hi = min(cuts[k], len(phonemes) - 1), max(cuts[k + 1], min(cuts[k], len(phonemes) - 1) + 1)
            words.append((f" {written[first_word + k]}", phonemes[lo][1] / sample_rate, phonemes[hi - 1][2] / sample_rate))
    return words


def whisper_words(model, wave: np.ndarray, language: str | None = "en") -> list[tuple[str, float, float]]:
    """Whisper's words of a 16 kHz waveform with their times (a faster-whisper ``WhisperModel``), decoded
    once at temperature 0 as the transcripts for GenPPL are."""
    if len(wave) == 0:
        return []
    segments, _ = model.transcribe(np.asarray(wave, dtype=np.float32), language=language, word_timestamps=True,
                                   condition_on_previous_text=False, temperature=0.0, beam_size=1)
    return [(word.word, float(word.start), float(word.end)) for segment in segments for word in (segment.words or [])]


def _normalised(word: str) -> str:
    return "".join(c for c in word.lower() if c.isalnum())


def timing_agreement(reference: list[tuple[str, float, float]], other: list[tuple[str, float, float]],
                     tolerance: float = 0.1) -> dict[str, int]:
    """How another aligner's words agree with the reference's (the same word, found in order): of the
    reference's ``words``, how many it ``found``, how many with their ``start`` within ``tolerance`` seconds,
    and how many with ``both`` start and end within it."""
    counts = {"words": len(reference), "found": 0, "start": 0, "both": 0}
    j = 0
    for word, start, end in reference:
        key = _normalised(word)
        for k in range(j, min(j + 3, len(other))):  # a word the other aligner split or dropped is skipped
            if _normalised(other[k][0]) == key:
                near_start, near_end = abs(other[k][1] - start) <= tolerance, abs(other[k][2] - end) <= tolerance
                counts["found"] += 1
                counts["start"] += near_start
                counts["both"] += near_start and near_end
                j = k + 1
                break
    return counts
