"""Rule init_speech_lm: the speech LM a run starts from (``slamming.speech_lm``) - a text LM with the
speech vocabulary (TWIST initialisation keeps the first rows of its embedding), the recipe's RoPE theta
and dropout, or ``init: random`` with only its architecture.

Command line::

    python -m workflow_scripts.init_speech_lm --base resources/sources/qwen2_5_0_5b \\
        --vocabulary results/units/mhubert25hz_km500/tokeniser.json --init twist --rope-theta 10000 \\
        --dropout 0 --out results/models/slam/init
"""

from __future__ import annotations

import argparse
import json
import logging

from slamming.logs import run_stage, setup_stage
from slamming.speech_lm import build_speech_lm, count_parameters, save_speech_lm
from slamming.units import SpeechVocabulary

log = logging.getLogger("init_speech_lm")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="Hugging Face causal-LM folder")
    parser.add_argument("--vocabulary", required=True, help="the tokeniser's tokeniser.json")
    parser.add_argument("--init", choices=["twist", "random"], default="twist")
    parser.add_argument("--rope-theta", type=float)
    parser.add_argument("--dropout", type=float, help="omit to keep the base model's dropout")
    parser.add_argument("--fresh-embeddings", action="store_true", help="initialise the speech embeddings afresh")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    parser.add_argument("--log-file", help="also write the log here")
    args = parser.parse_args(argv)
    setup_stage(args.log_file)
    vocabulary = SpeechVocabulary.load(args.vocabulary)
    model = build_speech_lm(args.base, vocabulary, args.init, args.rope_theta, args.dropout, args.fresh_embeddings, args.seed)
    save_speech_lm(model, vocabulary, args.out)
    log.info("%s: %s speech LM with %s parameters (%d-token vocabulary, %s init) from %s",
             args.out, model.config.model_type, f"{count_parameters(model):,}", vocabulary.vocab_size, args.init, args.base)
    print(json.dumps({"parameters": count_parameters(model), "model_type": model.config.model_type}))
    return 0


if __name__ == "__main__":
    run_stage(main)
