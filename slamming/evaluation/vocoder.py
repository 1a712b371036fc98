"""Unit vocoder: HiFi-GAN with a duration predictor ("CodeHiFiGAN"), units in, 16 kHz audio out.

Loads the TWIST LJ checkpoint format - a torch pickle with the generator's weights under the key
``generator`` in old-style weight norm (``weight_g``/``weight_v``), and the architecture in a JSON
config (upsample rates multiplying to the 640 samples of a 25 Hz frame) - and the same weights as
safetensors (what ``train_vocoder.py`` writes), through one class.

Inference is batched: units are padded, and every convolution's input is masked to each item's
length, so a batch gives what each item gives alone. Durations are predicted per unit as
clamp(round(exp(prediction) - 1), min 1) frames (or given, for resynthesis with true durations).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

log = logging.getLogger("vocoder")

SAMPLE_RATE = 16000
LRELU_SLOPE = 0.1      # inside the network, as HiFi-GAN
FINAL_SLOPE = 0.01     # the last activation before conv_post: leaky ReLU with torch's default slope


def _padding(kernel: int, dilation: int = 1) -> int:
    return (kernel * dilation - dilation) // 2


def _masked(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Zero every position past each item's length (batch x channels x time); nothing to do when
    every item fills the batch (one item alone, or equal lengths)."""
    if lengths is None or bool((lengths >= x.shape[-1]).all()):
        return x
    return x * (torch.arange(x.shape[-1], device=x.device)[None, :] < lengths[:, None]).unsqueeze(1).to(x.dtype)


class ResBlock(nn.Module):
    """HiFi-GAN's residual block 1: dilated convolutions, each followed by an undilated one."""

    def __init__(self, channels: int, kernel: int, dilations: list[int]):
        super().__init__()
        self.convs1 = nn.ModuleList(nn.Conv1d(channels, channels, kernel, dilation=d, padding=_padding(kernel, d)) for d in dilations)
        self.convs2 = nn.ModuleList(nn.Conv1d(channels, channels, kernel, padding=_padding(kernel)) for _ in dilations)

    def forward(self, x, lengths=None):
        for conv1, conv2 in zip(self.convs1, self.convs2):
            residual = _masked(conv1(F.leaky_relu(x, LRELU_SLOPE)), lengths)
            x = x + _masked(conv2(F.leaky_relu(residual, LRELU_SLOPE)), lengths)
        return x


