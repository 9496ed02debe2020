import json
import os

import gymnasium as gym
import numpy as np
import pytest

from sbil.data import Demos, demos_from_episodes, load_demos, read_demos, save_demos, validate_demos
from sbil.errors import SbilError
from sbil.io import sha256_file

from conftest import ROOT


def make_demos(n_eps=3, length=5, obs_dim=3, act_dim=1) -> Demos:
    rng = np.random.default_rng(0)
    eps = [
        {"obs": rng.normal(size=(length, obs_dim)), "acts": rng.uniform(-1, 1, (length, act_dim)),
         "next_obs": rng.normal(size=(length, obs_dim)), "rewards": rng.normal(size=length)}
        for _ in range(n_eps)
    ]
    return demos_from_episodes(eps, {"env_id": "Pendulum-v1", "env_kwargs": {}})


def test_round_trip_and_subsets(tmp_path):
    demos = make_demos()
    save_demos(demos, tmp_path / "d.npz")
    back = read_demos(tmp_path / "d.npz")
    for k in ("obs", "acts", "next_obs", "rewards", "dones", "episode_starts"):
        np.testing.assert_array_equal(getattr(back, k), getattr(demos, k).astype(getattr(back, k).dtype))
    assert back.meta["env_id"] == "Pendulum-v1" and back.n_episodes == 3
    sub = back.subset(n_episodes=2, every=2)
    assert sub.n_episodes == 2 and len(sub) == 6 and sub.dones.sum() == 2
    assert len(back.subset(max_transitions=7)) == 7
    trajs = back.to_trajectories()
    assert len(trajs) == 3 and trajs[0].obs.shape == (6, 3)
    assert len(back.to_transitions()) == 15


