"""Text-to-speech backends behind one small interface.

A backend is made from a voice's config entry and the folder its model was materialised into, and
turns text into float32 mono samples at its own ``sample_rate``::

    voice = load_voice(config["voices"]["joe"], Path("resources/sources/piper_joe"), seed=0, threads=1)
    samples = voice.synthesise("Once upon a time ...")

Adding an engine means one class with ``sample_rate``, ``name`` and ``synthesise`` and one line in
``BACKENDS``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

import numpy as np


class TTSBackend(Protocol):
    name: str           # recorded as the source of each utterance, e.g. "piper:en_US-joe-medium"
    sample_rate: int

    def synthesise(self, text: str) -> np.ndarray:
        """Float32 mono samples in [-1, 1] at ``sample_rate``."""
        ...


class PiperVoice:
    """A Piper (VITS, ONNX) voice from a folder holding one ``*.onnx`` model and its ``*.onnx.json``.

    Piper draws its noise inside the ONNX graph, from a generator seeded when the session is made;
    there is no per-call seed. So the session is seeded once from ``seed``, and a fixed sequence of
    texts gives fixed audio: the synthesise stage keeps each shard's order and seed fixed.
    """

    def __init__(self, folder: Path, settings: dict, seed: int, threads: int = 1, alignments: bool = False):
        import onnxruntime
        from piper import PiperVoice as _Voice
        from piper import SynthesisConfig
        from piper.config import PiperConfig
        from piper.voice import ESPEAK_DATA_DIR

        models = sorted(Path(folder).glob("*.onnx"))
        if len(models) != 1:
            raise FileNotFoundError(f"{folder}: expected one Piper .onnx model, found {len(models)}")
        model = models[0]
        config_path = model.with_name(model.name + ".json")
        if not config_path.exists():
            raise FileNotFoundError(f"{config_path}: the Piper voice config is missing")
        with open(config_path, encoding="utf-8") as f:
            voice_config = PiperConfig.from_dict(json.load(f))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        onnxruntime.set_seed(seed)  # read when the session's random kernels are made, just below
        graph = str(model)
        if alignments:  # an extra output with each phoneme's samples (slamming.data.alignment.tts_words)
            import onnx
            from piper.patch_voice_with_alignment import add_alignment_output

            patched = onnx.load(graph)
            add_alignment_output(patched)
            graph = patched.SerializeToString()
        session = onnxruntime.InferenceSession(graph, sess_options=options, providers=["CPUExecutionProvider"])
        self._voice = _Voice(config=voice_config, session=session, espeak_data_dir=Path(ESPEAK_DATA_DIR),
                             download_dir=Path(folder))
        self._config = SynthesisConfig(
            speaker_id=settings.get("speaker"), length_scale=settings.get("length_scale"),
            noise_scale=settings.get("noise_scale"), noise_w_scale=settings.get("noise_w_scale"),
            normalize_audio=True, volume=settings["volume"],
        )
        self.sample_rate = int(voice_config.sample_rate)
        self.name = f"piper:{model.stem}"
        self.alignments = alignments

    def synthesise(self, text: str) -> np.ndarray:
        chunks = [chunk.audio_float_array for chunk in self._voice.synthesize(text, syn_config=self._config)]
        if not chunks:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(chunks).astype(np.float32)

    def synthesise_words(self, text: str) -> tuple[np.ndarray, list[tuple[str, float, float]] | None]:
        """The audio and its words timed by the voice itself (a voice made with ``alignments``); None for the
        words when Piper could not time a sentence, or its phoneme words do not pair with the text's."""
        from slamming.data.alignment import sounds, tts_words

        if not self.alignments:
            raise RuntimeError(f"{self.name}: the voice reports no phoneme timings; make it with alignments=True")
        chunks = list(self._voice.synthesize(text, syn_config=self._config, include_alignments=True))
        if not chunks:
            return np.zeros(0, dtype=np.float32), []
        audio = np.concatenate([chunk.audio_float_array for chunk in chunks]).astype(np.float32)
        if any(chunk.phoneme_alignments is None for chunk in chunks):
            return audio, None  # Piper could not match a sentence's phoneme ids to its phonemes: the audio stands
        sentences = [[(a.phoneme, int(a.num_samples)) for a in chunk.phoneme_alignments] for chunk in chunks]
        # each word alone, to pair the words espeak reads together or apart
        sizes = [sounds(p for sentence in self._voice.phonemize(word) for p in sentence) for word in text.split()]
        return audio, tts_words(text, sentences, self.sample_rate, sizes)


class KokoroVoice:
    """A Kokoro-82M voice (the ``kokoro`` package, an optional extra: ``pip install -e '.[kokoro]'``) from a
    snapshot of hexgrad/Kokoro-82M: config.json, kokoro-v1_0.pth and voices/<voice>.pt. The
    language comes from the voice's first letter (a: American, b: British English), as Kokoro names
    them. Kokoro samples no noise, so the seed only fixes torch's generator for safety.
    """

    def __init__(self, folder: Path, settings: dict, seed: int, threads: int = 1):
        try:
            import torch
            from kokoro import KModel, KPipeline
        except ImportError:
            raise ImportError("the kokoro TTS backend needs its package: pip install -c constraints.txt -e '.[kokoro]'") from None
        torch.set_num_threads(threads)
        torch.manual_seed(seed)
        voice = settings["voice"]
        # Local files only: KModel and KPipeline would otherwise fetch them from the hub at run time.
        model = KModel(repo_id=KOKORO_REPO, config=str(folder / "config.json"), model=str(folder / "kokoro-v1_0.pth")).eval()
        self._pipeline = KPipeline(lang_code=voice[0], repo_id=KOKORO_REPO, model=model)
        self._voice = str(folder / "voices" / f"{voice}.pt")
        self._speed = settings["speed"]
        self.sample_rate = 24000
        self.name = f"kokoro:{voice}"

    def synthesise(self, text: str) -> np.ndarray:
        # Kokoro cuts long texts into pieces of at most 510 phonemes; they are joined again here.
        pieces = [result.audio.numpy() for result in self._pipeline(text, voice=self._voice, speed=self._speed)
                  if result.audio is not None]
        return np.concatenate(pieces).astype(np.float32) if pieces else np.zeros(0, dtype=np.float32)


KOKORO_REPO = "hexgrad/Kokoro-82M"

BACKENDS = {"piper": PiperVoice, "kokoro": KokoroVoice}


def load_voice(settings: dict, folder: Path, seed: int, threads: int = 1, alignments: bool = False) -> TTSBackend:
    """The backend named by ``settings['backend']`` with the model in ``folder``; with ``alignments``, one that
    also times its words (Piper only: for Kokoro's speech, Whisper's word timestamps are the aligner)."""
    if alignments and settings["backend"] != "piper":
        raise ValueError(f"{settings['backend']} voices report no word timings here; align their speech with whisper")
    extra = {"alignments": True} if alignments else {}
    return BACKENDS[settings["backend"]](Path(folder), settings, seed=seed, threads=threads, **extra)
