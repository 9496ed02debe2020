"""The benchmark command: a micro profile end to end, resume, failed runs, bad names."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import load_script
from sbil.benchmark import iqm, load_profile, plan_runs, profile_names, stratified_bootstrap_ci
from sbil.errors import SbilError
from sbil_envs.robots import h1_available

bench = load_script("benchmark")

MICRO = """
profiles:
  micro:
    algos: [smiling, gail, bc]
    seeds: [0, 1]
    tasks:
      pendulum: &tiny
        algo: ppo
        algo_kwargs: {n_steps: 128, batch_size: 64, n_epochs: 1}
        total_timesteps: 256
        eval_freq: 128
        n_eval_episodes: 1
        demo_episodes: 2
        bc_epochs: 1
        smiling: {reward.smiling.expert_grad_steps: 20, reward.samples_per_refit: 256}
"""


@pytest.fixture
def micro(tmp_path):
    path = tmp_path / "profiles.yaml"
    path.write_text(MICRO)
    return str(path)


def results(out):
    return {p.parent.relative_to(out / "runs").as_posix(): json.loads(p.read_text()) for p in (out / "runs").rglob("result.json")}


def test_micro_profile_writes_table_and_plots_and_resume_skips_finished_runs(micro, tmp_path, capsys):
    out = tmp_path / "out"
    assert bench.main([f"profile={micro}", f"out={out}", "workers=1", "progress_bar=false"]) == 0
    report = (out / "report.md").read_text()
    for algo in ("smiling", "gail", "bc"):
        assert f"| pendulum | {algo} | 2 |" in report
    assert (out / "curves_pendulum.png").stat().st_size > 1000 and (out / "summary.png").stat().st_size > 1000
    runs = results(out)
    assert len(runs) == 6 and all(r["status"] == "ok" for r in runs.values())
    curve = (out / "runs/pendulum/smiling/seed0/evals.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in curve[1:]] == ["128", "256"]  # fixed eval schedule, in env steps
    assert runs["pendulum/gail/seed0"]["env_steps"] == runs["pendulum/smiling/seed0"]["env_steps"] == 256
    assert runs["pendulum/bc/seed0"]["env_steps"] == 0

    stamps = {k: (out / "runs" / k / "result.json").stat().st_mtime_ns for k in runs}
    capsys.readouterr()
    assert bench.main([f"profile={micro}", f"out={out}", "workers=1", "progress_bar=false"]) == 0
    assert "6 of 6 runs already finished: skipped." in capsys.readouterr().out
    assert stamps == {k: (out / "runs" / k / "result.json").stat().st_mtime_ns for k in runs}


def test_a_failing_run_is_recorded_and_the_rest_complete_in_parallel_workers(micro, tmp_path):
    path = tmp_path / "broken.yaml"
    # A second task whose env rejects its kwargs: every run on it fails, the pendulum runs do not.
    text = MICRO.replace("algos: [smiling, gail, bc]", "algos: [smiling, bc]").replace("seeds: [0, 1]", "seeds: [0]")
    path.write_text(text + "      halfcheetah: {<<: *tiny, env_kwargs: {no_such_kwarg: 1}}\n")
    out = tmp_path / "out"
    assert bench.main([f"profile={path}", f"out={out}", "workers=2", "progress_bar=false"]) == 1
    runs = results(out)
    assert {k: r["status"] for k, r in runs.items()} == {
        "pendulum/smiling/seed0": "ok", "pendulum/bc/seed0": "ok",
        "halfcheetah/smiling/seed0": "failed", "halfcheetah/bc/seed0": "failed",
    }
    assert "no_such_kwarg" in runs["halfcheetah/bc/seed0"]["error"]
    assert "## Failed runs" in (out / "report.md").read_text()


def test_bad_names_list_the_valid_ones(micro, tmp_path):
    assert set(profile_names()) >= {"quick", "standard", "humanoid"}
    with pytest.raises(SbilError, match="valid: ball_in_cup, dmc, humanoid, mujoco, pendulum, quick, standard"):
        load_profile("quik")
    with pytest.raises(SbilError, match="valid: smiling, smiling_sa, gail"):
        bench.main([f"profile={micro}", "algos=smiling,dagger", f"out={tmp_path}"])
    with pytest.raises(SbilError, match="valid: pendulum"):
        bench.main([f"profile={micro}", "tasks=hoper", f"out={tmp_path}"])
    with pytest.raises(SbilError, match="Unknown setting 'worker'"):
        bench.main(["worker=2"])
    with pytest.raises(SbilError, match="valid: local, ray"):
        bench.main([f"profile={micro}", "backend=slurm", f"out={tmp_path}", "progress_bar=false"])


def test_profiles_plan_shipped_tasks_only(tmp_path):
    specs = plan_runs(load_profile("quick"), "/tmp/unused")
    assert {s.recipe.task for s in specs} == {"hopper", "halfcheetah"}
    assert len(specs) == 12 and len({(s.recipe.task, s.algo, s.seed) for s in specs}) == 12
    humanoid = plan_runs(load_profile("humanoid"), "/tmp/unused")  # the H1 experts are shipped
    assert {s.env_id for s in humanoid} == {"sbil/H1Walk-v0", "sbil/H1Sit-v0", "sbil/H1Crawl-v0"}
    unshipped = tmp_path / "p.yaml"
    unshipped.write_text("profiles:\n  p:\n    algos: [bc]\n    seeds: [0]\n    tasks:\n      humanoid_sit: {algo: sac, total_timesteps: 1000}\n")
    with pytest.raises(SbilError, match="no shipped expert data.*train_expert.py humanoid_sit"):
        plan_runs(load_profile(f"{unshipped}:p"), "/tmp/unused")


def test_iqm_and_bootstrap():
    assert iqm(np.arange(8.0)) == pytest.approx(3.5)  # mean of 2..5
    assert iqm([1.0, 2.0, 3.0, 100.0]) == pytest.approx(2.5)
    point, lo, hi = stratified_bootstrap_ci({"a": np.array([0.1, 0.2, 0.3, 0.4]), "b": np.array([0.5, 0.6, 0.7, 0.8])})
    assert lo <= point <= hi and 0.1 <= lo and hi <= 0.8


def test_ray_backend_runs_the_same_sweep(micro, tmp_path):
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install -e .[ray]")
    import ray

    out = tmp_path / "out"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert bench.main([f"profile={micro}", f"out={out}", "backend=ray", "algos=bc,smiling", "seeds=0", "progress_bar=false"]) == 0
    finally:
        ray.shutdown()
    assert {k: r["status"] for k, r in results(out).items()} == {"pendulum/bc/seed0": "ok", "pendulum/smiling/seed0": "ok"}


def test_humanoid_tasks_run_through_the_benchmark(tmp_path):
    """The humanoid profile's machinery on a shipped H1 task, with a tiny SAC budget."""
    if not h1_available():
        pytest.skip("the h1 extra is not installed")
    path = tmp_path / "h1.yaml"
    path.write_text("""
profiles:
  h1_micro:
    algos: [smiling, gail_so, bc]
    seeds: [0]
    tasks:
      h1_sit: {algo: sac, algo_kwargs: {learning_starts: 100, batch_size: 64}, total_timesteps: 200, eval_freq: 200,
               n_eval_episodes: 1, demo_episodes: 1, bc_epochs: 1, gail_round_steps: 100,
               smiling: {reward.smiling.expert_grad_steps: 20, reward.samples_per_refit: 200, reward.refit_every: 100}}
""")
    out = tmp_path / "out"
    assert bench.main([f"profile={path}", f"out={out}", "workers=1", "progress_bar=false"]) == 0
    runs = results(out)
    assert {k: r["status"] for k, r in runs.items()} == {f"h1_sit/{a}/seed0": "ok" for a in ("smiling", "gail_so", "bc")}
    assert runs["h1_sit/smiling/seed0"]["env_id"] == "sbil/H1Sit-v0"