def test_bad_files_are_named(tmp_path):
    with pytest.raises(SbilError, match="does not exist"):
        read_demos(tmp_path / "none.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(SbilError, match="not a readable demos file"):
        read_demos(tmp_path / "text.npz")
    save_demos(make_demos(), tmp_path / "d.npz")
    data = (tmp_path / "d.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(SbilError, match="cut.npz"):
        read_demos(tmp_path / "cut.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(SbilError, match="not an sbil demos file"):
        read_demos(tmp_path / "other.npz")


def test_validation_against_env():
    env = gym.make("Pendulum-v1")
    validate_demos(make_demos(), env.observation_space, env.action_space)
    with pytest.raises(SbilError, match="observations have size"):
        validate_demos(make_demos(obs_dim=4), env.observation_space, env.action_space)
    with pytest.raises(SbilError, match="actions have size"):
        validate_demos(make_demos(act_dim=2), env.observation_space, env.action_space)
    bad = make_demos()
    bad.obs[4, 0] = np.inf
    with pytest.raises(SbilError, match="NaN/inf .*transition 4"):
        validate_demos(bad)
    out_of_bounds = make_demos()
    out_of_bounds.acts[:] = 5.0
    with pytest.raises(SbilError, match="outside the env's action bounds"):
        validate_demos(out_of_bounds, env.observation_space, env.action_space)
    empty = Demos(*(np.zeros((0, 3)),) * 3, np.zeros(0), np.zeros(0, bool), np.zeros(0, np.int64))
    with pytest.raises(SbilError, match="empty"):
        validate_demos(empty)


def test_shipped_manifest_verifies_and_detects_tampering(tmp_path):
    demos = load_demos("pendulum", env=gym.make("Pendulum-v1"))
    assert demos.n_episodes >= 10 and demos.env_id == "Pendulum-v1"
    (tmp_path / "t").mkdir()
    save_demos(make_demos(), tmp_path / "t" / "demos.npz")
    manifest = {"tasks": {"t": {"env_id": "Pendulum-v1", "demos": "t/demos.npz", "command": "python scripts/collect_demos.py t",
                                "files": {"t/demos.npz": sha256_file(tmp_path / "t" / "demos.npz")}}}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert len(load_demos("t", data_dir=tmp_path)) == 15
    with open(tmp_path / "t" / "demos.npz", "ab") as f:
        f.write(b"x")
    with pytest.raises(SbilError, match="sha256.*collect_demos.py t"):
        load_demos("t", data_dir=tmp_path)
    (tmp_path / "t" / "demos.npz").unlink()
    with pytest.raises(SbilError, match="missing"):
        load_demos("t", data_dir=tmp_path)
    with pytest.raises(SbilError, match="Unknown demos"):
        load_demos("nope", data_dir=tmp_path)


def test_demos_of_another_env_are_refused_by_name_and_by_path(tmp_path):
    # HalfCheetah and Walker2d share 17-dim observations and 6-dim actions: only the demos' header tells them apart.
    from sbil.sb3.vec_env import make_vec_env

    walker = make_vec_env("Walker2d-v5", 1, seed=0, env_kwargs={"terminate_when_unhealthy": False})
    with pytest.raises(SbilError, match="recorded on HalfCheetah-v5, but the env is Walker2d-v5.*shipped: walker2d"):
        load_demos("halfcheetah", env=walker)
    cheetah = read_demos(ROOT / "expert_data" / "halfcheetah" / "demos.npz")
    save_demos(cheetah.subset(n_episodes=1), tmp_path / "cheetah.npz")
    with pytest.raises(SbilError, match="recorded on HalfCheetah-v5, but the env is Walker2d-v5"):
        load_demos(tmp_path / "cheetah.npz", env=walker)
    assert len(load_demos(tmp_path / "cheetah.npz", env=walker, allow_other_env=True)) == 1000  # on purpose
    # The same env id with task kwargs other than the demos': Walker2d that ends episodes on a fall.
    with pytest.raises(SbilError, match="terminate_when_unhealthy: demos False"):
        load_demos("walker2d", env=make_vec_env("Walker2d-v5", 1, seed=0))
    assert len(load_demos("walker2d", env=walker, n_episodes=1)) == 1000


def test_the_refusal_suggests_tasks_from_the_users_own_data_dir(tmp_path):
    # Demos of a user's own data dir: the hint names that dir's tasks for the env, not the shipped ones.
    from sbil.sb3.vec_env import make_vec_env

    (tmp_path / "cheetah").mkdir()
    save_demos(read_demos(ROOT / "expert_data" / "halfcheetah" / "demos.npz").subset(n_episodes=1), tmp_path / "cheetah" / "demos.npz")
    tasks = {"cheetah": {"env_id": "HalfCheetah-v5", "demos": "cheetah/demos.npz",
                         "files": {"cheetah/demos.npz": sha256_file(tmp_path / "cheetah" / "demos.npz")}},
             "my_walker": {"env_id": "Walker2d-v5", "demos": "none.npz", "files": {}}}
    (tmp_path / "manifest.json").write_text(json.dumps({"tasks": tasks}))
    walker = make_vec_env("Walker2d-v5", 1, seed=0, env_kwargs={"terminate_when_unhealthy": False})
    with pytest.raises(SbilError, match=r"tasks in .*: my_walker\)"):
        load_demos("cheetah", env=walker, data_dir=tmp_path)


def test_baselines_refuse_demos_of_another_env():
    from stable_baselines3 import PPO

    from sbil.benchmark.baselines import make_adversarial_trainer, train_bc
    from sbil.sb3.vec_env import make_vec_env

    walker = make_vec_env("Walker2d-v5", 1, seed=0, env_kwargs={"terminate_when_unhealthy": False})
    cheetah = load_demos("halfcheetah", n_episodes=1)
    with pytest.raises(SbilError, match="recorded on HalfCheetah-v5"):
        train_bc(cheetah, walker, n_epochs=1)
    with pytest.raises(SbilError, match="recorded on HalfCheetah-v5"):
        make_adversarial_trainer("gail_so", cheetah, walker, PPO("MlpPolicy", walker, n_steps=64, batch_size=64))


@pytest.mark.slow
def test_a_built_wheel_carries_the_shipped_demos(tmp_path):
    # A regular install (wheel, pip install ., pip install git+...) has no repository around it.
    import shutil
    import subprocess
    import sys
    import zipfile

    # Build from a copy of the tracked tree: pip builds in place, and the checkout's build/ must not leak in.
    src = tmp_path / "src"
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode == 0:
        for name in listed.stdout.split():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    else:  # not a git checkout: the source tree without what builds and runs leave behind
        shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv*", ".git", "build", "*.egg-info", "runs", "results", "__pycache__"))
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "dist")],
                           capture_output=True, text=True, cwd=tmp_path)
    assert build.returncode == 0, build.stderr
    (wheel,) = (tmp_path / "dist").glob("sbil-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(tmp_path / "site")
        # Every subpackage travels with it (setup.cfg lists them one by one). Checked on the file
        # list: importing one would find a missing subpackage in this checkout's editable install.
        packages = {p.relative_to(ROOT).as_posix() for p in (ROOT / "sbil").rglob("__init__.py")}
        assert packages <= set(zf.namelist()), sorted(packages - set(zf.namelist()))
    code = ("import sbil, sbil.data as d; assert sbil.__file__.startswith(%r), sbil.__file__; "
            "print(len(d.load_demos('hopper', n_episodes=1)), d.EXPERT_DATA_DIR)") % str(tmp_path / "site")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=tmp_path, env=env).stdout
    assert out.split()[0] == "1000" and str(tmp_path / "site") in out
