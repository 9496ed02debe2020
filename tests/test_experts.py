import dataclasses
import json

import numpy as np
import pytest
from stable_baselines3 import SAC
from stable_baselines3.common.save_util import load_from_zip_file

from sbil.data import EXPERT_DATA_DIR, read_manifest, verify_task_files
from sbil.errors import SbilError
from sbil.experts.recipes import get_expert_config, load_expert_configs
from sbil.sb3.rollouts import rollout_episodes
from sbil.experts.policies import load_expert_policy
from sbil_envs import missing_extra
from sbil.experts.mpc import BranchingPlanner

from conftest import load_script


def test_manifest_lists_verifiable_tasks():
    tasks = read_manifest()["tasks"]
    assert "pendulum" in tasks
    for task, entry in tasks.items():
        verify_task_files(task)
        for key in ("env_id", "env_kwargs", "versions", "episodes", "steps", "expert_return_mean", "expert_return_std",
                    "random_return_mean", "random_return_std", "command", "seed", "files"):
            assert key in entry, (task, key)
        assert entry["expert_return_mean"] > entry["random_return_mean"]
        if entry["policy"].endswith(".zip"):  # an SB3 policy: the README's steps column is its own step count
            data = load_from_zip_file(EXPERT_DATA_DIR / entry["policy"], device="cpu", load_data=True)[0]
            assert entry["steps_trained"] == data["num_timesteps"], task


# Planners re-plan every step from the simulator (minutes per episode): checked from their demos instead.
PLANNED = [t for t, e in read_manifest()["tasks"].items() if e["algo"] == "controller" and json.loads((EXPERT_DATA_DIR / e["policy"]).read_text())["kind"] in ("mpc", "mpc_branching")]


SB3_EXPERTS = sorted(t for t, e in read_manifest()["tasks"].items() if e["algo"] != "controller")


def _wide_spread(entry: dict) -> bool:
    # An expert whose returns spread widely (Ant flips onto its back now and then; Pendulum starts anywhere
    # on the circle): its mean over a few fresh episodes says little, and for Ant it depends on the CPU's
    # floating-point details (which episodes flip), not on the policy file alone.
    return entry["expert_return_std"] > 0.05 * abs(entry["expert_return_mean"])


@pytest.mark.parametrize("task", SB3_EXPERTS)
def test_shipped_expert_made_its_demos(task):
    """Machine-independent links from the policy file to the manifest's numbers: the policy's actions
    on the demo states are the demo actions (a pure function of the network), the demos' returns are
    the manifest's, and the env, fed the demo actions from the recorded reset seeds, gives the
    recorded rewards over the first steps (before contact chaos can amplify a CPU's last bits)."""
    from sbil.data import load_demos
    from sbil.envs import make_env

    entry = read_manifest()["tasks"][task]
    if missing_extra(entry["env_id"]):
        pytest.skip(f"{entry['env_id']} needs the {missing_extra(entry['env_id'])} extra")
    demos = load_demos(task)
    model = load_expert_policy(EXPERT_DATA_DIR / entry["policy"], entry["algo"])
    actions = model.predict(demos.obs, deterministic=True)[0]
    np.testing.assert_allclose(actions, demos.acts, atol=1e-4 * max(1.0, float(np.abs(model.action_space.high).max())))
    returns = demos.episode_returns()
    assert len(returns) == entry["episodes"]
    np.testing.assert_allclose([returns.mean(), returns.std()], [entry["expert_return_mean"], entry["expert_return_std"]], rtol=1e-4)
    env = make_env(entry["env_id"], entry["env_kwargs"])
    for ep, (start, _) in enumerate(demos.episode_bounds()[:3]):
        obs, _ = env.reset(seed=entry["seed"] + ep)
        np.testing.assert_allclose(obs, demos.obs[start], atol=1e-5)
        rewards = [env.step(a)[1] for a in demos.acts[start : start + 50]]
        np.testing.assert_allclose(rewards, demos.rewards[start : start + 50], atol=1e-3)


