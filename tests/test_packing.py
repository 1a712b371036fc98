"""The two packings (``pretrain.packing``): full windows, and the official code's chunks laid end to end
in one row per micro-batch. What each gives the model, what a step counts, and that training on chunks
gives each chunk the loss it gets alone."""

from __future__ import annotations

import csv
import json
import logging
from itertools import chain, pairwise

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from transformers import AutoModelForCausalLM, Qwen2Config

from slamming.training.attention import DocumentAttention, implementation
from slamming.workflow.config import with_defaults
from slamming.training.engine import EpochOrder, Processes
from slamming.units.packing import Documents, chunk, chunk_offsets, mix_order, pack, reference_fill_ratio
from slamming.training.pretraining import (
    ROW_MULTIPLE,
    PackedChunks,
    PackedTask,
    PackedWindows,
    packed_data,
    train_on_windows,
    validation_loss,
)
from slamming.training.speech_lm import build_speech_lm, save_speech_lm
from slamming.units.vocabulary import UNITS_SCHEMA, SpeechVocabulary

LOG = logging.getLogger("test")
VOCAB = SpeechVocabulary(tokeniser="t", num_units=30, frame_rate=25.0)


def random_documents(n: int, seed: int, max_units: int = 90) -> Documents:
    rng = np.random.default_rng(seed)
    pieces = [np.concatenate([[VOCAB.bos_id], rng.integers(2, 32, size=rng.integers(1, max_units)), [VOCAB.eos_id]])
              for _ in range(n)]
    return Documents(np.concatenate(pieces).astype(np.uint16), np.concatenate([[0], np.cumsum([len(p) for p in pieces])]))


def document(corpora, corpus, index) -> list[int]:
    d = corpora[corpus]
    return d.tokens[d.offsets[index]:d.offsets[index + 1]].tolist()


def chunked(corpora, order, context):
    total = sum(int(corpora[c].lengths[i]) for c, i in order)
    tokens = np.zeros(total, np.uint16)
    offsets, stats = chunk(corpora, order, context, tokens)
    return tokens, offsets, stats


@pytest.mark.parametrize("context", [16, 64, 1024])
def test_each_document_is_cut_into_chunks_of_the_context_from_its_start(context):
    corpora = [random_documents(30, 1), random_documents(20, 2, max_units=300)]
    order = mix_order([30, 20], [1.0, 2.0], seed=3)
    tokens, offsets, stats = chunked(corpora, order, context)
    expected = []
    for c, i in order:  # the documents in the mix's order; each its first context tokens, then the next ...
        doc = document(corpora, c, i)
        expected += [doc[start:start + context] for start in range(0, len(doc), context)]
    assert [tokens[a:b].tolist() for a, b in pairwise(offsets)] == expected
    lengths = [len(e) for e in expected]
    assert stats["chunks"] == len(expected) and stats["tokens"] == sum(lengths) == offsets[-1]
    assert stats["mean_tokens_per_chunk"] == pytest.approx(np.mean(lengths))
    assert stats["fill_ratio"] == pytest.approx(sum(lengths) / (len(lengths) * context))
    assert stats["documents_split_across_chunks"] == sum(int(corpora[c].lengths[i]) > context for c, i in order)
    # the same documents end to end as the windows of the same mix hold them
    windows = -(-stats["tokens"] // context)
    window_tokens, segments = np.zeros((windows, context), np.uint16), np.zeros((windows, context), np.uint16)
    pack(corpora, order, context, window_tokens, segments, np.zeros(windows, bool), VOCAB.pad_id)
    assert np.array_equal(window_tokens.reshape(-1)[segments.reshape(-1) > 0], tokens)


def test_chunk_offsets_and_the_reference_fill():
    assert chunk_offsets(np.array([5, 8, 3, 4]), 4).tolist() == [0, 4, 5, 9, 13, 16, 20]
    lengths = np.array([5, 8, 3, 4])  # chunks 4 1 4 4 3 4: two rows of 4 chunks of 4 hold 20 of 32
    assert reference_fill_ratio(lengths, 4, batch_size=4) == pytest.approx(20 / 32)


def write_chunks(folder, context=32, documents=60, seed=0, valid=9, unit_offset=2):
    """Units tables as the workflow writes them, chunked by the packing stage as a run with packing: official."""
    from workflow_scripts.pack_windows import main

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"id": f"{split}{i}", "split": split, "units": rng.integers(0, 30, size=rng.integers(2, 80)).tolist(),
             "durations": [], "num_frames": 0}
            for split, n in (("train", documents), ("valid", valid)) for i in range(n)]
    for row in rows:
        row["durations"], row["num_frames"] = [1] * len(row["units"]), len(row["units"])
    pq.write_table(pa.Table.from_pylist(rows, schema=UNITS_SCHEMA), folder / "units.parquet")
    (folder / "vocabulary.json").write_text(json.dumps({"tokeniser": "t", "num_units": 30, "frame_rate": 25.0, "unit_offset": unit_offset}))
    assert main(["--mix", json.dumps({"c": {"units": str(folder / "units.parquet"), "weight": 1.0}}), "--vocabulary",
                 str(folder / "vocabulary.json"), "--context", str(context), "--seed", str(seed), "--packing", "official",
                 "--out-dir", str(folder / "packed")]) == 0
    return folder / "packed", rows


