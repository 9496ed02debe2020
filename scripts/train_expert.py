#!/usr/bin/env python
"""Train an SB3 expert for one task from sbil/configs/experts.yaml, resumable.

    python scripts/train_expert.py hopper                 # runs/experts/hopper/seed0
    python scripts/train_expert.py hopper --resume        # continue after any interruption
    nohup python scripts/train_expert.py hopper --resume --threads 1 --no-progress > hopper.log 2>&1 &
    python scripts/train_expert.py walker2d --init-from expert_data/walker2d/expert.zip   # continue a shipped best-so-far
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Sequence

from sbil.errors import SbilError
from sbil.cli import run_main, set_threads
from sbil.experts.recipes import get_expert_config, load_expert_configs
from sbil.experts.training import train_expert


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", help=f"one of: {', '.join(load_expert_configs())}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="run folder (default runs/experts/<task>/seed<seed>)")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    parser.add_argument("--init-from", type=Path, default=None,
                        help="start a new run from this policy file (e.g. a shipped expert_data/<task>/expert.zip), "
                             "keeping its step count; the replay buffer refills before training resumes")
    parser.add_argument("--refill", type=int, default=None,
                        help="with --init-from: replay-buffer refill steps of the loaded policy (default: the recipe's learning_starts)")
    parser.add_argument("--steps", type=int, default=None, help="total env steps (overrides the recipe)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    cfg = get_expert_config(args.task)
    out = args.out or Path("runs/experts") / args.task / f"seed{args.seed}"
    if args.init_from and args.resume:
        raise SbilError("--init-from starts a new run; --resume continues one. Pass one of them.")
    if args.refill is not None and not args.init_from:
        raise SbilError("--refill only applies with --init-from (a new run from a policy file).")
    result = train_expert(cfg, out, args.seed, args.resume, args.steps, progress_bar=not args.no_progress, device=args.device,
                          init_from=args.init_from, refill_steps=args.refill)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    run_main(main)
