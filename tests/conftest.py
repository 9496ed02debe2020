import os

os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering where EGL exists; render tests skip cleanly elsewhere

import importlib.util
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from gymnasium import spaces

ROOT = Path(__file__).resolve().parent.parent
torch.set_num_threads(1)


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    # Expert-net fits are cached on disk; tests must neither read nor pollute the user's cache.
    mp = pytest.MonkeyPatch()
    mp.setenv("SBIL_CACHE_DIR", str(tmp_path_factory.mktemp("sbil-cache")))
    yield
    mp.undo()


@pytest.fixture
def box2():
    return spaces.Box(-np.inf, np.inf, (2,), np.float32), spaces.Box(-1.0, 1.0, (1,), np.float32)


def toy_batch(mean: float, n: int = 2000, seed: int = 0):
    x = np.random.default_rng(seed).normal(mean, 1.0, (n, 2)).astype(np.float32)
    return SimpleNamespace(obs=x, acts=np.zeros((n, 1), np.float32), next_obs=x, dones=np.zeros(n, bool))


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# Tiny budgets for end-to-end runs of train_smile.py (Pendulum, SAC, about 10 s).
TINY = [
    "total_timesteps=1000", "reward.smiling.expert_grad_steps=200",
    "eval.freq=500", "eval.n_episodes=1", "checkpoint_freq=500", "progress_bar=false", "verbose=0",
    "reward.samples_per_refit=1000", "reward.refit_every=500", "threads=1",
]
