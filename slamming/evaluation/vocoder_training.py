"""Train a unit vocoder (HiFi-GAN generator with a duration predictor) on a corpus's units and audio.

For a tokeniser without a published vocoder - the demo's, or one for a new language. The generator
learns from random segments of the train split (units repeated by their true durations, and the
audio under them) with a multi-resolution STFT loss and, as HiFi-GAN, an L1 loss on log-mel
spectrograms (``mel_loss_weight``; it is what makes the speech intelligible in few steps); the
duration predictor learns log(1 + frames) per unit. There is no adversarial loss: this is the recipe
that gives intelligible speech in minutes on a CPU, not a replacement for a fully trained HiFi-GAN.
Training stops at ``max_steps`` or after ``budget_minutes``, the first reached (steps make the demo's
vocoder the same on every machine). The held-out (valid) utterances
are then resynthesised from their units with predicted durations, transcribed, and the word error
rate against their text is written to ``resynthesis.json``.

The result is ``generator.safetensors`` (TWIST's parameter names) and ``config.json``, which
``vocoder.load_vocoder`` loads like the TWIST checkpoint.
"""

from __future__ import annotations

import functools
import logging
import time

import numpy as np
import torch
import torch.nn.functional as F

from slamming.artifacts import read_parquet
from slamming.evaluation.vocoder import UnitVocoder

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


MEL = {"n_fft": 1024, "hop": 256, "mels": 80}  # HiFi-GAN's mel loss, at 16 kHz


@functools.lru_cache(maxsize=None)
def mel_filters() -> torch.Tensor:
    """HiFi-GAN's mel filter bank at 16 kHz (made once: it takes a tenth of a training step to compute)."""
    from faster_whisper.feature_extractor import FeatureExtractor

    return torch.as_tensor(FeatureExtractor.get_mel_filters(16000, MEL["n_fft"], MEL["mels"]), dtype=torch.float32)


def mel_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 distance of log-mel spectrograms."""
    filters = mel_filters().to(target.device)
    window = torch.hann_window(MEL["n_fft"], device=target.device)
    mels = [(filters @ torch.stft(x, MEL["n_fft"], MEL["hop"], window=window, return_complex=True).abs()).clamp(min=1e-5).log()
            for x in (predicted, target)]
    return F.l1_loss(mels[0], mels[1])


def load_training_data(units_path, manifest_path, split: str):
    """(units, durations, audio) per utterance of ``split``, audio at 16 kHz."""
    from slamming.data.audio import read_audio

    paths = {r["id"]: (r["path"], r["text"]) for r in read_parquet(manifest_path, columns=["id", "path", "text"]).to_pylist()}
    items = []
    for row in read_parquet(units_path).to_pylist():
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
    budget_seconds, max_steps = settings["budget_minutes"] * 60, settings.get("max_steps") or float("inf")
    mel_weight = settings["mel_loss_weight"]
    while seconds < budget_seconds and step < max_steps:
        started = clock()
        units, audio = random_segments(items, rng, settings["batch_size"], settings["segment_frames"], model.hop)
        predicted = model.generate(model.dict(units).transpose(1, 2))
        loss = stft_loss(predicted, audio) + duration_loss(model, items, rng, settings["batch_size"])
        if mel_weight:
            loss = loss + mel_weight * mel_loss(predicted, audio)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimizer.step()
        step, seconds = step + 1, seconds + clock() - started
        losses.append(loss.item())
        if step % 50 == 0:
            log.info("step %d: loss %.4f, %.0f s of at most %.0f", step, np.mean(losses[-50:]), seconds, budget_seconds)
    return model.eval(), {"steps": step, "training_seconds": seconds, "final_loss": float(np.mean(losses[-20:])),
                          "first_loss": float(np.mean(losses[:5]))}
