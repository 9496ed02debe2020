#!/usr/bin/env python
"""Benchmark SMILING against imitation's GAIL / AIRL / BC: algorithms x tasks x seeds, one command.

    python scripts/benchmark.py profile=quick                  # ~30 min on 2 cores -> results/benchmark/quick
    python scripts/benchmark.py profile=standard workers=8     # every shipped MuJoCo task, 5 seeds, 1M steps
    python scripts/benchmark.py profile=standard backend=ray ray_address=auto   # on a Ray cluster
    python scripts/benchmark.py profile=quick algos=smiling,gail seeds=0 tasks=pendulum
    python scripts/benchmark.py profile=my_profiles.yaml:tiny  # a profile file of your own
    python scripts/benchmark.py profile=quick report_only=true # rebuild the report from finished runs

Run it again after any interruption: finished runs are skipped, failed ones are retried.
Profiles: sbil/configs/benchmark.yaml. Output: <out>/report.md, summary.json, curves_<task>.png,
summary.png, and runs/<task>/<algo>/seed<k>/{result.json,evals.csv}.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Optional, Sequence

from sbil.benchmark import load_profile, plan_runs, read_result, run_sweep, write_report
from sbil.cli import run_main
from sbil.errors import SbilError

KEYS = {
    "profile": "quick",
    "out": None,
    "workers": "2",
    "backend": "local",
    "ray_address": None,
    "algos": None,
    "tasks": None,
    "seeds": None,
    "report_only": "false",
    "progress_bar": "true",
}


def parse_args(argv: Sequence[str]) -> dict[str, Optional[str]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("settings", nargs="*", help=f"key=value; keys: {', '.join(KEYS)}")
    args = parser.parse_args(argv)
    values = dict(KEYS)
    for item in args.settings:
        key, sep, value = item.partition("=")
        if not sep:
            raise SbilError(f"Setting {item!r} is not key=value (e.g. profile=quick).")
        if key not in KEYS:
            raise SbilError(f"Unknown setting {key!r}; valid: {', '.join(KEYS)}.")
        values[key] = value
    return values


def _list(value: Optional[str]) -> Optional[list[str]]:
    return [v for v in value.split(",") if v] if value else None


def _bool(key: str, value: Optional[str]) -> bool:
    if value not in ("true", "false"):
        raise SbilError(f"{key} must be true or false, got {value!r}.")
    return value == "true"


def main(argv: Sequence[str]) -> int:
    s = parse_args(argv)
    profile = load_profile(s["profile"])
    try:
        workers = int(s["workers"])
        seeds = [int(x) for x in _list(s["seeds"])] if s["seeds"] else None
    except ValueError as e:
        raise SbilError(f"workers and seeds must be integers: {e}") from None
    out = Path(s["out"] or Path("results/benchmark") / profile.name)
    specs = plan_runs(profile, out, algos=_list(s["algos"]), tasks=_list(s["tasks"]), seeds=seeds)
    command = "python scripts/benchmark.py " + " ".join(shlex.quote(a) for a in argv)
    if _bool("report_only", s["report_only"]):
        results = [read_result(spec) for spec in specs]
    else:
        print(f"benchmark {profile.name}: {len(specs)} runs ({len({x.algo for x in specs})} algorithms x "
              f"{len({x.recipe.task for x in specs})} tasks x {len({x.seed for x in specs})} seeds) -> {out}")
        results = run_sweep(specs, workers=workers, backend=s["backend"], ray_address=s["ray_address"],
                            progress_bar=_bool("progress_bar", s["progress_bar"]))
    report = write_report(profile.name, specs, results, out, command.strip())
    n_failed = sum(1 for r in results if r and r.get("status") == "failed")
    n_missing = sum(1 for r in results if not r)
    print(f"report: {report}" + (f" ({n_failed} failed runs listed in it)" if n_failed else "")
          + (f" ({n_missing} runs not run yet)" if n_missing else ""))
    return 1 if n_failed else 0


if __name__ == "__main__":
    run_main(main, sys.argv[1:])