@pytest.mark.parametrize("task", [t for t in SB3_EXPERTS if not _wide_spread(read_manifest()["tasks"][t])])
def test_shipped_expert_reproduces_its_manifest_return(task):
    # Closed loop on fresh episodes, for experts whose returns barely spread (chaotic ones are covered
    # machine-independently above; scripts/eval_expert.py measures their held-out return on a machine).
    entry = read_manifest()["tasks"][task]
    if missing_extra(entry["env_id"]):
        pytest.skip(f"{entry['env_id']} needs the {missing_extra(entry['env_id'])} extra")
    model = load_expert_policy(EXPERT_DATA_DIR / entry["policy"], entry["algo"])
    n = 3  # narrow-spread 1000-step episodes: a few suffice
    episodes = rollout_episodes(model, entry["env_id"], entry["env_kwargs"], n, seed=entry["seed"] + 7)
    ret = np.mean([e["rewards"].sum() for e in episodes])
    mean, std = entry["expert_return_mean"], entry["expert_return_std"]
    # Within 10%, or within 3 standard errors of the expert's own spread when that is wider.
    assert abs(ret - mean) <= max(0.10 * abs(mean), 3 * std / np.sqrt(n)), (ret, mean, std, n)


@pytest.mark.parametrize("task", PLANNED)
def test_planner_demos_are_true_rollouts_of_the_shipped_planner(task):
    """Re-planning whole episodes takes minutes; instead check that the demos' actions, replayed,
    give the recorded rewards and the manifest's return (the simulator is deterministic), and that
    the shipped planner makes the same first actions."""
    import gymnasium as gym

    from sbil.data import load_demos

    entry = read_manifest()["tasks"][task]
    if missing_extra(entry["env_id"]):
        pytest.skip(f"{entry['env_id']} needs the {missing_extra(entry['env_id'])} extra")
    demos = load_demos(task)
    env = gym.make(entry["env_id"], **entry["env_kwargs"])
    returns = []
    for ep, (start, end) in enumerate(demos.episode_bounds()):
        env.reset(seed=entry["seed"] + ep)
        rewards = [env.step(a)[1] for a in demos.acts[start:end]]
        np.testing.assert_allclose(rewards, demos.rewards[start:end], atol=1e-5)
        returns.append(sum(rewards))
    assert np.mean(returns) == pytest.approx(entry["expert_return_mean"], rel=1e-5)
    planner = load_expert_policy(EXPERT_DATA_DIR / entry["policy"], entry["algo"])
    if isinstance(planner, BranchingPlanner):
        # Its first search runs whole 2 s branches (a minute or more); check that one of them starts as the demo does.
        inner = planner.planner
        inner.bind(env.unwrapped)

        def branch_start(k):
            env.reset(seed=entry["seed"])
            inner.reset()
            inner.reseed(0, k)
            actions = []
            for _ in range(10):
                actions.append(inner.predict(None)[0])
                env.step(actions[-1])
            return np.stack(actions)

        assert any(np.allclose(branch_start(k), demos.acts[:10], rtol=0, atol=1e-5) for k in range(planner.branches))
        return
    env.reset(seed=entry["seed"])
    planner.bind(env.unwrapped)
    for a in demos.acts[:10]:
        np.testing.assert_allclose(planner.predict(None)[0], a, atol=1e-5)
        env.step(a)


def test_broken_policy_file_is_named(tmp_path):
    (tmp_path / "expert.zip").write_bytes(b"nope")
    with pytest.raises(SbilError, match="expert.zip does not load.*train_expert.py"):
        load_expert_policy(tmp_path / "expert.zip", "sac", "python scripts/train_expert.py pendulum")


def test_recipes_are_valid_and_unknown_task_is_listed():
    configs = load_expert_configs()
    assert {"hopper", "walker2d", "halfcheetah", "ant", "pendulum"} <= set(configs)
    for cfg in configs.values():
        if cfg.env_id.split("-")[0] in ("Hopper", "Walker2d", "Ant"):
            assert cfg.env_kwargs == {"terminate_when_unhealthy": False}  # fixed 1000-step demos
    with pytest.raises(SbilError, match="Known tasks: pendulum"):
        get_expert_config("nope")


