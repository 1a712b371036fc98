"""Rule train_vocoder: a unit vocoder (HiFi-GAN generator with a duration predictor) trained on a corpus's
units and audio (``slamming.evaluation.vocoder_training``), for a tokeniser without a published one. Its steps
and losses go to ``training.json``; the rule evaluate_vocoder then measures how well its speech is understood.

Command line::

    python -m workflow_scripts.train_vocoder --units results/units/demo_hubert_km100/demo_stories/units.parquet \\
        --manifest results/corpora/demo_stories/manifest.parquet --vocabulary results/units/demo_hubert_km100/vocabulary.json \\
        --settings '{...}' --out results/vocoders/demo_vocoder
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import torch

from slamming.logs import StageError, run_stage, setup_logging, stage_parser
from slamming.units.vocabulary import SpeechVocabulary
from slamming.evaluation.vocoder import save_vocoder
from slamming.evaluation.vocoder_training import load_training_data, train

log = logging.getLogger("train_vocoder")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--units", required=True, help="units table of the corpus (with durations)")
    parser.add_argument("--manifest", required=True, help="the corpus manifest (audio and text)")
    parser.add_argument("--vocabulary", required=True, help="the tokeniser's speech vocabulary (vocabulary.json)")
    parser.add_argument("--settings", required=True, help="the vocoder's train section as JSON")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    torch.set_num_threads(args.threads)
    settings = json.loads(args.settings)
    vocabulary = SpeechVocabulary.load(args.vocabulary)
    hop = 16000 / vocabulary.frame_rate
    if math.prod(settings["upsample_rates"]) != hop:  # a HuBERT tokeniser's rate is known only now, from its model
        raise StageError(f"vocoder upsample_rates {settings['upsample_rates']}: their product must be the {hop:g} samples of one "
                         f"{vocabulary.frame_rate:g} Hz frame of {vocabulary.tokeniser} units at 16 kHz; change "
                         "vocoders.<name>.train.upsample_rates")
    train_items = load_training_data(args.units, args.manifest, "train")
    if not train_items:
        raise StageError(f"{args.units} has no train utterances to train a vocoder on")
    model, report = train(train_items, vocabulary.num_units, settings, settings["seed"])
    save_vocoder(model, args.out)
    report.update(tokeniser=vocabulary.tokeniser)
    (Path(args.out) / "training.json").write_text(json.dumps(report, indent=2) + "\n")
    log.info("vocoder: %d steps, loss %.3f -> %.3f", report["steps"], report["first_loss"], report["final_loss"])
    return 0


if __name__ == "__main__":
    run_stage(main)
