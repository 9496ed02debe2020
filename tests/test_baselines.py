import numpy as np
import pytest
from stable_baselines3 import PPO

from sbil.benchmark.baselines import check_baseline, evaluate, make_adversarial_trainer, train_bc
from sbil.data import load_demos
from sbil.sb3.rollouts import rollout_episodes
from sbil.sb3.vec_env import make_vec_env
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
    # The discriminator was fed our demos: it rewards the expert's transitions above a random
    # policy's (fed nothing, or the demos' fields mixed up, it would not).
    ep = rollout_episodes(None, "Pendulum-v1", {}, 2, seed=5)
    rand = [np.concatenate([e[k] for e in ep]) for k in ("obs", "acts", "next_obs")]
    expert_r = trainer.reward_train.predict_processed(demos.obs, demos.acts, demos.next_obs, demos.dones)
    random_r = trainer.reward_train.predict_processed(*rand, np.zeros(len(rand[0]), bool))
    assert expert_r.mean() > random_r.mean()


def test_bc_and_names():
    demos = load_demos("pendulum")
    env = make_vec_env("Pendulum-v1", 1, seed=1)
    policy = train_bc(demos, env, n_epochs=1)
    assert np.isfinite(evaluate(policy, env, 1)[0])
    with pytest.raises(SbilError, match="valid: gail, gail_so, airl, airl_so, bc"):
        check_baseline("dac")


def test_gail_with_normalized_observations_keeps_the_discriminator_on_raw_ones():
    from stable_baselines3.common.vec_env import unwrap_vec_normalize

    from sbil.sb3.callbacks import EvalCallback
    from sbil.sb3.vec_env import normalize_obs

    demos = load_demos("pendulum")
    venv = make_vec_env("Pendulum-v1", 2, seed=0)
    learner = PPO("MlpPolicy", venv, n_steps=128, batch_size=128, seed=0, device="cpu")
    trainer = make_adversarial_trainer("gail_so", demos, venv, learner, demo_batch_size=256, normalize_obs=True)
    evaluator = EvalCallback(normalize_obs(make_vec_env("Pendulum-v1", 1, seed=1), training=False), 256, 1)
    trainer.gen_callback = [trainer.gen_callback, evaluator]
    trainer.train(512)
    norm = unwrap_vec_normalize(learner.get_env())
    assert norm is not None and norm.obs_rms.count > 512
    # What the discriminator learns from: the generator's raw observations (Pendulum's cos/sin/velocity),
    # not the policy's normalised ones.
    gen_obs = trainer._gen_replay_buffer.sample(256).obs
    assert np.allclose(gen_obs[:, 0] ** 2 + gen_obs[:, 1] ** 2, 1.0, atol=1e-5)
    # The evaluation used the policy's statistics.
    assert np.array_equal(unwrap_vec_normalize(evaluator.eval_env).obs_rms.mean, norm.obs_rms.mean)
    with pytest.raises(SbilError, match="AIRL's discriminator"):
        make_adversarial_trainer("airl", demos, venv, learner, normalize_obs=True)


def test_evaluating_a_normalized_policy_on_raw_observations_is_refused():
    from sbil.sb3.callbacks import EvalCallback
    from sbil.sb3.vec_env import normalize_obs

    learner = PPO("MlpPolicy", normalize_obs(make_vec_env("Pendulum-v1", 1, seed=0)), n_steps=64, batch_size=64, device="cpu")
    evaluator = EvalCallback(make_vec_env("Pendulum-v1", 1, seed=1), 64, 1)
    with pytest.raises(SbilError, match="eval env does not"):
        learner.learn(64, callback=evaluator)