def test_oracle_and_gail_reward_rows_share_the_budget_and_scores_are_normalised_by_the_oracle(micro, tmp_path):
    out = tmp_path / "out"
    assert bench.main([f"profile={micro}", f"out={out}", "workers=1", "algos=rl,gail_reward_so", "seeds=0", "progress_bar=false"]) == 0
    runs = results(out)
    assert runs["pendulum/rl/seed0"]["env_steps"] == runs["pendulum/gail_reward_so/seed0"]["env_steps"] == 256
    summary = json.loads((out / "summary.json").read_text())
    rows = {r["algo"]: r for r in summary["per_task"]}
    assert rows["rl"]["of_oracle"] == pytest.approx(1.0)  # the oracle is its own ceiling
    random_return = runs["pendulum/rl/seed0"]["random_return"]
    expected = (rows["gail_reward_so"]["return_mean"] - random_return) / (rows["rl"]["return_mean"] - random_return)
    assert rows["gail_reward_so"]["of_oracle"] == pytest.approx(expected)
    assert "| rl | 1 | 1 |" in (out / "report.md").read_text() and "of oracle" in (out / "report.md").read_text()
    late = runs["pendulum/rl/seed0"]["late_return"]
    assert rows["rl"]["seed_returns"] == {"0": pytest.approx(late)}  # each seed's late return, for tables that cite them
    assert f"| 0: {late:.0f} |" in (out / "report.md").read_text()

    # Hand-written findings next to the report survive its regeneration, placed above the per-task table.
    (out / "findings.md").write_text("The oracle wins on pendulum: diagnosed in `why.md`.\n")
    assert bench.main([f"profile={micro}", f"out={out}", "algos=rl,gail_reward_so", "seeds=0", "report_only=true"]) == 0
    report = (out / "report.md").read_text()
    assert report.index("## Findings") < report.index("diagnosed in `why.md`") < report.index("## Per task")


