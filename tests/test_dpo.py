"""DPO: the loss equals TRL's DPO trainer's on the same model and batch; pairs are filtered as the
recipe says; the reference log-probabilities are computed once."""

from __future__ import annotations

import copy

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from conftest import kill_at_checkpoint
from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast, Qwen2Config

from slamming.workflow.config import with_defaults
from slamming.training.dpo import collate, completion_logps, dpo_loss, load_triples
from slamming.units.vocabulary import UNITS_SCHEMA, SpeechVocabulary

VOCABULARY = SpeechVocabulary(tokeniser="t", num_units=30, frame_rate=25.0)


def word_tokenizer():
    """Words u0 .. u29 as tokens 2 .. 31 (the speech vocabulary's layout), pad 0, end 1."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"<pad>": 0, "<eos>": 1, **{f"u{i}": i + 2 for i in range(30)}}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", eos_token="<eos>")


def tiny_model(seed):
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(Qwen2Config(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                                        num_attention_heads=2, num_key_value_heads=1, pad_token_id=0,
                                                        eos_token_id=1, bos_token_id=1)).eval()


def test_dpo_loss_equals_trl(tmp_path):
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    rows = [{"prompt": "u1 u2 u3", "chosen": " u4 u5", "rejected": " u6"},
            {"prompt": "u7 u8", "chosen": " u9", "rejected": " u10 u11 u12"},
            {"prompt": "u13", "chosen": " u14 u15 u16", "rejected": " u17 u18"}]
    policy, reference = tiny_model(0), tiny_model(1)
    ours_policy, ours_reference = copy.deepcopy(policy), copy.deepcopy(reference)
    args = DPOConfig(output_dir=str(tmp_path), beta=0.1, loss_type=["sigmoid"], per_device_train_batch_size=3,
                     report_to=[], use_cpu=True, bf16=False, max_length=None, precompute_ref_log_probs=False)
    trainer = DPOTrainer(model=policy, ref_model=reference, args=args, train_dataset=Dataset.from_list(rows),
                         processing_class=word_tokenizer())
    batch = next(iter(trainer.get_train_dataloader()))
    with torch.no_grad():
        trl_loss = trainer.compute_loss(trainer.model, batch).item()

        examples = trainer.train_dataset.to_list()
        ours = collate([{k: e[k] for k in ("prompt_ids", "chosen_ids", "rejected_ids")} for e in examples], pad_id=0)
        for key in ("input_ids", "attention_mask", "completion_mask"):  # the same batch layout as TRL's collator
            assert torch.equal(ours[key], trainer.data_collator(examples)[key].cpu())
        logps, reference_logps = completion_logps(ours_policy, batch), completion_logps(ours_reference, batch)
        losses, _, _ = dpo_loss(logps[:3], logps[3:], reference_logps[:3], reference_logps[3:], beta=0.1)
    assert losses.mean().item() == pytest.approx(trl_loss, rel=1e-5)
    assert abs(trl_loss - 0.6931) > 1e-3  # two different models: not the trivial log 2


def test_pairs_are_filtered_and_encoded(tmp_path):
    pairs = [{"id": "p0", "prompt": "Tom went to the barn.", "chosen": "Then he fed the hens.", "rejected": "Then he flew."},
             {"id": "p1", "prompt": "x", "chosen": "the cat the cat the cat", "rejected": "a dog"},     # repetitive
             {"id": "p2", "prompt": "y", "chosen": "a b", "rejected": "c d"},                           # no audio
             {"id": "p3", "prompt": "z", "chosen": "e f", "rejected": "g h"}]                           # prompt too long
    units = {"p0_prompt": [3, 4], "p0_chosen": [5, 6, 7], "p0_rejected": [8], "p1_prompt": [1], "p1_chosen": [2],
             "p1_rejected": [3], "p2_prompt": [1], "p2_chosen": [2], "p3_prompt": list(range(20)), "p3_chosen": [1],
             "p3_rejected": [2]}
    pq.write_table(pa.Table.from_pylist(pairs), tmp_path / "pairs.parquet")
    rows = [{"id": i, "split": "train", "units": u, "durations": [1] * len(u), "num_frames": len(u)} for i, u in units.items()]
    pq.write_table(pa.Table.from_pylist(rows, schema=UNITS_SCHEMA), tmp_path / "units.parquet")
    triples, report = load_triples(tmp_path / "units.parquet", tmp_path / "pairs.parquet", VOCABULARY, context=8, max_auto_bleu=0.3)
    assert report == {"pairs": 4, "kept": 1, "dropped": {"repetitive": 1, "missing_audio": 1, "prompt_too_long": 1}}
    assert triples == [{"id": "p0", "split": "train", "prompt_ids": [1, 5, 6], "chosen_ids": [7, 8, 9, 1], "rejected_ids": [10, 1]}]
    short, _ = load_triples(tmp_path / "units.parquet", tmp_path / "pairs.parquet", VOCABULARY, context=5, max_auto_bleu=0.3)
    assert short[0]["chosen_ids"] == [7, 8]  # the completion is cut to the context, the prompt kept


def test_the_filter_is_the_official_one_on_prompt_and_chosen(tmp_path):
    """Keep a pair when bigram auto-BLEU of prompt + " " + chosen is below 0.3; the rejected text does not count."""
    pairs = [{"id": "echo", "prompt": "the dog ran", "chosen": "the dog ran", "rejected": "a cat sat"},      # 4/5: dropped
             {"id": "messy", "prompt": "Tom went home.", "chosen": "Then he slept.", "rejected": "the cat the cat the cat"},
             {"id": "edge", "prompt": "a b c a b", "chosen": "d a b e f g", "rejected": "h i"},               # exactly 0.3: dropped
             {"id": "below", "prompt": "a b c a b", "chosen": "d e f g h i", "rejected": "j k"}]              # 2/10: kept
    pq.write_table(pa.Table.from_pylist(pairs), tmp_path / "pairs.parquet")
    rows = [{"id": f"{p['id']}_{part}", "split": "train", "units": [1, 2], "durations": [1, 1], "num_frames": 2}
            for p in pairs for part in ("prompt", "chosen", "rejected")]
    pq.write_table(pa.Table.from_pylist(rows, schema=UNITS_SCHEMA), tmp_path / "units.parquet")
    triples, report = load_triples(tmp_path / "units.parquet", tmp_path / "pairs.parquet", VOCABULARY, context=32, max_auto_bleu=0.3)
    assert [t["id"] for t in triples] == ["messy", "below"]
    assert report["dropped"]["repetitive"] == 2


def test_a_changed_starting_model_never_reuses_a_stale_reference(tmp_path):
    """The reference log-probabilities are the starting model's: after it changes (another pretraining), they
    are computed again, and the first DPO loss - policy equal to reference - is ln 2."""
    import csv
    import math

    from slamming.training.dpo import train_dpo
    from slamming.training.speech_lm import build_speech_lm, save_speech_lm

    tiny_model(0).save_pretrained(tmp_path / "text")
    save_speech_lm(build_speech_lm(tmp_path / "text", VOCABULARY, dropout=0.0), VOCABULARY, tmp_path / "pretrained")
    pairs = [{"id": f"p{i}", "prompt": f"Tom went to place {i}.", "chosen": f"He ran home {i}.", "rejected": f"It flew away {i}."}
             for i in range(8)]
    pq.write_table(pa.Table.from_pylist(pairs), tmp_path / "pairs.parquet")
    rows = [{"id": f"p{i}_{part}", "split": "train", "units": [(i * 3 + k) % 30 for k in range(4 + i % 3)], "durations": [1] * (4 + i % 3),
             "num_frames": 4 + i % 3} for i in range(8) for part in ("prompt", "chosen", "rejected")]
    pq.write_table(pa.Table.from_pylist(rows, schema=UNITS_SCHEMA), tmp_path / "units.parquet")
    settings = with_defaults("run.dpo", {
        "beta": 0.1, "max_auto_bleu": 0.3, "context_length": 64, "per_device_batch_size": 4, "global_batch_size": 8,
        "learning_rate": 1e-2, "lr_scheduler": "constant", "max_grad_norm": 1.0, "dtype": "float32",
        "optimizer": "adamw", "budget": {"max_steps": 3}})

    def first_loss(out):
        train_dpo(tmp_path / "pretrained", tmp_path / "units.parquet", tmp_path / "pairs.parquet", settings, 0, tmp_path / out,
                  tmp_path / "dpo.work", log_every_steps=1)
        return float(next(csv.DictReader(open(tmp_path / out / "training_log.csv")))["loss"])

    assert first_loss("a") == pytest.approx(math.log(2), abs=1e-6)
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "pretrained")  # another pretraining gave other weights
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    model.save_pretrained(tmp_path / "pretrained")
    assert first_loss("b") == pytest.approx(math.log(2), abs=1e-6)
    assert len(list((tmp_path / "dpo.work").glob("reference_logps-*.npy"))) == 1


def test_a_budget_in_epochs_shows_its_progress_in_the_log(tmp_path, caplog):
    """The log's share of the budget counts epochs when the budget is in epochs (it read 0.0 % at every step)."""
    import logging
    import re

    from slamming.training.dpo import train_dpo
    from slamming.training.speech_lm import build_speech_lm, save_speech_lm

    tiny_model(0).save_pretrained(tmp_path / "text")
    save_speech_lm(build_speech_lm(tmp_path / "text", VOCABULARY, dropout=0.0), VOCABULARY, tmp_path / "pretrained")
    pairs = [{"id": f"p{i}", "prompt": f"Tom went to place {i}.", "chosen": f"He ran home {i}.", "rejected": f"It flew away {i}."}
             for i in range(8)]
    pq.write_table(pa.Table.from_pylist(pairs), tmp_path / "pairs.parquet")
    rows = [{"id": f"p{i}_{part}", "split": "train", "units": [(i * 3 + k) % 30 for k in range(5)], "durations": [1] * 5,
             "num_frames": 5} for i in range(8) for part in ("prompt", "chosen", "rejected")]
    pq.write_table(pa.Table.from_pylist(rows, schema=UNITS_SCHEMA), tmp_path / "units.parquet")
    settings = with_defaults("run.dpo", {
        "beta": 0.1, "max_auto_bleu": 0.3, "context_length": 64, "per_device_batch_size": 4, "global_batch_size": 4,
        "learning_rate": 1e-3, "lr_scheduler": "constant", "max_grad_norm": 1.0, "dtype": "float32", "optimizer": "adamw",
        "budget": {"hours": None, "epochs": 2}})
    with caplog.at_level(logging.INFO):
        train_dpo(tmp_path / "pretrained", tmp_path / "units.parquet", tmp_path / "pairs.parquet", settings, 0, tmp_path / "out",
                  tmp_path / "dpo.work", log_every_steps=1)
    shares = [float(share) for share in re.findall(r"\(([\d.]+)% of the budget\)", caplog.text)]
    assert shares == [25.0, 50.0, 75.0, 100.0]  # 8 pairs, 4 a step, 2 epochs: 4 steps


