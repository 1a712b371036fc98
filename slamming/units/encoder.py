"""Speech encoders: what turns 16 kHz audio into frames of features that k-means makes units of.

Every kind implements one small interface (``SpeechEncoder``): ``frame_rate`` (frames per second,
25 for every kind here, as the paper's tokeniser), ``dim``, and ``encode`` - features (frames x dim,
float32 on the CPU) for each wave of a batch, each the same as the wave would get alone. A tokeniser
names its kind in ``encoder`` (config), ``load_encoder`` makes it; another encoder is one class and
one line in ``KINDS``.

* ``hubert``: a transformers HubertModel from a folder - the paper's ``slprl/mhubert-base-25hz``, the
  hidden state of one layer. Why its features are computed the way they are: HuBERT-base's
  convolutional front end ends in a GroupNorm that normalises each channel over the whole input,
  padding included, so a zero-padded batch changes a file's features (the reference code's batches
  do); here the front end runs on each file alone (it is the cheap part), and the transformer on the
  padded frames with an attention mask (padded frames are zeroed before its positional convolution).
  Like the reference, each file is padded with 40 zero samples on both sides, which makes the 25 Hz
  geometry (receptive field 720, stride 640) give floor(samples / 640) frames; only the layers up to
  ``layer`` are kept.
* ``whisper``: the encoder of a Whisper model in CTranslate2 format (faster-whisper's folders, such as
  the tiny.en that ships in a dependency), its 50 Hz output averaged in pairs to 25 Hz. Its units
  carry words: the same sentence spoken twice gets far closer units than two sentences.
* ``mfcc``: mel-frequency cepstral coefficients (Whisper's log-mel front end, then a DCT), four 10 ms
  frames stacked into one 25 Hz frame. No model at all, and fast: the demo's encoder.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

SAMPLE_RATE = 16000  # HuBERT models take 16 kHz audio
EDGE_PADDING = 40    # zero samples added on each side of a file, as the reference does

# The 25 Hz geometry of mhubert-base-25hz: one frame per 5 * 2**7 = 640 samples.
CONV_KERNEL_25HZ = (10, 3, 3, 3, 3, 2, 2, 2)
CONV_STRIDE_25HZ = (5, 2, 2, 2, 2, 2, 2, 2)


def build_random_hubert(settings: dict, out_dir: str | Path) -> None:
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


class HubertEncoder:
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


class WhisperEncoder:
    """The output of a Whisper encoder (CTranslate2 format), frames averaged in pairs to 25 Hz."""

    frame_rate = 25.0

    def __init__(self, folder: str | Path, device: str = "cpu", dtype: torch.dtype = torch.float32, threads: int = 0):
        from faster_whisper import WhisperModel

        compute_type = ("float16" if dtype != torch.float32 else "float32") if device.startswith("cuda") else \
            ("int8" if dtype != torch.float32 else "float32")
        self.model = WhisperModel(str(folder), device="cuda" if device.startswith("cuda") else "cpu", compute_type=compute_type,
                                  cpu_threads=threads or torch.get_num_threads())
        self.dim = 0  # the model says its width only through an output: encode a second of silence
        self.dim = int(self._encode(np.zeros(SAMPLE_RATE, np.float32)).shape[1])

    def _encode(self, wave: np.ndarray) -> np.ndarray:
        import ctranslate2

        hop = self.model.feature_extractor.hop_length
        mel = self.model.feature_extractor(wave)[:, : len(wave) // hop]
        mel = mel[:, : mel.shape[1] // 4 * 4]  # whole 25 Hz frames: 4 mel frames, 2 encoder frames
        if mel.shape[1] == 0:
            return np.zeros((0, self.dim or 1), np.float32)
        output = np.array(self.model.model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(mel[None])),
                                                  to_cpu=True))[0]
        return output.reshape(-1, 2, output.shape[1]).mean(axis=1).astype(np.float32)

    def encode(self, waves: list[torch.Tensor]) -> list[torch.Tensor]:
        """Features of each wave alone (Whisper's encoder sees one file at a time, unpadded)."""
        return [torch.from_numpy(self._encode(np.asarray(w, dtype=np.float32))) for w in waves]


class MfccEncoder:
    """Mel-frequency cepstral coefficients of Whisper's log-mel front end, four 10 ms frames stacked."""

    frame_rate = 25.0

    def __init__(self, coefficients: int = 20, mels: int = 80):
        from faster_whisper.feature_extractor import FeatureExtractor

        self.features = FeatureExtractor(feature_size=mels)
        self.coefficients = coefficients
        self.dim = 4 * coefficients

    def _encode(self, wave: np.ndarray) -> np.ndarray:
        from scipy.fft import dct

        hop = self.features.hop_length
        mel = self.features(wave)[:, : len(wave) // hop]  # Whisper's normalised log-mel, 100 frames per second
        mel = mel[:, : mel.shape[1] // 4 * 4].T
        cepstra = dct(mel, type=2, norm="ortho", axis=1)[:, : self.coefficients]
        return cepstra.reshape(-1, self.dim).astype(np.float32)

    def encode(self, waves: list[torch.Tensor]) -> list[torch.Tensor]:
        return [torch.from_numpy(self._encode(np.asarray(w, dtype=np.float32))) for w in waves]


class SpeechEncoder(Protocol):
    """What every encoder kind offers."""

    frame_rate: float
    dim: int

    def encode(self, waves: list[torch.Tensor]) -> list[torch.Tensor]:
        """Features (frames x dim, float32 on the CPU) of each 16 kHz mono wave, independent of the batch."""


KINDS = ("hubert", "whisper", "mfcc")


def encoder_kind(spec: dict) -> str:
    """Which kind a tokeniser's ``encoder`` section names (its one key of ``KINDS``)."""
    kinds = [kind for kind in KINDS if kind in spec]
    if len(kinds) != 1:
        raise ValueError(f"an encoder is exactly one of {', '.join(KINDS)}: {spec}")
    return kinds[0]


def load_encoder(spec: dict, folder: str | Path | None, device: str = "cpu", dtype: torch.dtype = torch.float32) -> SpeechEncoder:
    """The encoder of a tokeniser's ``encoder`` section; ``folder`` holds its model (none for mfcc)."""
    kind = encoder_kind(spec)
    if kind == "hubert":
        return HubertEncoder(folder, spec["layer"], device=device, dtype=dtype)
    if kind == "whisper":
        return WhisperEncoder(folder, device=device, dtype=dtype)
    return MfccEncoder(**(spec["mfcc"] or {}))


def frame_rate_of(spec: dict, folder: str | Path | None) -> float:
    """Frames per second of an encoder, from its settings and config alone (no weights loaded)."""
    import json

    if encoder_kind(spec) != "hubert":
        return 25.0
    config = json.loads((Path(folder) / "config.json").read_text())
    return SAMPLE_RATE / math.prod(config["conv_stride"])


def add_encoder_arguments(parser) -> None:
    """The command-line option of a stage that encodes audio with a tokeniser's encoder."""
    parser.add_argument("--encoder", required=True,
                        help='the encoder as JSON (slamming.workflow.plan.Plan.encoder_settings): its section, its model folder '
                             'and its precision, e.g. {"encoder": {"mfcc": {"coefficients": 20}}, "folder": null, "dtype": "float32"}')


def encoder_from_arguments(args, device: str) -> SpeechEncoder:
    import json

    settings = json.loads(args.encoder)
    return load_encoder(settings["encoder"], settings["folder"], device=device, dtype=getattr(torch, settings["dtype"]))
