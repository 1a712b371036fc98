"""Rule init_speech_lm: the speech LM a run starts from (``slamming.training.speech_lm``) - a text LM with the
speech vocabulary (TWIST initialisation keeps the first rows of its embedding), the recipe's RoPE theta
and dropout, or ``init: random`` with only its architecture.

Command line::

    python -m workflow_scripts.init_speech_lm --base resources/sources/qwen2_5_0_5b \\
        --vocabulary results/units/mhubert25hz_km500/vocabulary.json \\
        --settings '{"init": "twist", "rope_theta": 10000, "dropout": 0, "fresh_embeddings": false, "seed": 0}' \\
        --out results/models/slam/init
"""

from __future__ import annotations

import json
import logging

from slamming.logs import run_stage, setup_stage, stage_parser
from slamming.training.speech_lm import build_speech_lm, count_parameters, save_speech_lm
from slamming.units.vocabulary import SpeechVocabulary

log = logging.getLogger("init_speech_lm")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--base", required=True, help="Hugging Face causal-LM folder")
    parser.add_argument("--vocabulary", required=True, help="the tokeniser's speech vocabulary (vocabulary.json)")
    parser.add_argument("--settings", required=True,
                        help="as JSON (slamming.workflow.plan.Plan.speech_lm_settings): init (twist or random), rope_theta and dropout "
                             "(null keeps the base model's), fresh_embeddings, seed")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    setup_stage(args.log_file)
    vocabulary = SpeechVocabulary.load(args.vocabulary)
    settings = json.loads(args.settings)
    model = build_speech_lm(args.base, vocabulary, settings["init"], settings["rope_theta"], settings["dropout"],
                            settings["fresh_embeddings"], settings["seed"])
    save_speech_lm(model, vocabulary, args.out)
    log.info("%s: %s speech LM with %s parameters (%d-token vocabulary, %s init) from %s",
             args.out, model.config.model_type, f"{count_parameters(model):,}", vocabulary.vocab_size, settings["init"], args.base)
    print(json.dumps({"parameters": count_parameters(model), "model_type": model.config.model_type}))
    return 0


if __name__ == "__main__":
    run_stage(main)