def test_a_recipe_that_normalizes_observations_runs_every_env_step_algorithm(tmp_path):
    path = tmp_path / "profiles.yaml"
    path.write_text(MICRO.replace("        bc_epochs: 1\n", "        bc_epochs: 1\n        normalize_obs: true\n"))
    out = tmp_path / "out"
    assert bench.main([f"profile={path}", f"out={out}", "workers=1", "algos=rl,gail_so,smiling,bc", "seeds=0", "progress_bar=false"]) == 0
    runs = results(out)
    assert {k: r["status"] for k, r in runs.items()} == {f"pendulum/{a}/seed0": "ok" for a in ("rl", "gail_so", "smiling", "bc")}
    assert (out / "runs/pendulum/smiling/seed0/smile/vecnormalize.pkl").is_file()


ADVERSARIAL = """
profiles:
  g:
    algos: [gail_so]
    seeds: [0]
    tasks:
      pendulum: {recipe}
"""
RECIPES = {
    # six rounds of 128 steps, a checkpoint after each but the last; the policy on normalised observations
    "ppo": "{algo: ppo, n_envs: 2, normalize_obs: true, algo_kwargs: {n_steps: 64, batch_size: 64, n_epochs: 2}, total_timesteps: 768, "
           "eval_freq: 256, n_eval_episodes: 1, demo_episodes: 2, checkpoint_freq: 128}",
    # the generator's replay buffer and entropy coefficient are part of the state
    "sac": "{algo: sac, algo_kwargs: {learning_starts: 100, batch_size: 64, policy_kwargs: {net_arch: [32, 32]}}, gail_round_steps: 100, "
           "total_timesteps: 500, eval_freq: 250, n_eval_episodes: 1, demo_episodes: 2, checkpoint_freq: 100}",
}


