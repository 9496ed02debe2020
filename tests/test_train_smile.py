import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from sbil.checkpoint import list_checkpoints
from sbil.data import save_demos
from sbil.errors import SbilError
from sbil.io import RunLock

from conftest import ROOT, TINY, load_script
from test_data import make_demos

train = load_script("train_smile")


def run(tmp_path, *extra, name="run"):
    out = tmp_path / name
    status = train.main([*TINY, f"out_dir={out}", *extra])
    return out, status


def summary(out):
    return json.loads((out / "summary.json").read_text())


def test_tiny_run_writes_everything_and_overrides_apply(tmp_path):
    out, status = run(tmp_path, "algo.name=td3", "reward.learner=smiling_sa")
    assert status == 0
    s = summary(out)
    assert s["algo"] == "td3" and s["reward_learner"] == "smiling_sa" and s["total_timesteps"] == 1000
    for key in ("true_return", "expert_return", "random_return", "normalized_score", "env_steps_per_second"):
        assert np.isfinite(s[key])
    assert (out / "evals.csv").read_text().count("\n") == 3  # header + evals at 500 and 1000
    assert (out / "reward.pt").is_file() and (out / "policy.zip").is_file() and list((out / "tb").rglob("events.*"))
    assert "td3" in (out / "config.yaml").read_text()


def test_gail_reward_swaps_in_with_one_key(tmp_path):
    out, status = run(tmp_path, "reward.learner=gail_reward_so", "reward.reward_norm=batch")
    assert status == 0 and summary(out)["reward_learner"] == "gail_reward_so"
    assert train.main([f"out_dir={out}", "total_timesteps=1500", "--resume"]) == 0


def test_normalized_observations_reach_the_policy_and_the_eval_env_and_are_saved(tmp_path):
    import pickle

    out, status = run(tmp_path, "--config", "ppo", "algo.kwargs.n_steps=250", "env.n_envs=2", "env.normalize_obs=true")
    assert status == 0
    with open(out / "vecnormalize.pkl", "rb") as f:
        stats = pickle.load(f)
    assert stats.norm_obs and not stats.norm_reward
    assert stats.obs_rms.count > 1000  # updated by every training step (1000 steps, 2 envs)
    assert not np.allclose(stats.obs_rms.mean, 0.0)


def test_runs_on_shipped_mujoco_demos(tmp_path):
    out, status = run(tmp_path, "env.id=HalfCheetah-v5", "demos.source=halfcheetah", "total_timesteps=600", "eval.freq=0")
    assert status == 0 and summary(out)["expert_return"] > 6000


def test_same_seed_same_numbers(tmp_path):
    a, _ = run(tmp_path, name="a")
    b, _ = run(tmp_path, name="b")
    assert summary(a)["true_return"] == summary(b)["true_return"]
    assert (a / "evals.csv").read_text().split("\n")[1].split(",")[:4] == (b / "evals.csv").read_text().split("\n")[1].split(",")[:4]


def test_resume_continues_where_it_stopped(tmp_path):
    out, _ = run(tmp_path)
    assert train.main([f"out_dir={out}", "total_timesteps=1500", "--resume"]) == 0
    s = summary(out)
    assert s["total_timesteps"] == 1500
    steps = [int(line.split(",")[0]) for line in (out / "evals.csv").read_text().splitlines()[1:]]
    assert steps == [500, 1000, 1500]  # history kept, no duplicates
    with pytest.raises(SbilError, match="already holds a run"):
        run(tmp_path)
    # The checkpoint's reward learner was made without obs_dims: resuming under them would keep the old
    # reward.pt and silently ignore the new setting.
    saved = (out / "config.yaml").read_text()
    with pytest.raises(SbilError, match=r"reward\.obs_dims: None -> \[0\]"):
        train.main([f"out_dir={out}", "total_timesteps=2000", "reward.obs_dims=[0]", "--resume"])
    assert (out / "config.yaml").read_text() == saved  # the run is as it was


def test_torn_checkpoint_falls_back_and_missing_one_is_refused(tmp_path):
    out, _ = run(tmp_path)
    newest = list_checkpoints(out / "checkpoints")[-1]
    (newest / "model.zip").write_bytes(b"torn")
    with pytest.warns(UserWarning, match="corrupt"):
        assert train.main([f"out_dir={out}", "--resume"]) == 0
    with pytest.raises(SbilError, match="no config.yaml"):
        train.main([f"out_dir={tmp_path / 'empty'}", "--resume"])
    for ckpt in list_checkpoints(out / "checkpoints"):
        (ckpt / "checkpoint.json").unlink()
    with pytest.raises(SbilError, match="no valid checkpoint"):
        train.main([f"out_dir={out}", "--resume"])


def test_output_directory_in_use_is_refused(tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / ".lock").write_text(json.dumps({"pid": os.getppid(), "host": os.uname().nodename}))
    with pytest.raises(SbilError, match="in use by a running job"):
        run(tmp_path, name="busy")
    (out / ".lock").write_text(json.dumps({"pid": 2**22 + 12345, "host": os.uname().nodename}))  # dead pid
    with pytest.warns(UserWarning, match="stale lock"):
        with RunLock(out):
            pass


