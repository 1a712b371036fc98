"""Train a unit vocoder (HiFi-GAN generator with a duration predictor) on a corpus's units and audio.

For a tokeniser without a published vocoder - the demo's, or one for a new language. The generator
learns from random segments of the train split (units repeated by their true durations, and the
audio under them) with a multi-resolution STFT loss; the duration predictor learns log(1 + frames)
per unit. There is no adversarial loss: this is the recipe that gives intelligible-enough audio in
minutes on a CPU, not a replacement for a fully trained HiFi-GAN. The held-out (valid) utterances
are then resynthesised from their units with predicted durations, transcribed, and the word error
rate against their text is written to ``resynthesis.json``.

The result is ``generator.safetensors`` (TWIST's parameter names) and ``config.json``, which
``vocoder.load_vocoder`` loads like the TWIST checkpoint.

Command line::

    python -m workflow_scripts.train_vocoder --units results/units/demo_hubert_km100/demo_stories/units.parquet \\
        --manifest results/corpora/demo_stories/manifest.parquet --vocabulary results/units/demo_hubert_km100/tokeniser.json \\
        --settings '{...}' --asr-spec '{"backend": "faster_whisper"}' --asr-model resources/sources/whisper_tiny_en \\
        --out results/vocoders/demo_vocoder
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F

from workflow_scripts.logs import setup_logging
from workflow_scripts.units import SpeechVocabulary
from workflow_scripts.vocoder import UnitVocoder, save_vocoder

log = logging.getLogger("train_vocoder")

STFT_RESOLUTIONS = ((512, 128), (1024, 256), (256, 64))  # (n_fft, hop): fine to coarse in time


def stft_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Multi-resolution STFT loss: spectral convergence plus log-magnitude L1, averaged over resolutions."""
    total = 0.0
    for n_fft, hop in STFT_RESOLUTIONS:
        window = torch.hann_window(n_fft, device=target.device)
        spectra = [torch.stft(x, n_fft, hop, window=window, return_complex=True).abs().clamp(min=1e-5) for x in (predicted, target)]
        convergence = torch.linalg.norm(spectra[1] - spectra[0]) / torch.linalg.norm(spectra[1])
        total = total + convergence + F.l1_loss(spectra[0].log(), spectra[1].log())
    return total / len(STFT_RESOLUTIONS)


def load_training_data(units_path, manifest_path, split: str):
    """(units, durations, audio) per utterance of ``split``, audio at 16 kHz."""
    from workflow_scripts.audio import read_audio

    paths = {r["id"]: (r["path"], r["text"]) for r in pq.read_table(manifest_path, columns=["id", "path", "text"]).to_pylist()}
    items = []
    for row in pq.read_table(units_path).to_pylist():
        if row["split"] == split and row["id"] in paths:
            path, text = paths[row["id"]]
            items.append({"id": row["id"], "units": np.asarray(row["units"], np.int64), "durations": np.asarray(row["durations"], np.int64),
                          "audio": read_audio(path, 16000), "text": text})
    return items