@pytest.mark.slow
@pytest.mark.parametrize("learner", sorted(RECIPES))
def test_an_adversarial_run_killed_mid_run_resumes_to_the_same_numbers(tmp_path, learner):
    """imitation's GAIL has no checkpoints of its own: the benchmark's round loop saves them, and a
    run SIGKILLed after its first one continues where it stopped and ends as an uninterrupted run."""
    import signal
    import subprocess
    import sys
    import time

    from stable_baselines3.common.save_util import load_from_zip_file

    from conftest import ROOT
    from sbil.checkpoint import list_checkpoints

    profile = tmp_path / "p.yaml"
    profile.write_text(ADVERSARIAL.format(recipe=RECIPES[learner]))

    def command(out):
        return [sys.executable, str(ROOT / "scripts" / "benchmark.py"), f"profile={profile}:g", f"out={out}", "workers=1", "progress_bar=false"]

    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run(command(whole), check=True, capture_output=True)
    proc = subprocess.Popen(command(killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoints = killed / "runs/pendulum/gail_so/seed0/checkpoints"
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None and not list_checkpoints(checkpoints):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (killed / "runs/pendulum/gail_so/seed0/result.json").exists()
    if learner == "ppo":  # a checkpoint of another setup is refused, not continued
        profile.write_text(ADVERSARIAL.format(recipe=RECIPES[learner].replace("n_epochs: 2", "n_epochs: 3")))
        assert subprocess.run(command(killed), capture_output=True).returncode != 0
        assert "another run setup" in results(killed)["pendulum/gail_so/seed0"]["error"]
        profile.write_text(ADVERSARIAL.format(recipe=RECIPES[learner]))
    subprocess.run(command(killed), check=True, capture_output=True)

    def curve(out):
        rows = (out / "runs/pendulum/gail_so/seed0/evals.csv").read_text().splitlines()
        return [line.rsplit(",", 1)[0] for line in rows]  # wall_time aside

    def last_policy(out):
        newest = list_checkpoints(out / "runs/pendulum/gail_so/seed0/checkpoints")[-1]
        return newest.name, load_from_zip_file(newest / "model.zip")[1]["policy"]

    assert results(killed)["pendulum/gail_so/seed0"]["status"] == "ok"
    last_row = (killed / "runs/pendulum/gail_so/seed0/evals.csv").read_text().splitlines()[-1]
    assert results(killed)["pendulum/gail_so/seed0"]["wall_time"] >= float(last_row.rsplit(",", 1)[1])  # both segments
    assert curve(killed) == curve(whole) and len(curve(whole)) >= 3
    (name_k, policy_k), (name_w, policy_w) = last_policy(killed), last_policy(whole)
    assert name_k == name_w
    assert all(np.array_equal(policy_k[k].numpy(), policy_w[k].numpy()) for k in policy_w)


def test_a_run_is_scored_by_the_mean_of_its_evaluations_in_the_last_tenth_of_its_budget():
    from sbil.benchmark.runs import late_return

    curve = [{"timesteps": t, "mean_return": r} for t, r in [(0, -5.0), (500, 10.0), (900, 20.0), (950, 40.0), (1000, 30.0)]]
    assert late_return(curve, 1000) == (30.0, 3)
    assert late_return(curve[:2], 1000) == (10.0, 1)  # none that late: the last evaluation
    assert late_return([{"timesteps": 0, "mean_return": 7.0}], 0) == (7.0, 1)  # BC: one evaluation, no env steps


def test_reward_obs_dims_reach_smiling_and_the_discriminator_and_nothing_else_moves_them(tmp_path):
    from sbil.rewards.adversarial import obs_subset_net
    from sbil.rewards import load_reward

    path = tmp_path / "profiles.yaml"
    path.write_text(MICRO.replace("        bc_epochs: 1\n", "        bc_epochs: 1\n        reward_obs_dims: [0, 2]\n"))
    out = tmp_path / "out"
    assert bench.main([f"profile={path}", f"out={out}", "workers=1", "algos=smiling,gail_so", "seeds=0", "progress_bar=false"]) == 0
    assert {k: r["status"] for k, r in results(out).items()} == {"pendulum/smiling/seed0": "ok", "pendulum/gail_so/seed0": "ok"}
    reward = load_reward(out / "runs/pendulum/smiling/seed0/smile/reward.pt", device="cpu")
    assert list(reward.cfg.obs_dims) == [0, 2] and reward.input_dim == 2

    import gymnasium as gym
    import torch as th
    from imitation.rewards.reward_nets import BasicRewardNet, BasicShapedRewardNet

    obs_space, act_space = gym.spaces.Box(-1, 1, (3,)), gym.spaces.Box(-1, 1, (1,))
    net = obs_subset_net(BasicRewardNet, obs_space, act_space, [0, 2], use_action=False)
    s, a, d = th.rand(5, 3), th.rand(5, 1), th.zeros(5)
    moved = s.clone()
    moved[:, 1] += 1.0
    assert th.equal(net(s, a, s, d), net(moved, a, moved, d))  # coordinate 1 is not seen
    assert not th.equal(net(s, a, s, d), net(s + 1.0, a, s + 1.0, d))
    # AIRL's shaped net, and its unshaped base (AIRL's reward_test), both take whole observations
    shaped = obs_subset_net(BasicShapedRewardNet, obs_space, act_space, [0, 2], use_action=False)
    for part in (shaped, shaped.base):
        assert th.equal(part(s, a, s, d), part(moved, a, moved, d))
        assert not th.equal(part(s, a, s, d), part(s + 1.0, a, s + 1.0, d))
    assert shaped.potential(s).shape[0] == 5
    with pytest.raises(SbilError, match=r"obs_dims=\[0, 3\] is invalid"):
        obs_subset_net(BasicRewardNet, obs_space, act_space, [0, 3], use_action=False)


@pytest.mark.slow
def test_sigterm_stops_the_sweep_after_the_run_it_reached_saves_a_checkpoint(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from conftest import ROOT
    from sbil.checkpoint import list_checkpoints

    profile = tmp_path / "p.yaml"
    profile.write_text(ADVERSARIAL.format(recipe=RECIPES["ppo"]).replace("seeds: [0]", "seeds: [0, 1]"))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "benchmark.py"), f"profile={profile}:g", f"out={out}", "workers=1",
                             "progress_bar=false"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None and not list_checkpoints(out / "runs/pendulum/gail_so/seed0/checkpoints"):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=180)
    first = results(out)["pendulum/gail_so/seed0"]
    assert first["status"] == "failed" and first["interrupted"] == "SIGTERM", output
    assert not (out / "runs/pendulum/gail_so/seed1").exists()  # the sweep did not go on to the next run
    assert "the sweep stops here" in output


def test_an_interrupted_run_cancels_the_rest_of_a_ray_sweep(micro, tmp_path, monkeypatch):
    """Ray's workers are not in the driver's process group: the sweep itself must cancel what is queued."""
    import sys
    import types

    from sbil.benchmark import sweep

    ran, cancelled = [], []

    def fake_run_one(spec):
        ran.append(spec.key)
        result = {"task": spec.recipe.task, "algo": spec.algo, "seed": spec.seed, "status": "failed", "error": "stopped by SIGTERM",
                  "interrupted": "SIGTERM"}
        return {"result": result, "curve": []}

    class Ref:
        def __init__(self, fn, spec):
            self.fn, self.spec = fn, spec

    fake_ray = types.SimpleNamespace(
        init=lambda **kw: None,
        remote=lambda **kw: (lambda fn: types.SimpleNamespace(remote=lambda spec: Ref(fn, spec))),
        wait=lambda refs, num_returns: (refs[:1], refs[1:]),
        get=lambda ref: ref.fn(ref.spec),  # a task runs when the driver collects it: cancelled ones never do
        cancel=lambda ref: cancelled.append(ref.spec.key),
    )
    monkeypatch.setitem(sys.modules, "ray", fake_ray)
    monkeypatch.setattr(sweep, "run_one", fake_run_one)
    specs = plan_runs(load_profile(micro), str(tmp_path / "out"))
    assert len(specs) >= 2
    sweep.run_sweep(specs, backend="ray", progress_bar=False)
    assert ran == [specs[0].key] and cancelled == [s.key for s in specs[1:]]


def test_a_stopped_run_keeps_the_evaluations_it_made(micro, tmp_path, monkeypatch):
    """A run stopped midway is recorded as failed (it resumes next time), with the curve it had so far:
    from disk for sbil's train loop, from memory for imitation's trainers."""
    from sbil.benchmark import runs as run_module

    spec = plan_runs(load_profile(micro), tmp_path / "out", algos=["smiling"], seeds=[0])[0]

    def stopped_midway(spec):
        smile = tmp_path / "out/runs/pendulum/smiling/seed0/smile"
        smile.mkdir(parents=True)
        (smile / "evals.csv").write_text("timesteps,mean_return,std_return,mean_length,wall_time\n128,-1200.5,10,200,3\n")
        raise run_module.RunInterrupted("SIGTERM")

    monkeypatch.setattr(run_module, "_run_smiling", stopped_midway)
    outcome = run_module.run_one(spec)
    assert outcome["result"]["status"] == "failed" and outcome["result"]["interrupted"] == "SIGTERM"
    assert [row["mean_return"] for row in outcome["curve"]] == [-1200.5]
    run_module.write_run(spec, outcome)
    assert (tmp_path / "out/runs/pendulum/smiling/seed0/evals.csv").read_text().splitlines()[1].startswith("128,-1200.5")

    # imitation's trainers hold their evaluations in memory: the stop hands them over
    gail = plan_runs(load_profile(micro), tmp_path / "out", algos=["gail"], seeds=[0])[0]
    row = {"timesteps": 128.0, "mean_return": -900.0, "std_return": 5.0, "mean_length": 200.0, "wall_time": 2.0}

    def gail_stopped_midway(spec):
        raise run_module.RunInterrupted("SIGINT", curve=[row])

    monkeypatch.setattr(run_module, "_run_adversarial", gail_stopped_midway)
    assert run_module.run_one(gail)["curve"] == [row]
