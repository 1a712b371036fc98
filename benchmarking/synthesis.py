"""Benchmark: speech synthesis speed on the demo corpus, in seconds of audio per second of wall time.

Three ways over the same demo stories, in one run, so the ratios hold on a noisy machine:

* ``naive``: load the voice for every utterance (what a one-line TTS loop does);
* ``one process``: load the voice once and speak the utterances in turn (one synthesise shard);
* ``N processes``: the utterances split into N shards spoken at once (the workflow with --cores N).

Command line::

    python -m benchmarking.synthesis [--utterances 24] [--processes 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from slamming.workflow.config import fill_defaults, load_schema, load_yaml

REPO = Path(__file__).resolve().parent.parent


def _speak(texts: list[str], voice: dict, folder: str, reload_each: bool, seed: int = 0) -> float:
    """Seconds of audio made for ``texts``."""
    from slamming.data.tts import load_voice

    seconds, engine = 0.0, None
    for text in texts:
        if engine is None or reload_each:
            engine = load_voice(voice, Path(folder), seed=seed, threads=1)
        seconds += len(engine.synthesise(text)) / engine.sample_rate
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--utterances", type=int, default=24, help="demo stories to speak in each way")
    parser.add_argument("--processes", type=int, default=2, help="parallel shards for the last way")
    parser.add_argument("--voice", default="joe", help="a voice of config/config.yaml")
    args = parser.parse_args(argv)

    from slamming.data.demo_text import generate
    from slamming.data.sources import materialise

    config = fill_defaults(load_yaml(REPO / "config" / "config.yaml"), load_schema())  # as the workflow completes it
    voice = config["voices"][args.voice]
    settings = dict(config["demo_text"], stories={"train": args.utterances, "valid": 1})
    texts = [row["text"] for row in generate("stories", settings)[1]][: args.utterances]
    with tempfile.TemporaryDirectory() as root:
        materialise(voice["model"], config["sources"][voice["model"]], root)
        folder = str(Path(root) / voice["model"])
        _speak(texts[:1], voice, folder, reload_each=False)  # warm the disk cache and espeak

        results = []
        start = time.perf_counter()
        audio = _speak(texts, voice, folder, reload_each=True)
        results.append(("naive: voice loaded per utterance", audio, time.perf_counter() - start))

        start = time.perf_counter()
        audio = _speak(texts, voice, folder, reload_each=False)
        results.append(("one process (one shard)", audio, time.perf_counter() - start))

        shards = [texts[i::args.processes] for i in range(args.processes)]
        start = time.perf_counter()
        with ProcessPoolExecutor(args.processes) as pool:
            audio = sum(pool.map(_speak, shards, [voice] * len(shards), [folder] * len(shards), [False] * len(shards)))
        results.append((f"{args.processes} processes ({args.processes} shards)", audio, time.perf_counter() - start))

    baseline = results[0][1] / results[0][2]
    print(f"synthesis of {len(texts)} demo stories with voice {args.voice!r}")
    print(f"{'way':40s} {'audio s':>9s} {'wall s':>8s} {'audio s/s':>10s} {'vs naive':>9s}")
    for name, audio, wall in results:
        speed = audio / wall
        print(f"{name:40s} {audio:9.1f} {wall:8.2f} {speed:10.1f} {speed / baseline:8.2f}x")
    print(json.dumps({name: round(audio / wall, 2) for name, audio, wall in results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
