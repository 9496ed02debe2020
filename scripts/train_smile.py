#!/usr/bin/env python
"""Train a policy with a SMILING reward learned from expert demos, with stock SB3 algorithms.

    python scripts/train_smile.py                                  # shipped default (Pendulum, SAC)
    python scripts/train_smile.py --config hopper                  # sbil/configs/train/hopper.yaml
    python scripts/train_smile.py env.id=Hopper-v5 demos.source=hopper algo.name=sac total_timesteps=200000
    python scripts/train_smile.py --resume out_dir=runs/smile/Hopper-v5/seed0   # continue after a stop
    python scripts/train_smile.py --help-config                    # every key with its default

The run itself is :func:`sbil.train.train`; this file is its command line.
Exit status: 0 done, 2 bad input (one-paragraph message; --debug for a traceback), 130/143 stopped
by SIGINT/SIGTERM after saving a checkpoint.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from omegaconf import OmegaConf

from sbil.cli import run_main
from sbil.config import TrainConfig, load_config
from sbil.errors import SbilError
from sbil.train import default_out_dir, train


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="default", help="shipped config name or a .yaml path")
    parser.add_argument("--resume", action="store_true", help="continue the run in out_dir from its latest checkpoint")
    parser.add_argument("--help-config", action="store_true", help="print every config key with its default and exit")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides (omegaconf dotlist)")
    return parser.parse_intermixed_args(argv)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    if args.help_config:
        print(OmegaConf.to_yaml(OmegaConf.structured(TrainConfig)))
        return 0
    # Shipped YAML <- CLI overrides; on --resume, the run's own saved config <- CLI overrides.
    cfg = load_config(args.config, args.overrides)
    if args.resume:
        out_dir = Path(cfg.out_dir) if cfg.out_dir else default_out_dir(cfg)
        saved = out_dir / "config.yaml"
        if not saved.is_file():
            raise SbilError(f"--resume: {out_dir} holds no run (no config.yaml). Start it without --resume, or point out_dir=... at the run.")
        cfg = load_config(None, args.overrides, base=OmegaConf.load(saved))
    summary = train(cfg, resume=args.resume)
    if summary["interrupted"]:
        return 130 if summary["interrupted"] == "SIGINT" else 143
    return 0


if __name__ == "__main__":
    run_main(main)