def test_the_packing_stage_writes_chunks_and_reports_them(tmp_path):
    packed, rows = write_chunks(tmp_path, context=32)
    report = json.loads((packed / "packing.json").read_text())
    assert report["packing"] == "official"
    for split in ("train", "valid"):
        lengths = [len(r["units"]) + 2 for r in rows if r["split"] == split]
        chunks = sum(-(-n // 32) for n in lengths)
        assert report[split]["tokens"] == sum(lengths) and report[split]["chunks"] == chunks
        assert report[split]["mean_tokens_per_chunk"] == pytest.approx(sum(lengths) / chunks)
        assert report[split]["fill_ratio"] == pytest.approx(sum(lengths) / (chunks * 32))
        data = PackedChunks(packed, split)
        assert len(data) == chunks and data.real_tokens() == sum(lengths) and data.lengths.max() <= 32
    assert not list(packed.glob("*_segments.npy"))  # no windows


def test_units_after_a_text_vocabulary_pack_into_wider_token_arrays(tmp_path):
    """Interleaving puts the units after a text LM's ~152 k ids: past uint16, the arrays are uint32 and
    training reads every id as it was."""
    packed, rows = write_chunks(tmp_path, context=32, unit_offset=151_665)
    data = PackedChunks(packed, "train")
    assert data.tokens.dtype == np.uint32 and int(data.tokens.max()) == 151_665 + max(max(r["units"]) for r in rows)
    tokens, _ = data.batch(np.array([0]))
    assert int(tokens.max()) > 65_535 and tokens.dtype == torch.int64
    # the speech vocabulary alone stays uint16: half the bytes
    assert np.load(write_chunks(tmp_path / "speech", context=32)[0] / "train_chunk_tokens.npy").dtype == np.uint16


def test_training_refuses_packed_arrays_that_are_not_the_ones_packing_json_records(tmp_path):
    """A truncated train_chunk_tokens.npy was trained on (only packing.json was an input of training)."""
    from slamming.artifacts import ArtifactUnreadable
    from slamming.training.pretraining import check_packed

    packed, _ = write_chunks(tmp_path, context=32)
    records = json.loads((packed / "packing.json").read_text())["files"]
    assert sorted(records) == sorted(["train_chunk_tokens.npy", "train_chunk_offsets.npy", "valid_chunk_tokens.npy",
                                      "valid_chunk_offsets.npy"])
    check_packed(packed)  # as packed: fine
    array = packed / "train_chunk_tokens.npy"
    whole = array.read_bytes()
    array.write_bytes(whole[:-10])
    with pytest.raises(ArtifactUnreadable, match=f"{array} has {len(whole) - 10} bytes where {packed / 'packing.json'} "
                                                 f"records {len(whole)} .* `snakemake -f {packed / 'packing.json'}`"):
        check_packed(packed)
    array.write_bytes(whole[:-2] + bytes([whole[-2] ^ 1, whole[-1]]))  # same size, one token changed
    with pytest.raises(ArtifactUnreadable, match="its sha256 differs"):
        check_packed(packed)


def test_a_split_without_documents_has_no_chunks_and_no_validation_loss(tmp_path):
    packed, _ = write_chunks(tmp_path, context=32, valid=0)
    valid = PackedChunks(packed, "valid")
    assert len(valid) == 0 and valid.real_tokens() == 0
    assert validation_loss(None, valid, 2, DocumentAttention("sdpa_mask"), Processes(), torch.device("cpu")) is None


def test_a_micro_batch_is_its_chunks_end_to_end_in_one_row(tmp_path):
    data = PackedChunks(write_chunks(tmp_path, context=32)[0], "train")
    indices = np.array([7, 2, 11])
    tokens, segments = data.batch(indices)
    pieces = [data.tokens[data.offsets[i]:data.offsets[i + 1]].tolist() for i in sorted(indices)]
    real = sum(len(p) for p in pieces)
    assert tokens.shape == segments.shape == (1, ROW_MULTIPLE)  # padded to a multiple of 128, at most
    assert tokens[0, :real].tolist() == list(chain(*pieces)) and (tokens[0, real:] == VOCAB.pad_id).all()
    assert segments[0].tolist() == list(chain(*([k + 1] * len(p) for k, p in enumerate(pieces)))) + [0] * (ROW_MULTIPLE - real)
    # what the model gets: positions restart at each chunk, each chunk's first token is not predicted
    inputs = DocumentAttention("sdpa_mask").host(tokens, segments)
    assert inputs["position_ids"][0, :real].tolist() == list(chain(*(range(len(p)) for p in pieces)))
    assert (inputs["labels"][0] != -100).sum() == real - len(pieces)
    # what a step counts: the real tokens of its chunks, and all but each chunk's first as the normaliser
    assert data.step_size(indices) == (real - len(pieces), real)
    assert data.computed(indices) == (real, sum(len(p) * (len(p) + 1) // 2 for p in pieces))
    wide = PackedChunks(tmp_path / "packed", "train", row_multiple=2 * 32)  # FlexAttention: every row full length
    assert wide.batch(np.array([0, 1]))[0].shape == (1, 64)


def make_speech_lm(folder):
    config = Qwen2Config(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, tie_word_embeddings=True)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(folder / "text")
    save_speech_lm(build_speech_lm(folder / "text", VOCAB, dropout=0.0), VOCAB, folder / "init")
    return folder / "init"


def reference_loss(model, data: PackedChunks, indices) -> float:
    """Each chunk alone through the model, no packing: the summed token loss over the predicted tokens."""
    total, count = 0.0, 0
    with torch.no_grad():
        for i in indices:
            ids = torch.from_numpy(data.tokens[data.offsets[i]:data.offsets[i + 1]].astype(np.int64))[None]
            if ids.shape[1] < 2:
                continue
            logits = model(ids, use_cache=False).logits[0, :-1]
            total += float(torch.nn.functional.cross_entropy(logits, ids[0, 1:], reduction="sum"))
            count += ids.shape[1] - 1
    return total / count


SETTINGS = with_defaults("run.pretrain", {
    "learning_rate": 3e-3, "min_learning_rate": 3e-4, "lr_scheduler": "cosine", "warmup_ratio": 0.1,
    "per_device_batch_size": 2, "global_batch_size": 8, "max_grad_norm": 0.5, "dtype": "float32",
    "optimizer": "adamw", "weight_decay": 0.0, "context_length": 32, "packing": "official"})


def test_validation_on_chunks_is_the_loss_of_each_chunk_alone(tmp_path):
    init, packed = make_speech_lm(tmp_path), write_chunks(tmp_path / "data", context=32)[0]
    model = AutoModelForCausalLM.from_pretrained(init).eval()
    valid = PackedChunks(packed, "valid")
    loss = validation_loss(model, valid, 3, DocumentAttention("sdpa_mask"), Processes(), torch.device("cpu"))
    assert float(loss) == pytest.approx(reference_loss(model, valid, range(len(valid))), rel=1e-5)


@pytest.mark.parametrize("attention", ["auto", "sdpa_documents"])  # short rows: auto is the dense mask on a CPU
def test_training_on_chunks_steps_on_the_per_chunk_loss_and_counts_real_tokens(tmp_path, attention):
    init, packed = make_speech_lm(tmp_path), write_chunks(tmp_path / "data", context=32)[0]
    train = PackedChunks(packed, "train")
    settings = {**SETTINGS, "attention": attention, "budget": {"max_steps": 3}}
    summary = train_on_windows(init, packed, settings, 0, tmp_path / "out", tmp_path / "work", LOG, log_every_steps=1)
    with open(tmp_path / "out" / "training_log.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == "train"]
    order = EpochOrder(len(train), 0)  # the engine's order of items: the chunks of each step
    steps = [order.take(8) for _ in range(3)]
    # the first step's loss (before its update) is the mean token loss of its 8 chunks, each alone
    model = AutoModelForCausalLM.from_pretrained(init).eval()
    assert float(rows[0]["loss"]) == pytest.approx(reference_loss(model, train, steps[0]), rel=1e-4)
    # the budget counts the real tokens of each step's chunks; tokens per step is the mean over an epoch
    assert summary["steps"] == 3 and summary["packing"] == "official"
    assert [int(r["tokens"]) for r in rows] == np.cumsum([train.step_size(s)[1] for s in steps]).tolist()
    assert summary["tokens"] == sum(int(train.lengths[s].sum()) for s in steps)
    assert summary["tokens_per_step"] == round(8 * train.real_tokens() / len(train))
    assert np.isfinite(summary["valid_loss"])


def test_a_step_on_the_cpu_path_is_the_reference_step(tmp_path):
    """A CPU's attention (auto: ``sdpa_documents``, rows without padding) gives a micro-batch of chunks the
    loss and the gradients of the dense mask's rows padded to ROW_MULTIPLE."""
    init, packed = make_speech_lm(tmp_path), write_chunks(tmp_path / "data", context=64)[0]
    indices = np.array([3, 17, 5, 11, 0, 8, 21, 2])

    def step(path: str):
        data = packed_data(packed, "train", {**SETTINGS, "context_length": 64}, path)
        task = PackedTask(data, DocumentAttention(path))
        model = AutoModelForCausalLM.from_pretrained(init, attn_implementation=implementation(path)).train()
        batch = task.load(indices)
        loss, _ = task.loss(model, batch)
        (loss / data.step_size(indices)[0]).backward()
        return batch["input_ids"].shape[1], loss.item(), {n: p.grad for n, p in model.named_parameters() if p.grad is not None}

    width, loss, gradients = step("sdpa_documents")
    reference_width, reference, reference_gradients = step("sdpa_mask")
    assert width < reference_width and reference_width % ROW_MULTIPLE == 0  # no padding: the chunks alone
    assert loss == pytest.approx(reference, rel=1e-5)
    for name, gradient in gradients.items():
        torch.testing.assert_close(gradient, reference_gradients[name], atol=1e-6, rtol=1e-4, msg=name)


def test_a_token_budget_counts_real_tokens(tmp_path):
    init, packed = make_speech_lm(tmp_path), write_chunks(tmp_path / "data", context=32)[0]
    train = PackedChunks(packed, "train")
    summary = train_on_windows(init, packed, {**SETTINGS, "budget": {"max_tokens": 1000}}, 0, tmp_path / "out",
                               tmp_path / "work", LOG)
    order = EpochOrder(len(train), 0)
    seen = np.cumsum([train.step_size(order.take(8))[1] for _ in range(20)])
    steps = int(np.searchsorted(seen, 1000)) + 1  # the first step that reaches the budget is the last
    assert summary["steps"] == steps and summary["tokens"] == seen[steps - 1] < steps * 8 * 32


def test_windows_packing_and_the_text_lms_are_full_windows(tmp_path):
    """With packing windows (the demo's text LM's, text_lm.py): full windows, as before; FlexAttention's
    rows of chunks all have the longest length (one compiled shape)."""
    windows = tmp_path / "windows"
    windows.mkdir()
    np.save(windows / "train_tokens.npy", np.ones((4, 32), np.uint16))
    np.save(windows / "train_segments.npy", np.ones((4, 32), np.uint16))
    for settings in ({**SETTINGS, "packing": "windows"},):
        data = packed_data(windows, "train", settings, "sdpa_mask")
        assert isinstance(data, PackedWindows) and data.step_size(np.array([0, 1])) == (2 * 31, 2 * 32)
        assert PackedTask(data, DocumentAttention("sdpa_mask")).items == 4
    packed = write_chunks(tmp_path / "data", context=32)[0]
    assert packed_data(packed, "train", SETTINGS, "sdpa_mask").row_multiple == ROW_MULTIPLE
    assert packed_data(packed, "train", SETTINGS, "flex").row_multiple == 2 * 32


def test_a_corpus_of_weight_zero_is_validated_on_and_not_trained_on(tmp_path):
    """A data study (the paper's Table 1 without sTinyStories) compares validation losses: the runs must be
    validated on the same documents whatever their training weights."""
    from slamming.units.packing import mixed_documents

    vocabulary = SpeechVocabulary(tokeniser="t", num_units=30, frame_rate=25.0)
    rng = np.random.default_rng(0)
    for name in ("real", "synthetic"):
        rows = [{"id": f"{name}_{k}", "split": "valid" if k % 5 == 0 else "train", "units": rng.integers(0, 30, 12).tolist(),
                 "durations": [1] * 12, "num_frames": 12} for k in range(20)]
        pq.write_table(pa.Table.from_pylist(rows, schema=UNITS_SCHEMA), tmp_path / f"{name}.parquet")

    def mix(synthetic_weight: float) -> dict:
        return {"real": {"units": str(tmp_path / "real.parquet"), "weight": 2.0},
                "synthetic": {"units": str(tmp_path / "synthetic.parquet"), "weight": synthetic_weight}}

    def corpora_of(order):
        return np.bincount(order[:, 0], minlength=2).tolist()

    assert corpora_of(mixed_documents(mix(1.0), "train", vocabulary, 0)[1]) == [32, 16]
    assert corpora_of(mixed_documents(mix(0.0), "train", vocabulary, 0)[1]) == [32, 0]
    with_it, without = mixed_documents(mix(1.0), "valid", vocabulary, 0)[1], mixed_documents(mix(0.0), "valid", vocabulary, 0)[1]
    assert corpora_of(with_it) == corpora_of(without) == [4, 4]  # each corpus once, whatever its weight
    assert np.array_equal(with_it, without)
