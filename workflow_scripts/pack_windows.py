"""Rules pack_windows and pack_chunks: pack a run's data mix for training (``slamming.units.packing``), by its
``pretrain.packing``: ``windows`` - full training windows with their document boundaries
(``<split>_tokens.npy``, ``<split>_segments.npy``, ``<split>_continued.npy``); ``official`` - each
document cut into chunks of the context length from its start, as the official code does
(``<split>_chunk_tokens.npy``, ``<split>_chunk_offsets.npy``). Either way ``packing.json`` has the
counts and the fill ratio.

Command line::

    python -m workflow_scripts.pack_windows --mix '{"demo_stories": {"units": "results/units/.../units.parquet", "weight": 1.0}}' \\
        --vocabulary results/units/demo_hubert_km100/vocabulary.json --context 256 --seed 0 --packing official \\
        --out-dir results/packed/...
"""

from __future__ import annotations

import json
import logging
from pathlib import Path


from slamming.artifacts import file_records
from slamming.logs import run_stage, setup_logging, stage_parser
from slamming.units.packing import SPLITS, array_names, chunk_split, mixed_documents, pack_split
from slamming.units.vocabulary import SpeechVocabulary

log = logging.getLogger("pack_windows")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--mix", required=True, help='JSON {corpus: {"units": path, "weight": w}}')
    parser.add_argument("--vocabulary", required=True, help="the tokeniser's vocabulary.json")
    parser.add_argument("--context", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--packing", choices=["windows", "official"], default="windows",
                        help="full windows, or the official code's chunks (pretrain.packing)")
    parser.add_argument("--interleaving", help="an interleaved run's other sources as JSON (slamming.units.mixture.Mixture, "
                        "whose speech is --mix); --vocabulary is then the interleaved vocabulary")
    parser.add_argument("--out-dir", required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    corpora = json.loads(args.mix)
    vocabulary = SpeechVocabulary.load(args.vocabulary)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = {"tokeniser": vocabulary.tokeniser, "context": args.context, "seed": args.seed,
              "mix": {name: spec["weight"] for name, spec in corpora.items()}, "vocabulary": vocabulary.vocab_size,
              "packing": args.packing}
    mixture = None
    if args.interleaving:
        from slamming.units.mixture import Mixture

        mixture = Mixture({**json.loads(args.interleaving), "speech": corpora}, vocabulary, args.seed)
    for split in SPLITS:
        if mixture:
            documents, order, made = mixture.split(split)
            log.info("%s: token shares %s (speech units %.3f of the tokens); scales %s", split,
                     {k: round(v, 3) for k, v in made["token_shares"].items() if v is not None}, made["speech_token_share"],
                     {k: round(v, 3) for k, v in made["scales"].items()})
        else:
            documents, order = mixed_documents(corpora, split, vocabulary, args.seed)
            made = {}
        if args.packing == "windows":
            stats = pack_split(documents, order, split, vocabulary, args.context, out)
            log.info("%s: %d documents, %d tokens in %d windows of %d: fill ratio %.4f (%d documents split across windows)",
                     split, stats["documents"], stats["tokens"], stats["windows"], args.context, stats["fill_ratio"],
                     stats["documents_split_across_windows"])
        else:
            stats = chunk_split(documents, order, split, vocabulary, args.context, out)
            log.info("%s: %d documents, %d tokens in %d chunks of at most %d, %.1f tokens a chunk: a row of %d x batch "
                     "is %.4f full (%d documents longer than a chunk)", split, stats["documents"], stats["tokens"],
                     stats["chunks"], args.context, stats["mean_tokens_per_chunk"], args.context, stats["fill_ratio"],
                     stats["documents_split_across_chunks"])
        names = list(corpora) + (list(mixture.settings["interleaved"]) + list(mixture.settings["text"]) if mixture else [])
        report[split] = {**stats, "documents_per_corpus": {name: len(d) for name, d in zip(names, documents)},
                         **({"mixture": made} if made else {})}
    report["files"] = file_records(out, array_names(args.packing))  # training checks its arrays against these
    (out / "packing.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    run_stage(main)
