"""Rule prepare_speech_lm: a speech LM of the speech_lms registry as the evaluation reads one trained here (a
causal LM folder with ``speech_vocabulary.json``). The official toolkit's format (``slamkit``, the released
slprl/slam) is converted (``slamming.training.slamkit_format``); a Hugging Face folder (``hf``) is copied.
Either way its vocabulary must be its tokeniser's: as many units, our special ids.

Command line::

    python -m workflow_scripts.prepare_speech_lm --folder resources/sources/slprl_slam --format slamkit \\
        --vocabulary results/units/mhubert25hz_km500/vocabulary.json --out results/models/eval/slprl_slam/evaluated
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from slamming.logs import StageError, run_stage, setup_logging, stage_parser
from slamming.training.slamkit_format import NotSlamkitFormat, convert_slamkit_checkpoint
from slamming.training.speech_lm import VOCABULARY_FILE
from slamming.units.vocabulary import SpeechVocabulary

log = logging.getLogger("prepare_speech_lm")


def copy_hf_folder(folder: Path, out: Path, vocabulary: SpeechVocabulary) -> None:
    config = json.loads((folder / "config.json").read_text())
    if config.get("vocab_size") != vocabulary.vocab_size:
        raise StageError(f"{folder}/config.json: vocab_size {config.get('vocab_size')} is not the {vocabulary.vocab_size} of "
                         f"{vocabulary.tokeniser}'s {vocabulary.num_units} units and 2 special tokens; check speech_lms.<name>.tokeniser")
    weights = sorted(folder.glob("*.safetensors"))
    if not weights:
        raise StageError(f"{folder}: no .safetensors weights (a pickled checkpoint is not opened: it could run code)")
    out.mkdir(parents=True, exist_ok=True)
    for path in [folder / "config.json", *weights, *folder.glob("model.safetensors.index.json"), *folder.glob("generation_config.json")]:
        shutil.copy2(path, out / path.name)
    vocabulary.save(out / VOCABULARY_FILE)


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--folder", required=True, help="the model's source folder")
    parser.add_argument("--format", choices=["slamkit", "hf"], required=True)
    parser.add_argument("--vocabulary", required=True, help="the tokeniser's vocabulary.json")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    vocabulary = SpeechVocabulary.load(args.vocabulary)
    folder, out = Path(args.folder), Path(args.out)
    if args.format == "hf":
        copy_hf_folder(folder, out, vocabulary)
    else:
        try:
            written = convert_slamkit_checkpoint(folder, out, vocabulary.tokeniser, vocabulary.frame_rate)
        except NotSlamkitFormat as error:
            raise StageError(f"{error}; or set speech_lms.<name>.format: hf") from None
        if written["num_units"] != vocabulary.num_units:
            shutil.rmtree(out)
            raise StageError(f"{folder}: a vocabulary of {written['num_units']} units, and {vocabulary.tokeniser} has "
                             f"{vocabulary.num_units}; check speech_lms.<name>.tokeniser")
    log.info("%s (%s) -> %s: %d units of %s", folder, args.format, out, vocabulary.num_units, vocabulary.tokeniser)
    return 0


if __name__ == "__main__":
    run_stage(main)
