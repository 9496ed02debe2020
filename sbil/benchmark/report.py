"""Aggregating a sweep's results: IQM with stratified bootstrap CIs (rliable's method), the markdown
report and its plots.

Aggregation follows rliable (Agarwal et al., 2021): interquartile mean (IQM) of normalised scores
(R - R_random) / (R_expert - R_random) with a 95% percentile bootstrap CI, resampling seeds within
each task (stratified), computed with scipy's bootstrap: rliable 1.2 installs here but fails at
import (its ``arch`` dependency against pandas 3).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from sbil.benchmark.profiles import RunSpec
from sbil.benchmark.runs import late_return, normalized_score, read_curve
from sbil.io import PathLike, atomic_write, atomic_write_json

# ---- aggregation ------------------------------------------------------------------------------


def iqm(x: np.ndarray) -> float:
    """Interquartile mean: the mean of the middle 50% (rliable's definition, fractional ends weighted)."""
    x = np.sort(np.asarray(x, dtype=float).ravel())
    n = len(x)
    if n == 0:
        return float("nan")
    lo, hi = 0.25 * n, 0.75 * n
    idx = np.arange(n)
    weights = np.clip(np.minimum(idx + 1, hi) - np.maximum(idx, lo), 0, 1)
    return float(np.sum(weights * x) / np.sum(weights))


def stratified_bootstrap_ci(scores_by_task: dict[str, np.ndarray], stat: Any = iqm, n_resamples: int = 2000,
                            confidence: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """``stat`` of all scores pooled, and its 95% percentile bootstrap CI resampling runs within each
    task (scipy's bootstrap resamples each of several samples independently: rliable's stratified
    bootstrap)."""
    from scipy.stats import bootstrap

    groups = [np.asarray(v, dtype=float) for v in scores_by_task.values() if len(v)]
    if not groups:
        return float("nan"), float("nan"), float("nan")
    point = stat(np.concatenate(groups))
    varied = [g for g in groups if len(g) >= 2]
    fixed = np.concatenate([g for g in groups if len(g) < 2] or [np.zeros(0)])  # one run: resampling cannot change it
    if not varied:
        return point, point, point

    def pooled(*resampled: np.ndarray, axis: int = -1) -> np.ndarray:
        shape = resampled[0].shape[:-1]
        parts = [*resampled, np.broadcast_to(fixed, (*shape, len(fixed)))]
        return np.apply_along_axis(stat, -1, np.concatenate(parts, axis=-1))

    res = bootstrap(varied, pooled, n_resamples=n_resamples, confidence_level=confidence, method="percentile",
                    vectorized=True, rng=np.random.default_rng(seed))
    return point, float(res.confidence_interval.low), float(res.confidence_interval.high)


def summarize(results: Sequence[Optional[dict[str, Any]]]) -> tuple[list[dict], list[dict]]:
    """Per (task, algo) rows and per-algo aggregate rows from run results."""
    ok = [r for r in results if r and r.get("status") == "ok"]
    failed = [r for r in results if r and r.get("status") == "failed"]
    cells: dict[tuple[str, str], list[dict]] = {}
    for r in ok:
        cells.setdefault((r["task"], r["algo"]), []).append(r)
    # The oracle (rl: the same learner on the true reward) per task: the ceiling of this budget.
    oracle = {task: float(np.mean([r["late_return"] for r in runs])) for (task, algo), runs in cells.items() if algo == "rl"}
    rows = []
    for (task, algo), runs in sorted(cells.items()):
        returns = np.array([r["late_return"] for r in runs])
        scores = np.array([r["normalized_score"] for r in runs])
        random_return = runs[0]["random_return"]
        of_oracle = (returns.mean() - random_return) / (oracle[task] - random_return) if task in oracle and oracle[task] != random_return else None
        point, lo, hi = stratified_bootstrap_ci({task: scores})
        sps = [r["env_steps_per_second"] for r in runs if r.get("env_steps_per_second")]
        rows.append({
            "task": task, "algo": algo, "runs": len(runs),
            "failed": sum(1 for f in failed if f["task"] == task and f["algo"] == algo),
            "return_mean": float(returns.mean()), "return_std": float(returns.std()),
            "seed_returns": {int(r["seed"]): float(r["late_return"]) for r in sorted(runs, key=lambda r: r["seed"])},
            "score_mean": float(scores.mean()), "iqm": point, "ci_low": lo, "ci_high": hi,
            "oracle_return": oracle.get(task), "of_oracle": None if of_oracle is None else float(of_oracle),
            "wall_time": float(np.mean([r["wall_time"] for r in runs])),
            "env_steps": int(np.mean([r["env_steps"] for r in runs])),
            "env_steps_per_second": float(np.mean(sps)) if sps else None,
        })
    aggregate = []
    for algo in sorted({r["algo"] for r in ok}):
        by_task = {task: np.array([r["normalized_score"] for r in runs]) for (task, a), runs in cells.items() if a == algo}
        point, lo, hi = stratified_bootstrap_ci(by_task)
        of_oracle = [r["of_oracle"] for r in rows if r["algo"] == algo and r["of_oracle"] is not None]
        aggregate.append({"algo": algo, "tasks": len(by_task), "runs": sum(len(v) for v in by_task.values()), "iqm": point, "ci_low": lo, "ci_high": hi,
                          "of_oracle_mean": float(np.mean(of_oracle)) if of_oracle else None, "oracle_tasks": len(of_oracle)})
    return rows, aggregate


def _fmt(x: Optional[float], spec: str = ".2f") -> str:
    return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else format(x, spec)


def markdown_report(profile: str, rows: list[dict], aggregate: list[dict], failed: list[dict], command: str,
                    findings: str = "") -> str:
    """The report's markdown; ``findings`` (hand-written markdown, e.g. where a method trails and why)
    goes right after the aggregate table, so the numbers and what they mean are read together."""
    lines = [
        f"# Benchmark: profile `{profile}`",
        "",
        f"Produced by `{command}`. Normalised score = (R − R_random) / (R_expert − R_random) with the "
        "expert and random returns of `expert_data/manifest.json`; R = a run's late return: the mean return of its "
        "evaluations in the last 10% of its env steps (deterministic policy, a fresh evaluation env, n_eval_episodes each), "
        "as one evaluation swings by hundreds between policy updates. IQM and 95% CI: stratified percentile bootstrap over seeds (rliable's method). "
        "Of oracle = (R − R_random) / (R_oracle − R_random), with R_oracle the mean late return of `rl` (the same learner "
        "on the true reward, same budget) on that task: the ceiling this budget allows.",
        "",
        "## Aggregate over tasks (normalised score)",
        "",
        "| algorithm | tasks | runs | IQM | 95% CI | of oracle (mean over tasks) |",
        "|---|---|---|---|---|---|",
    ]
    for a in aggregate:
        of_oracle = f"{a['of_oracle_mean']:.2f} ({a['oracle_tasks']} task{'s' if a['oracle_tasks'] != 1 else ''})" if a.get("of_oracle_mean") is not None else "–"
        lines.append(f"| {a['algo']} | {a['tasks']} | {a['runs']} | {_fmt(a['iqm'])} | [{_fmt(a['ci_low'])}, {_fmt(a['ci_high'])}] | {of_oracle} |")
    if findings.strip():
        lines += ["", "## Findings", "", f"Written by hand in `{FINDINGS}` next to this report, not generated like the tables; "
                  "keep it in step with them when runs are added.",
                  "", findings.strip()]
    lines += [
        "",
        "## Per task",
        "",
        "| task | algorithm | runs | late return (mean ± std) | late return per seed (seed: return) | normalised (mean) | IQM [95% CI] | of oracle | env steps | wall time / run | env steps/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        runs = f"{r['runs']}" + (f" (+{r['failed']} failed)" if r["failed"] else "")
        per_seed = ", ".join(f"{seed}: {ret:.0f}" for seed, ret in r["seed_returns"].items())
        lines.append(
            f"| {r['task']} | {r['algo']} | {runs} | {r['return_mean']:.1f} ± {r['return_std']:.1f} | {per_seed} | {_fmt(r['score_mean'])} | "
            f"{_fmt(r['iqm'])} [{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}] | {_fmt(r.get('of_oracle'))} | {r['env_steps']} | {r['wall_time']:.0f} s | "
            f"{_fmt(r['env_steps_per_second'], '.0f')} |"
        )
    if failed:
        lines += ["", "## Failed runs", "", "| task | algorithm | seed | error |", "|---|---|---|---|"]
        lines += [f"| {f['task']} | {f['algo']} | {f['seed']} | {f.get('error', '').splitlines()[0] if f.get('error') else ''} |" for f in failed]
    lines += ["", "Learning curves: `curves_<task>.png`; summary: `summary.png`.", ""]
    return "\n".join(lines)


def _mean_ci(curves: list[np.ndarray], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    stack = np.stack(curves)
    mean = stack.mean(0)
    if len(curves) < 2:
        return mean, mean, mean
    boots = np.stack([stack[rng.integers(0, len(curves), len(curves))].mean(0) for _ in range(1000)])
    return mean, np.quantile(boots, 0.025, axis=0), np.quantile(boots, 0.975, axis=0)


def plot_report(specs: Sequence[RunSpec], results: Sequence[Optional[dict]], aggregate: list[dict], out_dir: Path) -> list[Path]:
    """Learning curves per task (true return vs env steps, mean and 95% CI band per algorithm)
    and a summary plot of the aggregate IQM with its CI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    written = []
    by_task: dict[str, dict[str, list[list[dict]]]] = {}
    refs: dict[str, tuple[float, float]] = {}
    for spec, res in zip(specs, results):
        if not res or res.get("status") != "ok":
            continue
        curve = read_curve(Path(spec.run_dir) / "evals.csv")
        by_task.setdefault(spec.recipe.task, {}).setdefault(spec.algo, []).append(curve)
        refs[spec.recipe.task] = (spec.expert_return, spec.random_return)
    for task, algos in sorted(by_task.items()):
        fig, ax = plt.subplots(figsize=(6, 4))
        xmax = max(row["timesteps"] for curves in algos.values() for c in curves for row in c) or 1
        for algo, curves in sorted(algos.items()):
            if all(len(c) == 1 and c[0]["timesteps"] == 0 for c in curves):  # BC: no env steps
                mean, lo, hi = _mean_ci([np.array([c[0]["mean_return"]] * 2) for c in curves], rng)
                line = ax.plot([0, xmax], mean, "--", label=algo)[0]
                ax.fill_between([0, xmax], lo, hi, color=line.get_color(), alpha=0.15)
                continue
            n = min(len(c) for c in curves)  # runs share the eval schedule; a resumed run may hold one extra point
            xs = np.array([row["timesteps"] for row in curves[0][:n]])
            mean, lo, hi = _mean_ci([np.array([row["mean_return"] for row in c[:n]]) for c in curves], rng)
            line = ax.plot(xs, mean, marker="o", ms=3, label=f"{algo} (n={len(curves)})")[0]
            ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.2)
        expert, random_ = refs[task]
        ax.axhline(expert, color="k", lw=0.8, ls=":", label="expert")
        ax.axhline(random_, color="grey", lw=0.8, ls=":", label="random")
        ax.set(title=task, xlabel="env steps", ylabel="true return (deterministic policy)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = out_dir / f"curves_{task}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    if aggregate:
        fig, ax = plt.subplots(figsize=(5, 0.5 + 0.45 * len(aggregate)))
        ys = np.arange(len(aggregate))
        iqms = np.array([a["iqm"] for a in aggregate])
        err = np.array([[a["iqm"] - a["ci_low"] for a in aggregate], [a["ci_high"] - a["iqm"] for a in aggregate]])
        ax.errorbar(iqms, ys, xerr=err, fmt="o", capsize=4)
        ax.set_yticks(ys, [a["algo"] for a in aggregate])
        ax.axvline(1.0, color="k", lw=0.8, ls=":")
        ax.axvline(0.0, color="grey", lw=0.8, ls=":")
        ax.set(xlabel="IQM normalised score (95% CI)", title="all tasks")
        fig.tight_layout()
        path = out_dir / "summary.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def _with_late_return(spec: RunSpec, result: Optional[dict]) -> Optional[dict]:
    """A result written before runs recorded their late return, completed from its curve (and its
    normalised score made from it)."""
    if not result or result.get("status") != "ok" or "late_return" in result:
        return result
    curve_file = Path(spec.run_dir) / "evals.csv"
    if not curve_file.is_file():  # a result copied without its curve: its last evaluation is all there is
        return {**result, "late_return": result["final_return"], "late_evals": 1}
    late, n_late = late_return(read_curve(curve_file), result["env_steps"])
    return {**result, "late_return": late, "late_evals": n_late,
            "normalized_score": normalized_score(late, result["expert_return"], result["random_return"])}


#: hand-written findings kept in a profile's output folder and copied into its report
FINDINGS = "findings.md"


def write_report(profile: str, specs: Sequence[RunSpec], results: Sequence[Optional[dict]], out_dir: PathLike, command: str) -> Path:
    """``report.md``, ``summary.json`` and the PNGs in ``out_dir``; returns the report path. A
    ``findings.md`` in ``out_dir`` (what the numbers mean, written by hand) is copied into the report."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = [_with_late_return(spec, r) for spec, r in zip(specs, results)]
    rows, aggregate = summarize(results)
    failed = [r for r in results if r and r.get("status") == "failed"]
    atomic_write_json(out_dir / "summary.json", {"profile": profile, "per_task": rows, "aggregate": aggregate,
                                                  "failed": [{k: f.get(k) for k in ("task", "algo", "seed", "error")} for f in failed]})
    plot_report(specs, results, aggregate, out_dir)
    path = out_dir / "report.md"
    findings = out_dir / FINDINGS
    atomic_write(path, markdown_report(profile, rows, aggregate, failed, command, findings.read_text() if findings.is_file() else ""))
    return path
