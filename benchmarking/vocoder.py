"""Benchmark: unit vocoding batched against one sample at a time (as the reference code does), in one run.

The same unit sequences (lengths like 150-token generated continuations, or ``--units`` from a
table) through the same vocoder two ways; it prints seconds of audio per second of compute for
both, the ratio, and the largest difference between the two ways' audio.

Command line::

    python -m benchmarking.vocoder [--size demo|twist] [--sequences 32] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch

from slamming.evaluation.vocoder import UnitVocoder, vocode_table

ARCHITECTURES = {
    # the demo's (config/config.yaml) and one of the TWIST LJ vocoder's size (512 channels, 3 kernels)
    "demo": {"upsample_rates": [8, 8, 5, 2], "upsample_kernel_sizes": [16, 16, 11, 4], "upsample_initial_channel": 128,
             "resblock_kernel_sizes": [3, 7], "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5]], "embedding_dim": 64},
    "twist": {"upsample_rates": [5, 4, 4, 2, 2, 2], "upsample_kernel_sizes": [11, 8, 8, 4, 4, 4], "upsample_initial_channel": 512,
              "resblock_kernel_sizes": [3, 7, 11], "resblock_dilation_sizes": [[1, 3, 5]] * 3, "embedding_dim": 128},
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(ARCHITECTURES), default="demo")
    parser.add_argument("--sequences", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--mean-units", type=int, default=150, help="mean units per sequence")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    shape = ARCHITECTURES[args.size]
    config = {"resblock": "1", "num_embeddings": 500, "model_in_dim": shape["embedding_dim"], **shape,
              "dur_predictor_params": {"encoder_embed_dim": shape["embedding_dim"], "var_pred_hidden_dim": shape["embedding_dim"],
                                       "var_pred_kernel_size": 3, "var_pred_dropout": 0.5}}
    torch.manual_seed(0)
    vocoder = UnitVocoder(config).to(device).eval()
    rng = np.random.default_rng(0)
    units = [rng.integers(0, 500, size=max(1, int(n))) for n in rng.normal(args.mean_units, args.mean_units / 4, args.sequences)]
    vocoder.vocode(units[:2])  # warm-up (allocations, kernels)

    def timed(fn):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = fn()
        if device == "cuda":
            torch.cuda.synchronize()
        return out, time.perf_counter() - start

    one_by_one, single_seconds = timed(lambda: [vocoder.vocode([u])[0] for u in units])
    # The vocode stage's way: length-sorted batches of about batch_size sequences.
    rows = [{"units": u} for u in units]
    batched, batch_seconds = timed(lambda: vocode_table(vocoder, rows, batch_seconds=args.batch_size * args.mean_units / 25))
    audio = sum(len(a) for a in one_by_one) / 16000
    difference = max(float(np.abs(a - b).max()) for a, b in zip(one_by_one, batched))
    name = torch.cuda.get_device_name() if device == "cuda" else f"CPU, {args.threads} threads"
    print(f"vocoding {len(units)} sequences ({audio:.0f} s of audio), {args.size} vocoder, on {name}")
    print(f"one at a time: {audio / single_seconds:8.1f} s of audio per second")
    print(f"batches of {args.batch_size:3d}: {audio / batch_seconds:8.1f} s of audio per second")
    print(f"ratio batched/one-by-one: {single_seconds / batch_seconds:.2f}x; largest difference in the audio {difference:.1e}")
    print(json.dumps({"one_by_one": round(audio / single_seconds, 2), "batched": round(audio / batch_seconds, 2),
                      "max_difference": difference}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
