"""Rule build_demo_encoder: the demo's random HuBERT with the 25 Hz geometry of mhubert-base-25hz, saved
like the real one (a save_pretrained folder); it tests the HuBERT loading path.

Command line::

    python -m workflow_scripts.build_demo_encoder --settings '{"seed": 0, ...}' --out-dir results/models/demo_encoder
"""

from __future__ import annotations

import argparse
import json

from slamming.encoder import build_demo_encoder
from slamming.logs import run_stage


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", required=True, help="the demo_encoder config section as JSON")
    parser.add_argument("--out-dir", required=True)
    args = parser.parse_args(argv)
    build_demo_encoder(json.loads(args.settings), args.out_dir)
    return 0


if __name__ == "__main__":
    run_stage(main)
