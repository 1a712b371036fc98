"""The MOS proxy (appendix D.2): Cooper et al.'s predictor loaded from a checkpoint in its authors' format
(fairseq's wav2vec 2.0 names under ssl_model., the linear head under output_layer.), on a small stand-in
the test writes; its scores, and what it refuses to open."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

from slamming.evaluation.mos import MosPredictor, load_mos_predictor, predict_mos

SMALL = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64, "conv_dim": [16, 16],
         "conv_stride": [5, 2], "conv_kernel": [10, 3], "num_conv_pos_embeddings": 8, "num_conv_pos_embedding_groups": 2}

# transformers' names -> fairseq's (its Wav2Vec2Model's state dict), written out by hand for the stand-in
FAIRSEQ = [("feature_extractor.conv_layers.0.conv.", "feature_extractor.conv_layers.0.0."),
           ("feature_extractor.conv_layers.0.layer_norm.", "feature_extractor.conv_layers.0.2."),
           ("feature_extractor.conv_layers.1.conv.", "feature_extractor.conv_layers.1.0."),
           ("feature_projection.layer_norm.", "layer_norm."), ("feature_projection.projection.", "post_extract_proj."),
           ("masked_spec_embed", "mask_emb"),
           ("encoder.pos_conv_embed.conv.parametrizations.weight.original0", "encoder.pos_conv.0.weight_g"),
           ("encoder.pos_conv_embed.conv.parametrizations.weight.original1", "encoder.pos_conv.0.weight_v"),
           ("encoder.pos_conv_embed.conv.bias", "encoder.pos_conv.0.bias"),
           (".attention.", ".self_attn."), (".layer_norm.", ".self_attn_layer_norm."),
           (".feed_forward.intermediate_dense.", ".fc1."), (".feed_forward.output_dense.", ".fc2.")]


def fairseq_name(name: str) -> str:
    for ours, theirs in FAIRSEQ:
        if name.startswith("encoder.layers.") and ours.startswith("."):
            if ours in name:
                return name.replace(ours, theirs)
        elif name.startswith(ours):
            return theirs + name.removeprefix(ours)
    return name


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
    """A small MosPredictor saved as the authors save theirs: torch.save of its state dict, fairseq's names,
    beside a config.json; and the model itself, to compare with."""
    from transformers import Wav2Vec2Config

    torch.manual_seed(0)
    model = MosPredictor(Wav2Vec2Config(**SMALL)).eval()
    state = {}
    for name, tensor in model.state_dict().items():
        if name.startswith("ssl_model."):
            name = "ssl_model." + fairseq_name(name.removeprefix("ssl_model."))
        state[name] = tensor
    state["ssl_model.quantizer.vars"] = torch.zeros(3)  # pretraining-only: the authors remove it, so must we
    folder = tmp_path_factory.mktemp("mos") / "ckpt_w2vsmall"
    folder.mkdir()
    torch.save(state, folder / "ckpt_w2vsmall")
    (folder / "config.json").write_text(json.dumps(SMALL))
    return folder.parent, model, state


def test_the_predictor_loads_from_its_authors_format_and_scores_as_the_model_it_was(stand_in):
    folder, model, _ = stand_in
    loaded = load_mos_predictor(folder)
    rng = np.random.default_rng(0)
    waves = [rng.normal(0, 0.1, 16000).astype(np.float32), rng.normal(0, 0.1, 8000).astype(np.float32), np.zeros(100, np.float32)]
    with torch.no_grad():
        expected = [float(model(torch.from_numpy(w)[None])[0]) for w in waves[:2]]
    scores = predict_mos(loaded, waves)
    assert scores[:2] == pytest.approx(expected, abs=1e-5) and scores[2] is None  # too short for a frame


def test_a_checkpoint_that_is_not_the_fetched_one_is_not_opened(stand_in):
    folder, _, _ = stand_in
    with pytest.raises(ValueError, match="is not the 000000000000... recorded when it was fetched; not opened"):
        load_mos_predictor(folder, sha256="0" * 64)


def test_a_checkpoint_of_another_network_is_refused_naming_the_key(stand_in, tmp_path):
    _, _, state = stand_in
    (tmp_path / "ckpt_w2vsmall").parent.mkdir(exist_ok=True)
    torch.save({**state, "classifier.weight": torch.zeros(2)}, tmp_path / "ckpt_w2vsmall")
    (tmp_path / "config.json").write_text(json.dumps(SMALL))
    with pytest.raises(ValueError, match="'classifier.weight' is neither ssl_model"):
        load_mos_predictor(tmp_path)


class Payload:
    """What a hostile pickle would carry: an object whose unpickling runs code."""

    def __reduce__(self):
        return (print, ("ran",))


def test_a_pickle_that_would_run_code_is_refused_unopened(tmp_path, capsys):
    with open(tmp_path / "ckpt_w2vsmall", "wb") as f:
        pickle.dump({"output_layer.weight": Payload()}, f)
    with pytest.raises(pickle.UnpicklingError):
        load_mos_predictor(tmp_path)
    assert "ran" not in capsys.readouterr().out


def test_a_folder_without_the_checkpoint_says_what_it_looked_for(tmp_path):
    with pytest.raises(FileNotFoundError, match="no ckpt_w2vsmall in it"):
        load_mos_predictor(tmp_path)
