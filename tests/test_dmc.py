"""The DeepMind Control tasks (dmc extra, mujoco 3.17, a separate environment; skipped elsewhere)."""

import gymnasium as gym
import numpy as np
import pytest

import sbil  # noqa: F401  (registers the ids)
from sbil.sb3.envstate import _env_state, _set_env_state
from sbil_envs import EnvError
from sbil_envs import DMC_ENV_IDS
from sbil_envs.dmc import dmc_available

needs_dmc = pytest.mark.skipif(not dmc_available(), reason="needs the dmc extra with mujoco 3.17 (SBIL_VENV=.venv-dmc SBIL_EXTRAS=test,dmc bash scripts/install.sh)")


def test_ids_are_registered_and_a_missing_extra_names_the_fix():
    assert set(DMC_ENV_IDS) <= set(gym.registry)
    if dmc_available():
        pytest.skip("the dmc extra is installed here")
    with pytest.raises(EnvError, match=r"pip install -e \.\[dmc\].*mujoco==3\.17"):
        gym.make("sbil/DMCCheetahRun-v0")


@needs_dmc
@pytest.mark.parametrize("env_id", DMC_ENV_IDS)
def test_flat_observation_fixed_horizon_and_check_env(env_id):
    from gymnasium.utils.env_checker import check_env

    env = gym.make(env_id)
    assert len(env.observation_space.shape) == 1
    check_env(env, skip_render_check=True)
    env.reset(seed=0)
    for step in range(1, 1001):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        assert not terminated
        if truncated:
            break
    assert step == 1000


@needs_dmc
@pytest.mark.parametrize("env_id", DMC_ENV_IDS)
def test_snapshot_restores_physics_and_rng_exactly(env_id):
    """What exact resume of a training run relies on: a restored env continues identically."""
    actions = np.random.default_rng(0).uniform(-1, 1, (200, *gym.make(env_id).action_space.shape))
    env = gym.make(env_id)
    env.reset(seed=1)
    for a in actions[:100]:
        env.step(a)
    state = _env_state(env)
    expected = [env.step(a) for a in actions[100:]]
    other = gym.make(env_id)
    other.reset(seed=2)
    _set_env_state(other, state)
    for (obs, rew, *_), (obs2, rew2, *_) in zip(expected, (other.step(a) for a in actions[100:])):
        np.testing.assert_array_equal(obs, obs2)
        assert rew == rew2
    np.testing.assert_array_equal(env.reset()[0], other.reset()[0])
