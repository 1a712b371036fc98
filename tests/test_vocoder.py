"""The unit vocoder: TWIST's checkpoint format, audio length, batched = one by one."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import weight_norm

from slamming.evaluation.vocoder import UnitVocoder, load_vocoder, save_vocoder

CONFIG = {"resblock": "1", "upsample_rates": [8, 8, 5, 2], "upsample_kernel_sizes": [16, 16, 11, 4],
          "upsample_initial_channel": 64, "resblock_kernel_sizes": [3, 7], "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5]],
          "num_embeddings": 50, "embedding_dim": 16, "model_in_dim": 16,
          "dur_predictor_params": {"encoder_embed_dim": 16, "var_pred_hidden_dim": 16, "var_pred_kernel_size": 3,
                                   "var_pred_dropout": 0.5}}


class TextbookCodeHiFiGAN(nn.Module):
    """The TWIST vocoder as its papers and checkpoints describe it, written independently of
    slamming.evaluation.vocoder, with old-style weight norm: its state dict is the TWIST format."""

    def __init__(self, c):
        super().__init__()
        ch = c["upsample_initial_channel"]
        self.dict = nn.Embedding(c["num_embeddings"], c["embedding_dim"])
        d = c["dur_predictor_params"]
        self.dur_predictor = nn.Module()
        self.dur_predictor.conv1 = nn.Sequential(nn.Conv1d(d["encoder_embed_dim"], d["var_pred_hidden_dim"], 3, padding=1), nn.ReLU())
        self.dur_predictor.ln1 = nn.LayerNorm(d["var_pred_hidden_dim"])
        self.dur_predictor.conv2 = nn.Sequential(nn.Conv1d(d["var_pred_hidden_dim"], d["var_pred_hidden_dim"], 3, padding=1), nn.ReLU())
        self.dur_predictor.ln2 = nn.LayerNorm(d["var_pred_hidden_dim"])
        self.dur_predictor.proj = nn.Linear(d["var_pred_hidden_dim"], 1)
        self.conv_pre = weight_norm(nn.Conv1d(c["model_in_dim"], ch, 7, padding=3))
        self.ups = nn.ModuleList(weight_norm(nn.ConvTranspose1d(ch // 2**i, ch // 2**(i + 1), k, u, padding=(k - u) // 2))
                                 for i, (u, k) in enumerate(zip(c["upsample_rates"], c["upsample_kernel_sizes"])))
        self.resblocks = nn.ModuleList()
        for i in range(len(self.ups)):
            for k, dil in zip(c["resblock_kernel_sizes"], c["resblock_dilation_sizes"]):
                block = nn.Module()
                block.convs1 = nn.ModuleList(weight_norm(nn.Conv1d(ch // 2**(i + 1), ch // 2**(i + 1), k, dilation=x,
                                                                   padding=(k * x - x) // 2)) for x in dil)
                block.convs2 = nn.ModuleList(weight_norm(nn.Conv1d(ch // 2**(i + 1), ch // 2**(i + 1), k, padding=(k - 1) // 2))
                                             for _ in dil)
                self.resblocks.append(block)
        self.conv_post = weight_norm(nn.Conv1d(ch // 2**len(self.ups), 1, 7, padding=3))
        self.k = len(c["resblock_kernel_sizes"])

    def forward(self, code):
        x = self.dict(code).transpose(1, 2)
        p = self.dur_predictor
        h = p.ln1(p.conv1(x).transpose(1, 2)).transpose(1, 2)
        h = p.ln2(p.conv2(h).transpose(1, 2))
        durations = torch.clamp(torch.round(torch.exp(p.proj(h).squeeze(-1)) - 1).long(), min=1)
        x = torch.repeat_interleave(x, durations.view(-1), dim=2)
        x = self.conv_pre(x)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, 0.1))
            outs = []
            for block in self.resblocks[i * self.k:(i + 1) * self.k]:
                y = x
                for c1, c2 in zip(block.convs1, block.convs2):
                    y = y + c2(F.leaky_relu(c1(F.leaky_relu(y, 0.1)), 0.1))
                outs.append(y)
            x = sum(outs) / self.k
        return torch.tanh(self.conv_post(F.leaky_relu(x))), durations  # F.leaky_relu's default slope: 0.01


@pytest.fixture
def twist_checkpoint(tmp_path):
    torch.manual_seed(0)
    reference = TextbookCodeHiFiGAN(CONFIG).eval()
    for parameter in reference.parameters():  # away from the initialisation, so every weight matters
        parameter.data += 0.05 * torch.randn_like(parameter)
    torch.save({"generator": reference.state_dict(), "optim_g": {}, "steps": 1}, tmp_path / "g_00400000.pt")
    (tmp_path / "config.json").write_text(json.dumps(CONFIG))
    return reference, tmp_path / "g_00400000.pt", tmp_path / "config.json"


def test_a_twist_format_checkpoint_loads_and_speaks_640_samples_per_frame(twist_checkpoint):
    reference, checkpoint, config = twist_checkpoint
    state = torch.load(checkpoint, weights_only=True)["generator"]
    assert "conv_pre.weight_g" in state and "resblocks.0.convs1.0.weight_v" in state and "dict.weight" in state
    vocoder = load_vocoder(checkpoint, config)
    units = np.array([3, 17, 17, 4, 49, 0, 8])
    audio = vocoder.vocode([units])[0]
    with torch.no_grad():
        expected, durations = reference(torch.as_tensor(units)[None])
    assert len(audio) == int(durations.sum()) * 640 and vocoder.hop == 640
    np.testing.assert_allclose(audio, expected[0, 0].numpy(), atol=1e-5)


def test_a_checkpoint_with_the_wrong_sha256_is_not_opened(twist_checkpoint):
    _, checkpoint, config = twist_checkpoint
    with pytest.raises(ValueError, match="not opened"):
        load_vocoder(checkpoint, config, sha256="0" * 64)


def test_batched_vocoding_equals_one_by_one():
    torch.manual_seed(1)
    vocoder = UnitVocoder(CONFIG).eval()
    units = [np.random.default_rng(i).integers(0, 50, size=n) for i, n in enumerate((3, 29, 11, 1, 17))]
    alone = [vocoder.vocode([u])[0] for u in units]
    together = vocoder.vocode(units)
    for a, b in zip(alone, together):
        assert len(a) == len(b) and len(a) % 640 == 0
        np.testing.assert_allclose(a, b, atol=1e-6)
    given = vocoder.vocode([units[0]], durations=[np.array([2, 1, 3])])[0]
    assert len(given) == 6 * 640  # true durations for resynthesis


def test_a_trained_vocoder_round_trips_through_safetensors(tmp_path):
    torch.manual_seed(2)
    vocoder = UnitVocoder(CONFIG).eval()
    save_vocoder(vocoder, tmp_path)
    again = load_vocoder(tmp_path / "generator.safetensors", tmp_path / "config.json")
    units = np.array([1, 2, 3, 4])
    np.testing.assert_allclose(again.vocode([units])[0], vocoder.vocode([units])[0], atol=1e-6)
