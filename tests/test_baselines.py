import numpy as np
import pytest
from stable_baselines3 import PPO

from sbil.baselines import check_baseline, evaluate, make_adversarial_trainer, train_bc
from sbil.data import load_demos
from sbil.envs import make_vec_env
from sbil.errors import SbilError


@pytest.mark.parametrize("name", ["gail", "airl_so"])
def test_adversarial_baselines_train_on_our_demos(name):
    demos = load_demos("pendulum")
    venv = make_vec_env("Pendulum-v1", 2, seed=0)
    learner = PPO("MlpPolicy", venv, n_steps=128, batch_size=128, seed=0, device="cpu")
    trainer = make_adversarial_trainer(name, demos, venv, learner, demo_batch_size=256)
    trainer.train(512)
    mean, _ = evaluate(learner, make_vec_env("Pendulum-v1", 1, seed=1), 2)
    assert np.isfinite(mean) and learner.num_timesteps >= 512


def test_bc_and_names():
    demos = load_demos("pendulum")
    env = make_vec_env("Pendulum-v1", 1, seed=1)
    policy = train_bc(demos, env, n_epochs=1)
    assert np.isfinite(evaluate(policy, env, 1)[0])
    with pytest.raises(SbilError, match="valid: gail, gail_so, airl, airl_so, bc"):
        check_baseline("dac")
