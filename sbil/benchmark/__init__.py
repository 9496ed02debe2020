"""Benchmark sweeps: SMILING against imitation's GAIL / AIRL / BC, with honest, aggregated numbers.

A sweep is algorithms x tasks x seeds from a named profile (``sbil/configs/benchmark.yaml``) or a
profile YAML of your own. Each run writes ``result.json`` (its final numbers, or its error) and
``evals.csv`` (true return at fixed env-step intervals) under ``<out>/runs/<task>/<algo>/seed<k>/``.
The sweep is resumable: a run with an ``ok`` result is skipped; a run that raised is recorded as
``failed`` with its error, the others go on, and it is retried the next time.

- :mod:`~sbil.benchmark.profiles`: profiles, task recipes, the planned runs;
- :mod:`~sbil.benchmark.runs`: one run (train, evaluate, record);
- :mod:`~sbil.benchmark.sweep`: all of them, locally or on Ray;
- :mod:`~sbil.benchmark.report`: IQM, bootstrap CIs, the markdown report and plots;
- :mod:`~sbil.benchmark.baselines`: imitation's GAIL / AIRL / BC fed sbil's demos.
"""

from sbil.benchmark.profiles import ALGOS, Profile, RunSpec, TaskRecipe, load_profile, plan_runs, profile_names
from sbil.benchmark.report import iqm, stratified_bootstrap_ci, summarize, write_report
from sbil.benchmark.runs import read_result, run_one
from sbil.benchmark.sweep import run_sweep

__all__ = ["ALGOS", "Profile", "RunSpec", "TaskRecipe", "iqm", "load_profile", "plan_runs", "profile_names", "read_result",
           "run_one", "run_sweep", "stratified_bootstrap_ci", "summarize", "write_report"]