@pytest.mark.parametrize(
    "override, message",
    [
        ("env.id=Hopper-v9", "Unknown env id 'Hopper-v9'.*Hopper-v5"),
        ("total_timesteps=-1", "total_timesteps=-1 is out of range"),
        ("reward.smiling.n_t_samples=0", "n_t_samples=0 is out of range"),
        ("reward.smilling.lr=0.1", "Unknown config key 'reward.smilling'"),
        ("algo.name=dqn", "Unknown algorithm 'dqn'"),
        ("demos.source=nothing", "Unknown demos 'nothing'"),
        ("env.id=MountainCarContinuous-v0", "observations have size \\(3,\\) but the env's observation space is \\(2,\\)"),
        ("reward.learner=gail_so", "now reward.learner=gail_reward_so"),
        ("reward.obs_dims=[0,3]", r"obs_dims=\[0, 3\] is invalid.*\[0, 3\)"),
        ("reward.smiling.obs_dims=[0]", "Set reward.obs_dims, not reward.smiling.obs_dims"),
    ],
)
def test_bad_input_is_named(tmp_path, override, message):
    with pytest.raises(SbilError, match=message):
        run(tmp_path, override)


def test_demos_of_another_env_with_the_same_sizes_are_refused(tmp_path):
    # HalfCheetah's demos fit Walker2d's spaces (17 / 6 dims); training on them would mix the two tasks' scores.
    with pytest.raises(SbilError, match="recorded on HalfCheetah-v5, but the env is Walker2d-v5.*demos.allow_other_env=true"):
        run(tmp_path, "env.id=Walker2d-v5", "env.kwargs={terminate_when_unhealthy: false}", "demos.source=halfcheetah")


def test_bad_demos_files(tmp_path):
    bad = make_demos()
    bad.next_obs[2, 1] = np.nan
    save_demos(bad, tmp_path / "nan.npz")
    with pytest.raises(SbilError, match="NaN"):
        run(tmp_path, f"demos.source={tmp_path / 'nan.npz'}")
    (tmp_path / "fake.npz").write_text("not demos")
    with pytest.raises(SbilError, match="not a readable demos file"):
        run(tmp_path, f"demos.source={tmp_path / 'fake.npz'}")


def test_cli_prints_one_paragraph_and_exits_2(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "train_smile.py"), "nonsense.key=1", f"out_dir={tmp_path}"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: Unknown config key 'nonsense'") and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_policy_trained_on_smiling_reward_beats_random(tmp_path):
    """The shipped default (12k SAC steps on Pendulum) ends well above a random policy."""
    out = tmp_path / "learn"
    assert train.main([f"out_dir={out}", "progress_bar=false", "verbose=0", "threads=1"]) == 0
    s = summary(out)
    assert s["normalized_score"] > 0.6, s


def _kill_after_checkpoint(out, extra):
    """Start a run in a subprocess and SIGKILL it as soon as its first checkpoint exists."""
    import signal
    import time

    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "train_smile.py"), *TINY, f"out_dir={out}", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        if list_checkpoints(out / "checkpoints"):
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"


def _params(path):
    from stable_baselines3.common.save_util import load_from_zip_file

    _, params, _ = load_from_zip_file(path)
    return params["policy"]


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["sac", "ppo", "sac_subprocess", "ppo_refit_in_process_normalize_obs", "sac_true_reward"])
def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path, algo):
    extra = {
        "sac": [],
        "ppo": ["--config", "ppo", "algo.kwargs.n_steps=250", "env.n_envs=2", "total_timesteps=2000"],
        "sac_subprocess": ["env.subprocess=true", "env.n_envs=2"],  # env state snapshotted inside the workers
        # refits run in a child process; VecNormalize's running statistics are part of the run's state
        "ppo_refit_in_process_normalize_obs": ["--config", "ppo", "algo.kwargs.n_steps=250", "env.n_envs=2", "total_timesteps=2000",
                                               "reward.refit_in_process=true", "env.normalize_obs=true"],
        "sac_true_reward": ["reward.learner=true_reward"],  # the oracle: no reward learner in the run's state
    }[algo]
    whole, _ = run(tmp_path, *extra, name="whole")
    assert (whole / "reward.pt").exists() is (algo != "sac_true_reward")
    cut = tmp_path / "cut"
    _kill_after_checkpoint(cut, extra)
    assert train.main([f"out_dir={cut}", "--resume"]) == 0
    assert summary(cut)["total_timesteps"] == summary(whole)["total_timesteps"]
    assert summary(cut)["true_return"] == summary(whole)["true_return"]
    a, b = _params(whole / "policy.zip"), _params(cut / "policy.zip")
    for key in a:
        assert torch.equal(a[key], b[key]), key
    evals = lambda out: [line.split(",")[:4] for line in (out / "evals.csv").read_text().splitlines()]
    assert evals(cut) == evals(whole)  # same points, same values, none duplicated or missing


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_and_exits_143(tmp_path):
    import signal
    import time

    out = tmp_path / "term"
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "train_smile.py"), *TINY, "total_timesteps=100000", f"out_dir={out}"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.time() + 180
    while time.time() < deadline and not list_checkpoints(out / "checkpoints"):
        time.sleep(0.05)
    first = list_checkpoints(out / "checkpoints")[-1].name
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    stdout, _ = proc.communicate(timeout=120)
    assert proc.returncode == 143 and "--resume" in stdout
    assert list_checkpoints(out / "checkpoints")[-1].name > first  # saved on the way out
    assert not (out / ".lock").exists()


