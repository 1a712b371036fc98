"""Benchmark: unit extraction and packing, this workflow's way against the reference code's way.

On the same audio, in one run:

* extraction throughput (seconds of audio per second of compute) of this stage - per-file conv front
  end, masked length-sorted batches, torch nearest-centroid - and of the naive way - zero-padded
  batches in file order, no mask, scikit-learn ``predict`` per batch - with the share of frames
  whose unit the naive way gets wrong (against each file encoded alone);
* the fill ratio of training contexts: packing end to end against concatenating each batch of
  chunks as the reference code does;
* extraction in float32 (the reference's, and the default) against bfloat16 autocast (a tokeniser
  setting): the speed of each and the share of frames whose unit flips under bfloat16.

The audio is demo stories spoken by Piper; the encoder is a random HuBERT of the chosen size with the
25 Hz geometry (``base`` has mhubert-base-25hz's size).

Command line::

    python -m benchmarking.units [--stories 24] [--size demo|base] [--batch-seconds 60] [--device auto]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from slamming.workflow.config import fill_defaults, load_schema, load_yaml

REPO = Path(__file__).resolve().parent.parent
SIZES = {
    "demo": {"seed": 0, "hidden_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4,  # small: a CPU minute
             "intermediate_size": 96, "conv_dim": 32},
    "base": {"seed": 0, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
             "intermediate_size": 3072, "conv_dim": 512},
}


def speak_stories(n: int, config: dict, folder: Path) -> list[torch.Tensor]:
    from slamming.data.audio import prepare_audio
    from slamming.data.demo_text import generate
    from slamming.data.sources import materialise
    from slamming.data.tts import load_voice

    voice = config["voices"]["joe"]
    materialise(voice["model"], config["sources"][voice["model"]], folder)
    engine = load_voice(voice, folder / voice["model"], seed=0)
    texts = [r["text"] for r in generate("stories", dict(config["demo_text"], stories={"train": n, "valid": 1}))[1]][:n]
    # Cut stories at random points so lengths vary as a real corpus's do.
    rng = np.random.default_rng(0)
    waves = []
    for text in texts:
        samples = prepare_audio(engine.synthesise(text), engine.sample_rate, 16000)
        waves.append(torch.from_numpy(samples[: int(len(samples) * rng.uniform(0.2, 1.0))]))
    return waves


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stories", type=int, default=24)
    parser.add_argument("--size", choices=sorted(SIZES), default="demo")
    parser.add_argument("--batch-seconds", type=float, default=60.0)
    parser.add_argument("--naive-batch-size", type=int, default=8, help="files per padded batch, the naive way")
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--context", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="auto", help="auto (a GPU when there is one), cpu, cuda")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from sklearn.cluster import KMeans
    from transformers.utils import logging as hf_logging

    from slamming.units.encoder import HubertEncoder, build_random_hubert
    from slamming.units.extraction import length_sorted_batches
    from slamming.units.kmeans import NearestCentroid
    from slamming.units.packing import Documents, mix_order, pack, reference_fill_ratio
    from slamming.units.vocabulary import deduplicate

    hf_logging.disable_progress_bar()
    config = fill_defaults(load_yaml(REPO / "config" / "config.yaml"), load_schema())  # as the workflow completes it
    with tempfile.TemporaryDirectory() as tmp:
        waves = speak_stories(args.stories, config, Path(tmp))
        build_random_hubert(SIZES[args.size], Path(tmp) / "encoder")
        device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
        layer = 2 if args.size == "demo" else 11
        encoder = HubertEncoder(Path(tmp) / "encoder", layer, device=device)
        seconds = sum(len(w) for w in waves) / 16000
        alone = [encoder.encode([w])[0] for w in waves]  # the truth: each file by itself
        kmeans = KMeans(n_clusters=args.k, random_state=0, n_init=1).fit(torch.cat(alone).numpy())
        truth = [kmeans.predict(f.numpy()) for f in alone]

        # This stage: length-sorted masked batches, torch assignment; in float32, then in bfloat16.
        assign = NearestCentroid(kmeans.cluster_centers_, device=device)

        def extract(stage_encoder):
            labels_of = [None] * len(waves)
            started = time.perf_counter()
            for batch in length_sorted_batches([len(w) / 16000 for w in waves], args.batch_seconds):
                features = stage_encoder.encode([waves[i] for i in batch])
                labels = np.split(assign(torch.cat(features)).numpy(), np.cumsum([len(f) for f in features])[:-1])
                for i, frame_labels in zip(batch, labels):
                    labels_of[i] = frame_labels
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            return labels_of, time.perf_counter() - started

        ours, ours_time = extract(encoder)
        bf16_encoder = HubertEncoder(Path(tmp) / "encoder", layer, device=device, dtype=torch.bfloat16)
        bf16, bf16_time = extract(bf16_encoder)
        ours, ours_time = extract(encoder)  # again, alternated: the first pass paid the warm-up

        # The naive way: padded batches in file order, no mask, predict per batch.
        start = time.perf_counter()
        naive = []
        for first in range(0, len(waves), args.naive_batch_size):
            features = encoder.encode_padded_naively(waves[first:first + args.naive_batch_size])
            naive += [kmeans.predict(f.numpy()) for f in features]
        naive_time = time.perf_counter() - start

    def wrong_against(labels, reference):
        n = sum(min(len(a), len(b)) for a, b in zip(labels, reference))
        return sum(int((a[: len(b)] != b[: len(a)]).sum()) for a, b in zip(labels, reference)) / n

    def wrong(labels):
        return wrong_against(labels, truth)

    print(f"unit extraction on {len(waves)} files, {seconds:.0f} s of audio, {args.size} encoder, on {device}"
          f"{'' if device.startswith('cuda') else f' with {args.threads} threads'}")
    print(f"{'way':46s} {'audio s/s':>10s} {'frames wrong':>13s}")
    print(f"{'this stage (masked, length-sorted, torch)':46s} {seconds / ours_time:10.1f} {wrong(ours):13.2%}")
    print(f"{'naive (padded, no mask, sklearn per batch)':46s} {seconds / naive_time:10.1f} {wrong(naive):13.2%}")
    print(f"speed ratio this/naive: {naive_time / ours_time:.2f}x")
    print(f"{'this stage in bfloat16 (against its float32)':46s} {seconds / bf16_time:10.1f} {wrong_against(bf16, ours):13.2%}")

    # Packing on the units of these files (BOS + units + EOS per file), at the recipe's context.
    pieces = [np.concatenate([[1], deduplicate(t)[0].astype(np.int64) + 2, [1]]) for t in truth]
    documents = Documents(np.concatenate(pieces).astype(np.uint16), np.concatenate([[0], np.cumsum([len(p) for p in pieces])]))
    windows = -(-int(documents.offsets[-1]) // args.context)
    stats = pack([documents], mix_order([len(documents)], [1.0], 0), args.context,
                 np.zeros((windows, args.context), np.uint16), np.zeros((windows, args.context), np.uint16),
                 np.zeros(windows, bool), 0)
    reference = reference_fill_ratio(documents.lengths, args.context, batch_size=8)
    print(f"fill ratio at context {args.context}: packed {stats['fill_ratio']:.3f}, reference batch concatenation "
          f"{reference:.3f} ({stats['fill_ratio'] / reference:.2f}x the tokens per context)")
    print(json.dumps({"ours_audio_s_per_s": round(seconds / ours_time, 2), "naive_audio_s_per_s": round(seconds / naive_time, 2),
                      "ours_frames_wrong": wrong(ours), "naive_frames_wrong": wrong(naive),
                      "bf16_audio_s_per_s": round(seconds / bf16_time, 2), "bf16_frames_flipped": wrong_against(bf16, ours),
                      "fill_packed": round(stats["fill_ratio"], 4), "fill_reference": round(reference, 4)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
