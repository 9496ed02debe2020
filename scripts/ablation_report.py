#!/usr/bin/env python
"""Collect the SMILING ablations (``results/ablation/<variant>/``, one benchmark sweep each) into one
table and one plot of learning curves.

    python scripts/ablation_report.py                  # -> results/ablation/report.md, curves_<task>.png

A variant is a profile of ``results/ablation/profiles.yaml``; its comment there says what it changes.
Runs still going (or stopped early) are shown with the last evaluation they reached. The learner-recipe
probes (``results/ablation/recipe/oracle_*.json``: PPO on the true reward) join the table as ``oracle`` rows.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Sequence

from sbil.benchmark.runs import late_return
from sbil.cli import run_main
from sbil.data import read_manifest
from sbil.io import atomic_write


MILESTONES = (100_000, 250_000, 300_000, 500_000, 1_000_000)


def variant_notes(profiles: Path) -> dict[str, str]:
    """Each profile's trailing comment in the profiles file (what the variant changes)."""
    notes = {}
    for line in profiles.read_text().splitlines():
        m = re.match(r"^  (\w+):\s*#\s*(.*)$", line)
        if m:
            notes[m.group(1)] = m.group(2).strip()
    return notes


def read_curve(path: Path) -> list[dict[str, float]]:
    lines = path.read_text().strip().splitlines()
    keys = lines[0].split(",")
    return [dict(zip(keys, map(float, line.split(",")))) for line in lines[1:]]


def at_milestone(curve: list[dict[str, float]], step: int, tolerance: int = 60_000) -> float | None:
    """The return of the last evaluation at or before ``step`` (within ``tolerance`` env steps)."""
    before = [r for r in curve if step - tolerance < r["timesteps"] <= step]
    return before[-1]["mean_return"] if before else None


def oracle_probes(recipe_dir: Path) -> dict[tuple[str, str, str, str], list[dict[str, float]]]:
    """The recipe probes' curves, keyed like the variants' runs: (variant, task, algo, seed)."""
    out = {}
    for path in sorted(recipe_dir.glob("oracle_*.json")):
        probe = json.loads(path.read_text())
        label = {"obs": "oracle, VecNormalize(obs)", "obs_rew": "oracle, VecNormalize(obs, reward)", "none": "oracle, raw obs"}.get(probe["variant"], "oracle")
        out[(label, probe["task"], "rl", f"seed{probe['seed']}")] = probe["curve"]
    return out


def row(key: tuple[str, str, str, str], note: str, curve: list[dict[str, float]], status: str) -> dict:
    variant, task, algo, seed = key
    entry = read_manifest()["tasks"][task]
    expert, random_ = entry["expert_return_mean"], entry["random_return_mean"]
    last = curve[-1]
    late, n_late = late_return(curve, int(last["timesteps"])) if status == "ok" else (None, 0)
    return {
        "variant": variant, "task": task, "algo": algo, "seed": seed, "note": note,
        "steps": int(last["timesteps"]), "final": last["mean_return"],
        "at": {step: at_milestone(curve, step) for step in MILESTONES},
        "normalised": (last["mean_return"] - random_) / (expert - random_), "status": status,
        "late": late, "late_evals": n_late,
    }


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path("results/ablation"))
    args = parser.parse_args(argv)
    notes = variant_notes(args.dir / "profiles.yaml")
    manifest = read_manifest()["tasks"]
    rows, curves = [], {}
    for variant in notes:
        for csv in sorted((args.dir / variant / "runs").glob("*/*/seed*/smile/evals.csv")) + sorted((args.dir / variant / "runs").glob("*/*/seed*/evals.csv")):
            run_dir = csv.parent.parent if csv.parent.name == "smile" else csv.parent
            task, algo, seed = run_dir.parts[-3], run_dir.parts[-2], run_dir.parts[-1]
            key = (variant, task, algo, seed)
            if key in curves or not csv.read_text().strip().count("\n"):
                continue
            curve = read_curve(csv)
            result = json.loads((run_dir / "result.json").read_text()) if (run_dir / "result.json").is_file() else {}
            status = "stopped early" if "stopped by" in result.get("error", "") else result.get("status", "running")
            curves[key] = curve
            rows.append(row(key, notes[variant], curve, status))
    for key, curve in oracle_probes(args.dir / "recipe").items():
        curves[key] = curve
        rows.append(row(key, "PPO on the true reward (results/ablation/recipe/oracle_vecnorm.py)", curve, "ok"))
    lines = ["# SMILING ablations", "",
             "Each variant is one profile of `results/ablation/profiles.yaml`, run with "
             "`python scripts/benchmark.py profile=results/ablation/profiles.yaml:<variant> out=results/ablation/<variant> workers=1`. "
             "Return = deterministic policy on a fresh evaluation env (5 episodes), the last evaluation the run reached; "
             "late = the benchmark's score, the mean of the evaluations in the last 10% of the env steps the run reached "
             "(with their count; – for a run that has not finished).", "",
             "| variant | what it changes | task | algorithm | seed | " + " | ".join(f"return at {m // 1000}k" for m in MILESTONES)
             + " | last eval (env steps) | normalised (last) | late (evals) | status |",
             "|---|---|---|---|---|" + "---|" * len(MILESTONES) + "---|---|---|---|"]
    for r in rows:
        late = "–" if r["late"] is None else f"{r['late']:.0f} ({r['late_evals']})"
        at = " | ".join("–" if r["at"][m] is None else f"{r['at'][m]:.0f}" for m in MILESTONES)
        lines.append(f"| {r['variant']} | {r['note']} | {r['task']} | {r['algo']} | {r['seed']} | {at} | {r['final']:.0f} ({r['steps']:,}) | "
                     f"{r['normalised']:.2f} | {late} | {r['status']} |")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for task in sorted({k[1] for k in curves}):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for (variant, t, algo, seed), curve in sorted(curves.items()):
            if t != task:
                continue
            ax.plot([r["timesteps"] for r in curve], [r["mean_return"] for r in curve], marker="o", ms=3, label=f"{variant} ({algo}, {seed})")
        ax.axhline(manifest[task]["expert_return_mean"], color="k", lw=0.8, ls=":", label="expert")
        ax.set(title=f"SMILING ablations: {task}", xlabel="env steps", ylabel="true return (deterministic policy)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(args.dir / f"curves_{task}.png", dpi=110)
        plt.close(fig)
        lines += ["", f"![{task}](curves_{task}.png)"]
    atomic_write(args.dir / "report.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    run_main(main)
