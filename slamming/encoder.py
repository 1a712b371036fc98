"""The speech encoder: a transformers HubertModel loaded from a folder, and batch-invariant features.

One loading path serves the real ``slprl/mhubert-base-25hz`` (materialised from the hub) and the
demo's small randomly initialised HuBERT with the same 25 Hz geometry (``build_demo_encoder``), both
``save_pretrained`` folders.

Why features are computed the way they are (``encode``):

* HuBERT-base's convolutional front end ends in a GroupNorm that normalises each channel over the
  whole input, padding included. A zero-padded batch therefore changes a file's features - the
  reference code's batches do. Here the front end runs on each file alone (it is the cheap part).
* The frames are then padded into a batch for the transformer, with an attention mask; the encoder
  zeroes padded frames before its positional convolution, so a file's frames see exactly what they
  would see alone.
* Like the reference, each file is padded with 40 zero samples on both sides, which makes the 25 Hz
  geometry (receptive field 720, stride 640) give exactly floor(samples / 640) frames.
* Only the layers up to ``layer`` are kept: the rest would be computed and thrown away.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

SAMPLE_RATE = 16000  # HuBERT models take 16 kHz audio
EDGE_PADDING = 40    # zero samples added on each side of a file, as the reference does

# The 25 Hz geometry of mhubert-base-25hz: one frame per 5 * 2**7 = 640 samples.
CONV_KERNEL_25HZ = (10, 3, 3, 3, 3, 2, 2, 2)
CONV_STRIDE_25HZ = (5, 2, 2, 2, 2, 2, 2, 2)


def build_demo_encoder(settings: dict, out_dir: str | Path) -> None:
    """Save a small random HuBERT with the 25 Hz geometry, in the format of the real one."""
    from transformers import HubertConfig, HubertModel

    config = HubertConfig(
        hidden_size=settings["hidden_size"], num_hidden_layers=settings["num_hidden_layers"],
        num_attention_heads=settings["num_attention_heads"], intermediate_size=settings["intermediate_size"],
        conv_dim=(settings["conv_dim"],) * len(CONV_KERNEL_25HZ), conv_kernel=CONV_KERNEL_25HZ,
        conv_stride=CONV_STRIDE_25HZ, feat_extract_norm="group", do_stable_layer_norm=False,
        num_conv_pos_embeddings=settings.get("num_conv_pos_embeddings", 32), num_conv_pos_embedding_groups=4,
    )
    torch.manual_seed(settings["seed"])
    model = HubertModel(config).eval()
    model.save_pretrained(out_dir, safe_serialization=True)


class SpeechEncoder:
    """Features of layer ``layer`` (1-based, as fairseq and ``hidden_states[layer]``) of a HuBERT folder."""

    def __init__(self, folder: str | Path, layer: int, device: str = "cpu", dtype: torch.dtype = torch.float32):
        from transformers import HubertModel

        model = HubertModel.from_pretrained(str(folder), use_safetensors=True)
        config = model.config
        if not 1 <= layer <= config.num_hidden_layers:
            raise ValueError(f"{folder}: layer {layer} is not in 1..{config.num_hidden_layers}")
        if config.do_stable_layer_norm:
            raise ValueError(f"{folder}: pre-norm ('stable layer norm') HuBERTs are not supported: their layer "
                             "outputs are not hidden_states[layer]")
        model.encoder.layers = model.encoder.layers[:layer]  # the rest would be computed and thrown away
        self.model = model.to(device).eval()
        self.layer = layer
        self.device = device
        self.dtype = dtype
        self.hop = math.prod(config.conv_stride)
        self.frame_rate = SAMPLE_RATE / self.hop
        self.dim = config.hidden_size

    def num_frames(self, num_samples: int) -> int:
        return self.model._get_feat_extract_output_lengths(torch.tensor(num_samples + 2 * EDGE_PADDING)).item()

    @torch.inference_mode()
    def encode(self, waves: list[torch.Tensor]) -> list[torch.Tensor]:
        """Layer features, (frames, dim) float32 on the CPU, for each 16 kHz mono wave.

        The result for a wave does not depend on the other waves of the batch.
        """
        autocast = torch.autocast(device_type=torch.device(self.device).type, dtype=self.dtype, enabled=self.dtype != torch.float32)
        with autocast:
            # 1. The conv front end, one file at a time (its GroupNorm sees the whole input).
            frames = []
            for wave in waves:
                wave = torch.nn.functional.pad(wave.to(self.device, torch.float32), (EDGE_PADDING, EDGE_PADDING))
                frames.append(self.model.feature_extractor(wave[None])[0].transpose(0, 1))
            lengths = torch.tensor([f.shape[0] for f in frames], device=self.device)
            # 2. The transformer on the padded batch, padded frames masked out.
            padded = torch.nn.utils.rnn.pad_sequence(frames, batch_first=True)
            mask = torch.arange(padded.shape[1], device=self.device)[None, :] < lengths[:, None]
            hidden = self.model.feature_projection(padded)
            output = self.model.encoder(hidden, attention_mask=mask).last_hidden_state
        return [output[i, :n].float().cpu() for i, n in enumerate(lengths.tolist())]

    @torch.inference_mode()
    def encode_padded_naively(self, waves: list[torch.Tensor]) -> list[torch.Tensor]:
        """The reference code's way, for the benchmark: zero-padded batch, no mask."""
        padded = torch.nn.utils.rnn.pad_sequence([w.to(self.device, torch.float32) for w in waves], batch_first=True)
        padded = torch.nn.functional.pad(padded, (EDGE_PADDING, EDGE_PADDING))
        output = self.model(padded).last_hidden_state
        lengths = [math.ceil(len(w) / padded.shape[1] * output.shape[1]) for w in waves]
        return [output[i, :n].float().cpu() for i, n in enumerate(lengths)]


def frame_rate_of(folder: str | Path) -> float:
    """Frames per second of a HuBERT folder, from its config alone (no weights loaded)."""
    import json

    config = json.loads((Path(folder) / "config.json").read_text())
    return SAMPLE_RATE / math.prod(config["conv_stride"])