def random_segments(items, rng, count: int, frames: int, hop: int):
    """``count`` aligned segments: frame-level units (count x frames) and their audio (count x frames*hop)."""
    units, audio = [], []
    for i in rng.integers(0, len(items), size=count):
        item = items[i]
        frame_units = np.repeat(item["units"], item["durations"])
        usable = min(len(frame_units), len(item["audio"]) // hop)
        start = int(rng.integers(0, max(1, usable - frames + 1)))
        chunk = frame_units[start:start + frames]
        samples = item["audio"][start * hop:(start + len(chunk)) * hop]
        units.append(np.pad(chunk, (0, frames - len(chunk)), mode="edge"))
        audio.append(np.pad(samples, (0, frames * hop - len(samples))))
    return torch.as_tensor(np.stack(units)), torch.as_tensor(np.stack(audio), dtype=torch.float32)


def duration_loss(model: UnitVocoder, items, rng, count: int) -> torch.Tensor:
    chosen = [items[i] for i in rng.integers(0, len(items), size=count)]
    lengths = torch.tensor([len(c["units"]) for c in chosen])
    units = torch.nn.utils.rnn.pad_sequence([torch.as_tensor(c["units"]) for c in chosen], batch_first=True)
    target = torch.nn.utils.rnn.pad_sequence([torch.log1p(torch.as_tensor(c["durations"], dtype=torch.float32)) for c in chosen],
                                             batch_first=True)
    mask = torch.arange(units.shape[1])[None, :] < lengths[:, None]
    predicted = model.dur_predictor(model.dict(units).transpose(1, 2), lengths)
    return ((predicted - target) ** 2 * mask).sum() / mask.sum()


def train(items, num_units: int, settings: dict, seed: int, clock=time.perf_counter) -> tuple[UnitVocoder, dict]:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    config = {"resblock": "1", "num_embeddings": num_units, "embedding_dim": settings["embedding_dim"],
              "model_in_dim": settings["embedding_dim"], "upsample_rates": settings["upsample_rates"],
              "upsample_kernel_sizes": settings["upsample_kernel_sizes"],
              "upsample_initial_channel": settings["upsample_initial_channel"],
              "resblock_kernel_sizes": settings["resblock_kernel_sizes"],
              "resblock_dilation_sizes": settings["resblock_dilation_sizes"],
              "dur_predictor_params": {"encoder_embed_dim": settings["embedding_dim"], "var_pred_hidden_dim": settings["embedding_dim"],
                                       "var_pred_kernel_size": 3, "var_pred_dropout": 0.5}}
    model = UnitVocoder(config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings["learning_rate"], betas=(0.8, 0.99))
    seconds, step, losses = 0.0, 0, []
    while seconds < settings["budget_minutes"] * 60:
        started = clock()
        units, audio = random_segments(items, rng, settings["batch_size"], settings["segment_frames"], model.hop)
        predicted = model.generate(model.dict(units).transpose(1, 2))
        loss = stft_loss(predicted, audio) + duration_loss(model, items, rng, settings["batch_size"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimizer.step()
        step, seconds = step + 1, seconds + clock() - started
        losses.append(loss.item())
        if step % 50 == 0:
            log.info("step %d: loss %.4f, %.0f s of %.0f", step, np.mean(losses[-50:]), seconds, settings["budget_minutes"] * 60)
    return model.eval(), {"steps": step, "training_seconds": seconds, "final_loss": float(np.mean(losses[-20:])),
                          "first_loss": float(np.mean(losses[:5]))}


def main(argv: list[str] | None = None) -> int:
    from workflow_scripts.asr import load_asr, word_error_rate

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", required=True, help="units table of the corpus (with durations)")
    parser.add_argument("--manifest", required=True, help="the corpus manifest (audio and text)")
    parser.add_argument("--vocabulary", required=True, help="the tokeniser's tokeniser.json")
    parser.add_argument("--settings", required=True, help="the vocoder's train section as JSON")
    parser.add_argument("--asr-spec", required=True, help="the asr_models entry of the recogniser, as JSON")
    parser.add_argument("--asr-model", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", required=True)
    parser.add_argument("--log-file", help="also write the log here")
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    torch.set_num_threads(args.threads)
    settings = json.loads(args.settings)
    vocabulary = SpeechVocabulary.load(args.vocabulary)
    train_items = load_training_data(args.units, args.manifest, "train")
    held_out = load_training_data(args.units, args.manifest, "valid")
    if not train_items:
        raise SystemExit(f"error: {args.units} has no train utterances to train a vocoder on")
    model, report = train(train_items, vocabulary.num_units, settings, settings["seed"])
    save_vocoder(model, args.out)

    # Resynthesis of held-out utterances from their units alone (predicted durations).
    audio = model.vocode([item["units"] for item in held_out]) if held_out else []
    asr = load_asr(json.loads(args.asr_spec), args.asr_model)
    hypotheses = asr.transcribe(audio)
    references = [item["text"] or "" for item in held_out]
    report.update(tokeniser=vocabulary.tokeniser, held_out_utterances=len(held_out),
                  resynthesis_wer=word_error_rate(references, hypotheses) if held_out else None,
                  examples=[{"id": i["id"], "text": r, "heard": h} for i, r, h in zip(held_out[:3], references, hypotheses)])
    (Path(args.out) / "resynthesis.json").write_text(json.dumps(report, indent=2) + "\n")
    log.info("vocoder: %d steps, loss %.3f -> %.3f, resynthesis WER %s on %d held-out utterances", report["steps"],
             report["first_loss"], report["final_loss"], report["resynthesis_wer"], len(held_out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
