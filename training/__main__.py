"""python -m training: rebuild the Thai plate reader from ../shared/thai-plates."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge_agent.vision.thai_model import MODEL_PATH

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m training",
        description="Train the Thai plate reader on real plates, print held-out figures, write the ONNX model.",
    )
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "thai-plates",
                   help="the thai-plates folder (default: ../shared/thai-plates)")
    p.add_argument("--out", type=Path, default=MODEL_PATH, help=f"model file to write (default: {MODEL_PATH})")
    p.add_argument("--work", type=Path, default=ROOT / "var" / "train", help="checkpoints (default: var/train)")
    p.add_argument("--steps", type=int, default=3000, help="optimiser steps (default 3000, ~40 min on 2 cores)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--limit", type=int, default=0, help="use only this many crops (a smoke run)")
    p.add_argument("--eval-every", type=int, default=300)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rendered", type=int, default=2000,
                   help="rendered plates mixed in, a quarter of them Latin negatives (default 2000; 0: none)")
    p.add_argument("--negatives", type=Path, nargs="*",
                   default=[ROOT.parent / "shared" / "plates", ROOT.parent / "shared" / "plates-dev"],
                   help="folders of real Latin photos (with bboxes.csv) whose plates must not read as Thai")
    p.add_argument("--init", type=Path, help="start from the weights of an earlier run's checkpoint (.pt)")
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate of the one-cycle schedule (default 2e-3)")
    a = p.parse_args(argv)
    if a.steps < 1 or a.batch < 1 or a.limit < 0:
        p.error("--steps and --batch must be positive, --limit not negative")
    from .train import Options, train

    figures = train(Options(a.data, a.out, a.work, a.steps, a.batch, lr=a.lr, seed=a.seed, limit=a.limit,
                            eval_every=a.eval_every, threads=a.threads, rendered=a.rendered,
                            negatives=tuple(a.negatives), init=a.init), log=lambda m: print(m, flush=True))
    print(f"\nwrote {a.out}\n")
    print("| held-out view | plates | registration | registration + province | province |")
    print("|---|---:|---:|---:|---:|")
    for f in figures:
        print(f"| {f.view} | {f.plates} | {f.registration:.1f} % | {f.with_province:.1f} % | {f.province:.1f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