def test_a_task_without_demos_is_an_error_naming_the_commands_unless_asked(tmp_path, monkeypatch):
    """train() never trains an expert silently: a task neither shipped nor cached is refused with
    the commands that make its demos; demos.make_missing=true is the explicit opt-in."""
    import sbil.data
    import sbil.experts.shipping
    import sbil.train
    from sbil.config import load_config

    empty = tmp_path / "no_shipped_data"
    empty.mkdir()
    monkeypatch.setattr(sbil.data, "EXPERT_DATA_DIR", empty)  # as if nothing were shipped
    monkeypatch.setattr(sbil.train, "EXPERT_DATA_DIR", empty)
    made = []
    monkeypatch.setattr(sbil.experts.shipping, "make_task_data", lambda task, cache_dir, progress_bar: made.append(task) or cache_dir)
    cfg = load_config("default", ["demos.source=hopper"])
    with pytest.raises(SbilError, match=r"python scripts/train_expert\.py hopper && python scripts/collect_demos\.py hopper.*demos\.make_missing=true"):
        sbil.train.task_data_dir(cfg, tmp_path / "cache")
    with pytest.raises(SbilError, match="no expert recipe"):
        sbil.train.task_data_dir(load_config("default", ["demos.source=hoper"]), tmp_path / "cache")
    assert made == []
    assert sbil.train.task_data_dir(load_config("default", ["demos.source=hopper", "demos.make_missing=true"]), tmp_path / "cache") == tmp_path / "cache"
    assert made == ["hopper"]
    monkeypatch.undo()
    assert sbil.train.task_data_dir(cfg, tmp_path / "cache") == sbil.data.EXPERT_DATA_DIR  # shipped tasks: as before


def test_a_signal_during_the_last_rollout_stops_with_a_checkpoint_and_resume_finishes(tmp_path, monkeypatch):
    import signal

    from sbil.sb3.callbacks import EvalCallback

    evaluate = EvalCallback.evaluate

    def evaluate_then_signal(self, *args, **kwargs):
        row = evaluate(self, *args, **kwargs)
        if self.num_timesteps >= 1000:  # the run's last step: no rollout start follows to see the flag
            os.kill(os.getpid(), signal.SIGTERM)
        return row

    monkeypatch.setattr(EvalCallback, "evaluate", evaluate_then_signal)
    out = tmp_path / "last"
    assert train.main([*TINY, f"out_dir={out}"]) == 143
    assert not (out / "summary.json").exists()
    assert list_checkpoints(out / "checkpoints")[-1].name.endswith("1000")
    monkeypatch.setattr(EvalCallback, "evaluate", evaluate)
    assert train.main([f"out_dir={out}", "--resume"]) == 0
    assert summary(out)["total_timesteps"] == 1000


def test_diagnose_reward_reads_a_train_smile_checkpoint(tmp_path):
    """scripts/diagnose_reward.py on a tiny run's checkpoint: every table filled with finite numbers;
    a checkpoint of a reward it cannot read is refused by name."""
    diagnose = load_script("diagnose_reward")
    out, status = run(tmp_path)
    assert status == 0
    ckpt = list_checkpoints(out / "checkpoints")[-1]
    small = ["--task", "pendulum", "--states", "32", "--learner-states", "200", "--precise-draws", "4", "--rollout", "100"]
    assert diagnose.main([str(ckpt), *small, "--out", str(tmp_path / "diag")]) == 0
    d = json.loads((tmp_path / "diag" / "diagnosis.json").read_text())
    assert set(d["raw_reward"]) == {"expert", "learner", "random", "broad"}
    assert all(np.isfinite(r[s]) for r in d["fidelity"].values() for s in ("broad", "expert", "learner"))
    assert len(d["normalisation"]) == 4 and {p["policy"] for p in d["policies"]} == {"expert", "learner (checkpoint)"}
    assert "Spearman rank correlation" in (tmp_path / "diag" / "diagnosis.md").read_text()

    sa, status = run(tmp_path, "reward.learner=smiling_sa", name="sa")
    assert status == 0
    with pytest.raises(SbilError, match="state-only SMILING"):
        diagnose.main([str(list_checkpoints(sa / "checkpoints")[-1]), *small])
    with pytest.raises(SbilError, match="holds no reward.pt"):
        diagnose.main([str(tmp_path), *small])
