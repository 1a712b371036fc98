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

    def __init__(self, folder: Path, settings: dict, seed: int, threads: int = 1):
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
        session = onnxruntime.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
        self._voice = _Voice(config=voice_config, session=session, espeak_data_dir=Path(ESPEAK_DATA_DIR),
                             download_dir=Path(folder))
        self._config = SynthesisConfig(
            speaker_id=settings.get("speaker"), length_scale=settings.get("length_scale"),
            noise_scale=settings.get("noise_scale"), noise_w_scale=settings.get("noise_w_scale"),
            normalize_audio=True, volume=settings.get("volume", 1.0),
        )
        self.sample_rate = int(voice_config.sample_rate)
        self.name = f"piper:{model.stem}"

    def synthesise(self, text: str) -> np.ndarray:
        chunks = [chunk.audio_float_array for chunk in self._voice.synthesize(text, syn_config=self._config)]
        if not chunks:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(chunks).astype(np.float32)


BACKENDS = {"piper": PiperVoice}


def load_voice(settings: dict, folder: Path, seed: int, threads: int = 1) -> TTSBackend:
    """The backend named by ``settings['backend']`` with the model in ``folder``."""
    return BACKENDS[settings["backend"]](Path(folder), settings, seed=seed, threads=threads)
