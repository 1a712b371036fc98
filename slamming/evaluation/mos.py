"""A MOS proxy (the paper's appendix D.2): the predicted mean opinion score of generated, resynthesised and
real speech, with the MOS predictor of Cooper et al. 2022 ("Generalization ability of MOS prediction
networks"), which the paper and Align-SLM call MOSNet.

The predictor is wav2vec 2.0 base (fairseq's ``wav2vec_small``) fine-tuned on BVCC's naturalness ratings
with a linear head on its features averaged over time (its authors' ``MosPredictor``). Its released
checkpoint (``ckpt_w2vsmall``, zenodo record 6785056) is a fairseq state dict; the authors' code needs
fairseq, which does not install with current Python and PyTorch, so the weights are renamed here onto
transformers' ``Wav2Vec2Model``, the same network. A ``config.json`` (a ``Wav2Vec2Config``) beside the
checkpoint replaces the base architecture (the tests' small stand-in does this).

Where we differ from the authors' use: they ask for audio "downsampled to 16kHz and sv56-normalized";
sv56 (ITU-T P.56 level normalisation) has no maintained Python package, so the audio is scored as it
is, at 16 kHz. Scores are therefore not exactly comparable with the paper's Table 10.

The checkpoint is a pickle: it is opened with ``torch.load(weights_only=True)``, which rebuilds tensors and
plain containers and never runs code, after its sha256 is checked against the one recorded when it was
fetched.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

log = logging.getLogger("mos")

CHECKPOINT = "ckpt_w2vsmall"
# fairseq's pretraining-only modules, which the authors remove before fine-tuning (remove_pretraining_modules)
PRETRAINING_ONLY = ("quantizer.", "project_q.", "final_proj.", "target_glu.")


class MosPredictor(nn.Module):
    """wav2vec 2.0's last-layer features averaged over time, then a linear layer: one score per utterance."""

    def __init__(self, config):
        from transformers import Wav2Vec2Model

        super().__init__()
        self.ssl_model = Wav2Vec2Model(config)
        self.output_layer = nn.Linear(config.hidden_size, 1)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        features = self.ssl_model(wave).last_hidden_state
        return self.output_layer(features.mean(dim=1)).squeeze(-1)


def fairseq_names(name: str, ours: set[str]) -> str | None:
    """Our (transformers') name of one of fairseq's wav2vec 2.0 parameters; None for a pretraining-only one."""
    if name.startswith(PRETRAINING_ONLY):
        return None
    parts = name.split(".")
    if name.startswith("feature_extractor.conv_layers."):
        layer, module = parts[2], parts[3]  # conv_layers.<i>.<0: conv, 2: group norm of the first>.<weight|bias>
        return f"feature_extractor.conv_layers.{layer}.{'conv' if module == '0' else 'layer_norm'}.{parts[4]}"
    if name.startswith("layer_norm."):
        return f"feature_projection.{name}"
    if name.startswith("post_extract_proj."):
        return f"feature_projection.projection.{parts[-1]}"
    if name == "mask_emb":
        return "masked_spec_embed"
    if name.startswith("encoder.pos_conv.0."):
        kind = parts[-1]
        if kind == "bias":
            return "encoder.pos_conv_embed.conv.bias"
        legacy = f"encoder.pos_conv_embed.conv.{kind}"  # weight_g, weight_v; newer PyTorch names them as parametrisations
        return legacy if legacy in ours else f"encoder.pos_conv_embed.conv.parametrizations.weight.original{0 if kind == 'weight_g' else 1}"
    if name.startswith("encoder.layers."):
        layer, rest = parts[2], ".".join(parts[3:])
        for theirs, mine in (("self_attn_layer_norm.", "layer_norm."), ("self_attn.", "attention."),
                             ("fc1.", "feed_forward.intermediate_dense."), ("fc2.", "feed_forward.output_dense."),
                             ("final_layer_norm.", "final_layer_norm.")):
            if rest.startswith(theirs):
                return f"encoder.layers.{layer}.{mine}{rest.removeprefix(theirs)}"
    return name  # encoder.layer_norm.*: the same name


def checkpoint_file(folder: str | Path) -> Path:
    """The checkpoint in a fetched source (the zenodo archive unpacks to ckpt_w2vsmall)."""
    folder = Path(folder)
    if folder.is_file():
        return folder
    found = sorted(p for p in folder.rglob(CHECKPOINT) if p.is_file())
    if not found:
        raise FileNotFoundError(f"{folder}: no {CHECKPOINT} in it (the MOS predictor's checkpoint, zenodo record 6785056)")
    return found[0]


def load_mos_predictor(folder: str | Path, sha256: str | None = None, device: str = "cpu") -> MosPredictor:
    """Cooper et al.'s predictor from its released checkpoint (a fairseq state dict, keys ssl_model.* and
    output_layer.*), its sha256 checked first when given."""
    from transformers import Wav2Vec2Config

    from slamming.units.kmeans import sha256_of

    path = checkpoint_file(folder)
    if sha256 is not None and sha256_of(path) != sha256:
        raise ValueError(f"{path}: sha256 {sha256_of(path)[:12]}... is not the {sha256[:12]}... recorded when it was fetched; "
                         "not opened (fetch it again)")
    config_file = path.parent / "config.json"
    config = Wav2Vec2Config(**json.loads(config_file.read_text())) if config_file.exists() else Wav2Vec2Config()
    model = MosPredictor(config)
    own = model.state_dict()
    wav2vec = {n.removeprefix("ssl_model.") for n in own if n.startswith("ssl_model.")}
    state = torch.load(path, map_location="cpu", weights_only=True)
    renamed = {}
    for name, tensor in state.items():
        if name.startswith("output_layer."):
            renamed[name] = tensor
        elif name.startswith("ssl_model."):
            mine = fairseq_names(name.removeprefix("ssl_model."), wav2vec)
            if mine is not None:
                renamed[f"ssl_model.{mine}"] = tensor
        else:
            raise ValueError(f"{path}: {name!r} is neither ssl_model.* nor output_layer.*: not Cooper et al.'s MosPredictor checkpoint")
    if "ssl_model.masked_spec_embed" not in renamed and "ssl_model.masked_spec_embed" in own:
        renamed["ssl_model.masked_spec_embed"] = own["ssl_model.masked_spec_embed"]  # used only in training
    missing, unexpected = model.load_state_dict(renamed, strict=False)
    if missing or unexpected:
        raise ValueError(f"{path} does not fit wav2vec 2.0 {'with ' + str(config_file) if config_file.exists() else 'base'}: "
                         f"missing {missing[:4]}, unexpected {unexpected[:4]}")
    return model.to(device).eval()


@torch.no_grad()
def predict_mos(model: MosPredictor, waves: list[np.ndarray], device: str = "cpu") -> list[float | None]:
    """One score per 16 kHz waveform, one at a time (as the authors': the group-normalised base model is
    not meant to see padding); None for an empty one."""
    scores = []
    for wave in waves:
        if len(wave) < 400:  # shorter than wav2vec 2.0's first window: no frame to score
            scores.append(None)
            continue
        scores.append(float(model(torch.as_tensor(wave, dtype=torch.float32, device=device)[None])[0]))
    return scores