class DurationPredictor(nn.Module):
    """Two convolutions with layer norm, then a projection: log(1 + frames) per unit."""

    def __init__(self, dim: int, hidden: int, kernel: int, dropout: float):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv1d(dim, hidden, kernel, padding=(kernel - 1) // 2), nn.ReLU())
        self.ln1 = nn.LayerNorm(hidden)
        self.conv2 = nn.Sequential(nn.Conv1d(hidden, hidden, kernel, padding=1), nn.ReLU())
        self.ln2 = nn.LayerNorm(hidden)
        self.proj = nn.Linear(hidden, 1)
        self.dropout = dropout

    def forward(self, x, lengths=None):  # x: batch x channels x units
        h = self.conv1(_masked(x, lengths)).transpose(1, 2)
        h = _masked(F.dropout(self.ln1(h), self.dropout, self.training).transpose(1, 2), lengths)
        h = self.conv2(h).transpose(1, 2)
        h = F.dropout(self.ln2(h), self.dropout, self.training)
        return self.proj(h).squeeze(-1)


class UnitVocoder(nn.Module):
    """CodeHiFiGAN's generator, with the parameter names of the TWIST checkpoints."""

    def __init__(self, config: dict):
        super().__init__()
        self.config = config
        rates, kernels = config["upsample_rates"], config["upsample_kernel_sizes"]
        if config.get("resblock", "1") != "1":
            raise ValueError("only HiFi-GAN residual block 1 is supported (the TWIST vocoders use it)")
        if config.get("f0") or config.get("multispkr") or config.get("multistyle"):
            raise ValueError("F0, speaker and style conditioning are not supported (the TWIST LJ vocoder has none)")
        channels = config["upsample_initial_channel"]
        self.hop = math.prod(rates)
        self.dict = nn.Embedding(config["num_embeddings"], config["embedding_dim"])
        duration = config.get("dur_predictor_params")
        self.dur_predictor = DurationPredictor(duration["encoder_embed_dim"], duration["var_pred_hidden_dim"],
                                               duration["var_pred_kernel_size"], duration["var_pred_dropout"]) if duration else None
        self.conv_pre = nn.Conv1d(config.get("model_in_dim", config["embedding_dim"]), channels, 7, padding=3)
        self.ups = nn.ModuleList(nn.ConvTranspose1d(channels // 2**i, channels // 2**(i + 1), k, u, padding=(k - u) // 2)
                                 for i, (u, k) in enumerate(zip(rates, kernels)))
        self.resblocks = nn.ModuleList(ResBlock(channels // 2**(i + 1), k, d) for i in range(len(rates))
                                       for k, d in zip(config["resblock_kernel_sizes"], config["resblock_dilation_sizes"]))
        self.conv_post = nn.Conv1d(channels // 2**len(rates), 1, 7, padding=3)
        self.kernels_per_level = len(config["resblock_kernel_sizes"])

    def predict_durations(self, units: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Frames per unit (at least 1), 0 past each item's length."""
        log_durations = self.dur_predictor(self.dict(units).transpose(1, 2), lengths)
        durations = torch.clamp(torch.round(torch.exp(log_durations) - 1).long(), min=1)
        return durations * (torch.arange(units.shape[1], device=units.device)[None, :] < lengths[:, None])

    def frames(self, units: torch.Tensor, durations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Unit embeddings repeated by their durations: (batch x channels x frames, frames per item)."""
        embedded = self.dict(units)  # batch x units x channels
        expanded = [torch.repeat_interleave(e, d, dim=0) for e, d in zip(embedded, durations)]
        lengths = torch.tensor([len(e) for e in expanded], device=units.device)
        return nn.utils.rnn.pad_sequence(expanded, batch_first=True).transpose(1, 2), lengths

    def generate(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Waveforms (batch x samples) from frame features (batch x channels x frames)."""
        x = _masked(self.conv_pre(x), lengths)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            lengths = None if lengths is None else lengths * up.stride[0]
            x = _masked(x, lengths)
            blocks = self.resblocks[i * self.kernels_per_level:(i + 1) * self.kernels_per_level]
            x = sum(block(x, lengths) for block in blocks) / self.kernels_per_level
        x = torch.tanh(self.conv_post(F.leaky_relu(x, FINAL_SLOPE)))
        return _masked(x, lengths)[:, 0]

    @torch.inference_mode()
    def vocode(self, units: list[np.ndarray], durations: list[np.ndarray] | None = None) -> list[np.ndarray]:
        """16 kHz waveforms for a batch of unit sequences; each is (its frames) x hop samples long."""
        device = self.dict.weight.device
        lengths = torch.tensor([len(u) for u in units], device=device)
        padded = nn.utils.rnn.pad_sequence([torch.as_tensor(np.asarray(u), dtype=torch.long) for u in units],
                                           batch_first=True).to(device)
        if durations is None:
            frames_per_unit = self.predict_durations(padded, lengths)
        else:
            frames_per_unit = nn.utils.rnn.pad_sequence([torch.as_tensor(np.asarray(d), dtype=torch.long) for d in durations],
                                                        batch_first=True).to(device)
        x, frame_lengths = self.frames(padded, frames_per_unit)
        audio = self.generate(x, frame_lengths)
        return [audio[i, :n * self.hop].float().cpu().numpy() for i, n in enumerate(frame_lengths.tolist())]


def _from_weight_norm(state: dict) -> dict:
    """Old-style weight norm (weight_g, weight_v) folded into plain weights: w = g * v / |v|
    (the norm over every dimension but the first, as torch's weight_norm with dim=0)."""
    out = {}
    for key, value in state.items():
        if key.endswith(".weight_g"):
            base = key[: -len("_g")]
            v = state[base + "_v"]
            norm = v.norm(dim=tuple(range(1, v.dim())), keepdim=True)
            out[base] = state[key] * v / norm
        elif not key.endswith(".weight_v"):
            out[key] = value
    return out


def _to_weight_norm(state: dict, model: UnitVocoder) -> dict:
    """Plain weights in the TWIST checkpoint's naming: weight_g and weight_v for the weight-normed
    convolutions (all of the generator's but the duration predictor's)."""
    out = {}
    for key, value in state.items():
        module = key.rsplit(".", 1)[0]
        if key.endswith(".weight") and not module.startswith(("dict", "dur_predictor")):
            norm = value.norm(dim=tuple(range(1, value.dim())), keepdim=True)
            out[module + ".weight_g"], out[module + ".weight_v"] = norm, value
        else:
            out[key] = value
    return out


def load_vocoder(checkpoint: str | Path, config: str | Path, sha256: str | None = None, device: str = "cpu") -> UnitVocoder:
    """A vocoder from a TWIST-format .pt (its sha256 is checked first when given) or a .safetensors file."""
    checkpoint = Path(checkpoint)
    model = UnitVocoder(json.loads(Path(config).read_text()))
    if checkpoint.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(checkpoint))
    else:
        if sha256 is not None:
            from slamming.units.kmeans import sha256_of

            actual = sha256_of(checkpoint)
            if actual != sha256:
                raise ValueError(f"{checkpoint}: sha256 {actual[:12]}... is not the expected {sha256[:12]}...; not opened")
        # weights_only: only tensors and plain containers are unpickled, never code.
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)["generator"]
    missing, unexpected = model.load_state_dict(_from_weight_norm(state), strict=False)
    if missing or unexpected:
        raise ValueError(f"{checkpoint} does not match {config}: missing {missing[:4]}, unexpected {unexpected[:4]}")
    return model.to(device).eval()


def save_vocoder(model: UnitVocoder, folder: str | Path) -> None:
    """generator.safetensors (TWIST's parameter names) and config.json."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in _to_weight_norm(model.state_dict(), model).items()}
    save_file(state, str(folder / "generator.safetensors"))
    (folder / "config.json").write_text(json.dumps(model.config, indent=2) + "\n")


def batch_seconds_for(device: str) -> float:
    """Units of 60 s per batch on a GPU; one sequence at a time on a CPU, where batching is slower
    (benchmarking.vocoder measures both)."""
    return 60.0 if device == "cuda" else 0.0


def vocode_table(model: UnitVocoder, rows: list[dict], batch_seconds: float) -> list[np.ndarray]:
    """Audio for each row's ``units`` (batched by length)."""
    from slamming.units.extraction import length_sorted_batches

    out = [np.zeros(0, np.float32)] * len(rows)  # no units, no audio
    todo = [i for i, r in enumerate(rows) if len(r["units"])]
    for batch in length_sorted_batches([len(rows[i]["units"]) for i in todo], batch_seconds * 25):
        batch = [todo[j] for j in batch]
        audio = model.vocode([np.asarray(rows[i]["units"]) for i in batch])
        for i, samples in zip(batch, audio):
            out[i] = samples
    return out