@pytest.mark.slow
def test_a_dpo_run_killed_and_resumed_ends_with_the_weights_of_an_unbroken_run(tmp_path):
    """The engine's resume holds for DPO as for pretraining: the same steps, the same data order, the same weights."""
    import json
    import re
    import subprocess
    import sys

    from safetensors.torch import load_file

    from slamming.training.speech_lm import build_speech_lm, save_speech_lm

    tiny_model(0).save_pretrained(tmp_path / "text")
    save_speech_lm(build_speech_lm(tmp_path / "text", VOCABULARY, dropout=0.0), VOCABULARY, tmp_path / "pretrained")
    pairs = [{"id": f"p{i}", "prompt": f"Tom went to place {i}.", "chosen": f"He ran home {i}.", "rejected": f"It flew away {i}."}
             for i in range(16)]
    pq.write_table(pa.Table.from_pylist(pairs), tmp_path / "pairs.parquet")
    rows = [{"id": f"p{i}_{part}", "split": "train", "units": [(i * 3 + k + len(part)) % 30 for k in range(4 + i % 5)],
             "durations": [1] * (4 + i % 5), "num_frames": 4 + i % 5} for i in range(16) for part in ("prompt", "chosen", "rejected")]
    pq.write_table(pa.Table.from_pylist(rows, schema=UNITS_SCHEMA), tmp_path / "units.parquet")
    settings = with_defaults("run.dpo", {
        "beta": 0.1, "max_auto_bleu": 0.3, "context_length": 64, "per_device_batch_size": 2, "global_batch_size": 4,
        "learning_rate": 1e-2, "lr_scheduler": "inverse_sqrt", "warmup_steps": 5, "max_grad_norm": 1.0,
        "dtype": "float32", "optimizer": "adamw", "budget": {"max_steps": 150}})

    def run(out):
        return subprocess.Popen([sys.executable, "-m", "workflow_scripts.dpo", "--init", str(tmp_path / "pretrained"),
                                 "--units", str(tmp_path / "units.parquet"), "--pairs", str(tmp_path / "pairs.parquet"),
                                 "--settings", json.dumps(settings), "--out", str(tmp_path / out), "--threads", "1",
                                 "--checkpoint-every-steps", "1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    unbroken = run("unbroken")
    assert unbroken.wait(timeout=600) == 0, unbroken.stdout.read()
    state_file = tmp_path / "killed.work" / "checkpoint" / "trainer_state.pt"
    kill_at_checkpoint(run("killed"), state_file, step=20)
    assert not (tmp_path / "killed" / "model.safetensors").exists(), "the run finished before it could be killed"

    resumed = run("killed")
    output = resumed.communicate(timeout=600)[0]
    assert resumed.returncode == 0, output
    assert int(re.search(r"resumed from step (\d+)", output)[1]) >= 20
    expected, actual = load_file(tmp_path / "unbroken" / "model.safetensors"), load_file(tmp_path / "killed" / "model.safetensors")
    assert expected.keys() == actual.keys()
    for name in expected:
        assert torch.equal(expected[name], actual[name]), name
