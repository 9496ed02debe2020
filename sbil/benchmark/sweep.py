"""Running a sweep: every planned run without an ``ok`` result, in local worker processes (one CPU
thread each) or on a Ray cluster. Results always come back to the driver, which writes them, so
workers need no shared filesystem; a run that raised is recorded as ``failed`` and retried the next
time.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Optional, Sequence

from sbil.benchmark.profiles import BACKENDS, RunSpec
from sbil.benchmark.runs import read_result, run_one, write_run
from sbil.errors import SbilError

# ---- the sweep --------------------------------------------------------------------------------


def run_sweep(specs: Sequence[RunSpec], workers: int = 2, backend: str = "local", ray_address: Optional[str] = None,
              progress_bar: bool = True) -> list[dict[str, Any]]:
    """Run every spec without an ``ok`` result; return all results (finished ones included).

    :param workers: parallel local processes (1: run in this process, one after another).
    :param backend: ``local`` or ``ray`` (``ray.init(address=ray_address)``; one CPU per run).
    """
    from tqdm.auto import tqdm

    if backend not in BACKENDS:
        raise SbilError(f"Unknown backend {backend!r}; valid: {', '.join(BACKENDS)}.")
    if workers < 1:
        raise SbilError(f"workers must be >= 1, got {workers}.")
    todo = [s for s in specs if (read_result(s) or {}).get("status") != "ok"]
    skipped = len(specs) - len(todo)
    if skipped:
        print(f"{skipped} of {len(specs)} runs already finished: skipped.")
    bar = tqdm(total=len(todo), desc="benchmark runs", disable=not progress_bar or not todo)

    def record(spec: RunSpec, outcome: dict[str, Any]) -> None:
        write_run(spec, outcome)
        res = outcome["result"]
        bar.update()
        if res["status"] == "ok":
            bar.write(f"{spec.key}: late return {res['late_return']:.1f} (last {res['late_evals']} evaluations), normalised {res['normalized_score']:.2f} ({res['wall_time']:.0f} s)")
        else:
            bar.write(f"{spec.key}: FAILED {res['error'].splitlines()[0] if res['error'] else ''}")

    if backend == "ray":
        _sweep_ray(todo, ray_address, record)
    elif workers == 1:
        for spec in todo:
            outcome = run_one(spec)
            record(spec, outcome)
            if outcome["result"].get("interrupted"):
                # A signal meant the sweep, not only the run it reached.
                bar.write(f"stopped by {outcome['result']['interrupted']}: the sweep stops here; the same command continues it.")
                break
    else:
        import multiprocessing as mp

        # spawn: a fresh interpreter per worker, no torch/OpenMP state inherited through fork.
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
            futures = {pool.submit(run_one, spec): spec for spec in todo}
            for future in as_completed(futures):
                if future.cancelled():  # after a signal: never started, nothing to record
                    continue
                spec = futures[future]
                try:
                    outcome = future.result()
                except Exception as e:  # the worker process itself died (e.g. out of memory)
                    outcome = {"result": {"task": spec.recipe.task, "algo": spec.algo, "seed": spec.seed, "status": "failed",
                                          "error": f"worker died: {type(e).__name__}: {e}"}, "curve": []}
                record(spec, outcome)
                if outcome["result"].get("interrupted"):
                    # The signal reached every worker (one process group): start no queued run.
                    for pending in futures:
                        pending.cancel()
    bar.close()
    return [read_result(s) for s in specs]


def _sweep_ray(todo: Sequence[RunSpec], address: Optional[str], record: Any) -> None:
    try:
        import ray
    except ImportError:
        raise SbilError("backend=ray needs Ray: pip install -e .[ray]  (or pip install 'ray[default]')") from None
    ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    remote = ray.remote(num_cpus=1)(run_one)
    pending = {remote.remote(spec): spec for spec in todo}
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        spec = pending.pop(done[0])
        try:
            outcome = ray.get(done[0])
        except Exception as e:  # noqa: BLE001 - a lost node or task is a failed run
            outcome = {"result": {"task": spec.recipe.task, "algo": spec.algo, "seed": spec.seed, "status": "failed",
                                  "error": f"ray task failed: {type(e).__name__}: {e}"}, "curve": []}
        record(spec, outcome)
        if outcome["result"].get("interrupted"):
            # A signal meant the sweep: queued runs never start, running ones stop (they resume from
            # their latest checkpoint next time, like every unfinished run).
            for ref in pending:
                ray.cancel(ref)
            return


