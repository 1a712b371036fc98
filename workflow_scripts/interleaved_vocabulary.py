"""Rule interleaved_vocabulary: the vocabulary of an interleaved model (``SpeechVocabulary.with_text``) - a text
LM's ids (every row of its embedding), then a tokeniser's units, then ``<speech>`` and ``<text>``; the text LM's
EOS (else BOS) bounds a document, as its own documents are bounded.

Command line::

    python -m workflow_scripts.interleaved_vocabulary --speech results/units/mhubert25hz_km500/vocabulary.json \\
        --text-lm resources/sources/qwen2_5_0_5b --out results/units/mhubert25hz_km500/interleaved/qwen2_5_0_5b/vocabulary.json
"""

from __future__ import annotations

import logging
from pathlib import Path

from slamming.units.mixture import text_ids
from slamming.logs import run_stage, setup_logging, stage_parser
from slamming.units.vocabulary import SpeechVocabulary

log = logging.getLogger("interleaved_vocabulary")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--speech", required=True, help="the tokeniser's speech vocabulary (vocabulary.json)")
    parser.add_argument("--text-lm", required=True, help="the text LM's folder (config.json and its tokenizer)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    rows, boundary, pad = text_ids(args.text_lm)
    vocabulary = SpeechVocabulary.with_text(SpeechVocabulary.load(args.speech), rows, boundary, pad)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    vocabulary.save(args.out)
    log.info("%s: %d text ids (boundary %d, padding %d), units %d..%d, <speech> %d, <text> %d: %d tokens", args.out, rows,
             boundary, pad, vocabulary.unit_offset, vocabulary.unit_offset + vocabulary.num_units - 1, vocabulary.speech_marker,
             vocabulary.text_marker, vocabulary.vocab_size)
    return 0


if __name__ == "__main__":
    run_stage(main)