def test_train_expert_resumes_and_ships(tmp_path):
    train_expert = load_script("train_expert")
    collect = load_script("collect_demos")
    run = tmp_path / "run"
    base = ["pendulum", "--out", str(run), "--no-progress", "--threads", "1"]
    assert train_expert.main([*base, "--steps", "600"]) == 0
    with pytest.raises(SbilError, match="already holds a run"):
        train_expert.main([*base, "--steps", "800"])
    assert train_expert.main([*base, "--steps", "800", "--resume"]) == 0
    assert json.loads((run / "result.json").read_text())["n_timesteps"] == 800
    from sbil.experts.training import train_expert as train  # the script's main is train_expert.main here

    changed = dataclasses.replace(get_expert_config("pendulum"), train_env_kwargs={"g": 9.0})
    with pytest.raises(SbilError, match=r"recipe .* changed .*train_env_kwargs: \{\} then, \{'g': 9.0\} now"):
        train(changed, run, 0, True, 1000)  # resuming with another training env would be another run
    data = tmp_path / "data"
    assert collect.main(["pendulum", "--run", str(run), "--episodes", "2", "--random-episodes", "2", "--out", str(data)]) == 0
    entry = verify_task_files("pendulum", data)
    assert entry["episodes"] == 2 and entry["steps"] == 400
    # the shipped policy's own step count, which for a best model may be less than the run's
    assert entry["steps_trained"] == SAC.load(run / "best_model.zip", device="cpu").num_timesteps


def test_train_expert_resume_is_exact(tmp_path):
    """Stopped at 600 steps and resumed to 800 ends with the same policy as one 800-step run."""
    import torch
    from stable_baselines3.common.save_util import load_from_zip_file

    train_expert = load_script("train_expert")
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    common = ["pendulum", "--no-progress", "--threads", "1"]
    assert train_expert.main([*common, "--out", str(whole), "--steps", "800"]) == 0
    assert train_expert.main([*common, "--out", str(cut), "--steps", "600"]) == 0
    assert train_expert.main([*common, "--out", str(cut), "--steps", "800", "--resume"]) == 0
    params = [load_from_zip_file(run / "checkpoints" / f"step_{800:012d}" / "model.zip")[1]["policy"] for run in (whole, cut)]
    for key in params[0]:
        assert torch.equal(params[0][key], params[1][key]), key


def test_train_expert_init_from_a_policy_file(tmp_path):
    """A machine that lost its checkpoints continues from the shipped (or any) policy file."""
    import torch
    from stable_baselines3.common.save_util import load_from_zip_file

    train_expert = load_script("train_expert")
    first, second = tmp_path / "first", tmp_path / "second"
    common = ["pendulum", "--no-progress", "--threads", "1"]
    assert train_expert.main([*common, "--out", str(first), "--steps", "600"]) == 0
    policy = next((first / "checkpoints").iterdir()) / "model.zip"
    # 500 steps refill the replay buffer with the loaded policy's actions (no updates), then it trains on.
    assert train_expert.main([*common, "--out", str(second), "--steps", "1300", "--init-from", str(policy)]) == 0
    assert json.loads((second / "result.json").read_text())["n_timesteps"] == 1300
    final = load_from_zip_file(next((second / "checkpoints").iterdir()) / "model.zip")[1]["policy"]
    loaded = load_from_zip_file(policy)[1]["policy"]
    assert any(not torch.equal(final[k], loaded[k]) for k in loaded)
    with pytest.raises(SbilError, match="does not exist"):
        train_expert.main([*common, "--out", str(tmp_path / "third"), "--init-from", str(tmp_path / "nope.zip")])
    with pytest.raises(SbilError, match="--refill only applies with --init-from"):
        train_expert.main([*common, "--out", str(tmp_path / "fourth"), "--refill", "100"])
    # A longer refill (here 700 policy steps, no updates) before training goes on.
    assert train_expert.main([*common, "--out", str(tmp_path / "fifth"), "--steps", "1400", "--init-from", str(policy), "--refill", "700"]) == 0
    assert json.loads((tmp_path / "fifth" / "result.json").read_text())["n_timesteps"] == 1400
