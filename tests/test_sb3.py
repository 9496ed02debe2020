import re
import subprocess
import sys
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import A2C, PPO, SAC, TD3
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv

from sbil.sb3.buffers import RelabelingReplayBuffer
from sbil.sb3.refit import RewardRefitCallback
from sbil.errors import SbilError
from sbil.rewards import RewardLearner, SmilingReward
from sbil.sb3.wrappers import LearnedRewardVecEnv

from conftest import ROOT


class ObsSum(RewardLearner):
    """A user's own learner: reward = sum of next_obs + an offset bumped by every update."""

    def __init__(self, observation_space, action_space, **kw):
        super().__init__(observation_space, action_space, **kw)
        self.offset = 0.0
        self.updates = 0

    def raw_reward(self, obs, acts, next_obs, dones):
        return next_obs.sum(axis=1) + self.offset

    def update(self, obs, acts, next_obs, dones):
        self.offset += 1.0
        self.updates += 1
        self.version += 1
        return {"n": float(len(obs)) if obs is not None else 0.0}


def pendulum_vec(n=2, seed=0):
    return make_vec_env("Pendulum-v1", n_envs=n, seed=seed)


def test_wrapper_replaces_reward_and_keeps_true_return():
    venv = pendulum_vec()
    reward = ObsSum(venv.observation_space, venv.action_space)
    env = LearnedRewardVecEnv(venv, reward)
    env.reset()
    true_total, learned_total = np.zeros(2), np.zeros(2)
    for _ in range(200):  # Pendulum episodes are 200 steps
        acts = np.array([env.action_space.sample() for _ in range(2)])
        new_obs, rews, dones, infos = env.step(acts)
        next_obs = np.array([i.get("terminal_observation", o) for i, o in zip(infos, new_obs)])
        np.testing.assert_allclose(rews, next_obs.sum(1), rtol=1e-5)
        true_total += [i["true_reward"] for i in infos]
        learned_total += rews

    assert dones.all()
    for i, info in enumerate(infos):
        assert info["episode"]["r"] == pytest.approx(true_total[i], rel=1e-4)  # Monitor: true return
        assert info["learned_episode"]["r"] == pytest.approx(learned_total[i], rel=1e-4)


def test_wrapper_refuses_mismatched_learner_and_batch_norm():
    venv = pendulum_vec()
    other = gym.make("MountainCarContinuous-v0")
    with pytest.raises(SbilError, match="Observation space mismatch"):
        LearnedRewardVecEnv(venv, ObsSum(other.observation_space, other.action_space))
    batch = LearnedRewardVecEnv(venv, ObsSum(venv.observation_space, venv.action_space, reward_norm="batch"))
    batch.reset()
    with pytest.raises(SbilError, match="reward_norm='batch'"):  # scoring step by step: 1 env is no batch
        batch.step(np.zeros((venv.num_envs, 1), np.float32))


class NaNAfter(gym.Wrapper):
    def __init__(self, env, after):
        super().__init__(env)
        self.after, self.t = after, 0

    def step(self, action):
        obs, r, term, trunc, info = self.env.step(action)
        self.t += 1
        if self.t >= self.after:
            obs = obs * np.nan
        return obs, r, term, trunc, info


def test_wrapper_stops_on_nan_observation_naming_the_step():
    venv = DummyVecEnv([lambda: NaNAfter(gym.make("Pendulum-v1"), 3)])
    env = LearnedRewardVecEnv(venv, ObsSum(venv.observation_space, venv.action_space))
    env.reset()
    with pytest.raises(SbilError, match="Env step 3: the observation of env\\(s\\) \\[0\\] contains NaN"):
        for _ in range(5):
            env.step(np.zeros((1, 1)))


@pytest.mark.parametrize("cached", [False, True])
def test_relabeling_returns_current_rewards(cached):
    venv = pendulum_vec(1)
    reward = ObsSum(venv.observation_space, venv.action_space)
    model = SAC("MlpPolicy", venv, learning_starts=50, replay_buffer_class=RelabelingReplayBuffer,
                replay_buffer_kwargs={"cached": cached}, seed=0, device="cpu")
    with pytest.raises(SbilError, match="no reward learner attached"):
        model.learn(60)
    model.replay_buffer.reward_fn = reward
    model.learn(100, reset_num_timesteps=False)
    buf = model.replay_buffer
    s1 = buf.sample(64)
    np.testing.assert_allclose(s1.rewards.numpy().ravel(), s1.next_observations.numpy().sum(1), rtol=1e-5)
    reward.update(None, None, None, None)  # the reward function changes: offset 1
    s2 = buf.sample(64)
    np.testing.assert_allclose(s2.rewards.numpy().ravel(), s2.next_observations.numpy().sum(1) + 1.0, rtol=1e-5)
    # Score every slot twice, then once more after a refit: cached, the second pass is all hits and
    # the refit makes every slot stale again; uncached, every pass scores every slot.
    every_slot = np.arange(buf.size())
    before = buf.n_scored
    first = buf._get_samples(every_slot).rewards.numpy()
    after_first = buf.n_scored
    second = buf._get_samples(every_slot).rewards.numpy()
    np.testing.assert_array_equal(first, second)
    assert buf.n_scored - after_first == (0 if cached else buf.size())
    assert after_first - before <= buf.size()
    reward.update(None, None, None, None)
    third = buf._get_samples(every_slot).rewards.numpy()
    np.testing.assert_allclose(third, first + 1.0, rtol=1e-5)
    assert buf.n_scored - after_first == (1 if cached else 2) * buf.size()


def test_relabeling_unscales_actions():
    # Asymmetric bounds (with [-1, 1] ones unscaling is the identity and a missing or wrong
    # unscaling would go unseen): SB3 stores actions scaled to [-1, 1]; the learner must see env units.
    obs_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
    act_space = gym.spaces.Box(np.array([0.0, -3.0], np.float32), np.array([10.0, 1.0], np.float32))

    class ActReward(ObsSum):
        def raw_reward(self, obs, acts, next_obs, dones):
            return acts[:, 0] + 100.0 * acts[:, 1]

    buf = RelabelingReplayBuffer(100, obs_space, act_space, reward_fn=ActReward(obs_space, act_space))
    buf.add(np.zeros((1, 2)), np.zeros((1, 2)), np.array([[0.5, -0.5]]), np.zeros(1), np.zeros(1), [{}])
    # 0.5 -> 0 + 0.75 * 10 = 7.5; -0.5 -> -3 + 0.25 * 4 = -2
    assert buf.sample(1).rewards.item() == pytest.approx(7.5 + 100.0 * -2.0)


@pytest.mark.parametrize("algo", [PPO, A2C, SAC, TD3])
def test_stock_sb3_algorithms_run_and_refit(algo):
    venv = pendulum_vec(2 if algo in (PPO, A2C) else 1)
    reward = ObsSum(venv.observation_space, venv.action_space, reward_norm="running")
    if algo in (PPO, A2C):
        model = algo("MlpPolicy", LearnedRewardVecEnv(venv, reward), n_steps=64, seed=0, device="cpu")
    else:
        model = algo("MlpPolicy", venv, learning_starts=64, replay_buffer_class=RelabelingReplayBuffer, seed=0, device="cpu")
    callback = RewardRefitCallback(reward, refit_every=100, buffer_size=150, samples_per_refit=50)
    model.learn(300, callback=callback)
    assert reward.updates >= 2 and callback.size == 150  # bounded learner buffer


def test_added_transitions_feed_refits_and_stay_bounded():
    venv = pendulum_vec(1)
    reward = ObsSum(venv.observation_space, venv.action_space)
    callback = RewardRefitCallback(reward, buffer_size=100, samples_per_refit=40)
    obs = np.random.default_rng(0).normal(size=(250, 3)).astype(np.float32)
    callback.add_transitions(obs, np.zeros((250, 1)), obs, np.zeros(250, bool))
    assert callback.size == 100 and np.array_equal(callback.ring.data["obs"][:50], obs[200:])  # the newest 100 kept
    model = SAC("MlpPolicy", venv, learning_starts=10, replay_buffer_class=RelabelingReplayBuffer, seed=0, device="cpu")
    callback.refit_every = 20
    model.learn(20, callback=callback)  # one refit, on a buffer that was full from the start
    assert reward.updates == 1 and callback.size == 100
    with pytest.raises(SbilError, match="expected"):
        callback.add_transitions(obs[:, :2], np.zeros((250, 1)), obs[:, :2], np.zeros(250, bool))
    with pytest.raises(SbilError, match="differ in length"):
        callback.add_transitions(obs, np.zeros((3, 1)), obs, np.zeros(250, bool))


def test_readme_snippet_runs():
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, "README has no python snippet"
    # The snippet as written, on a smaller budget: past the warm-up and one refit is what it shows.
    snippet = blocks[0].replace("model.learn(2_000,", "model.learn(1_100,").replace("expert_grad_steps=2000", "expert_grad_steps=300")
    assert snippet != blocks[0], "the README snippet's budget changed: update this test"
    namespace: dict = {}
    exec(compile(snippet, "README.md", "exec"), namespace)
    assert isinstance(namespace["reward"], SmilingReward) and namespace["model"].num_timesteps >= 1100
    assert namespace["model"].replay_buffer.reward_fn is namespace["reward"]  # the refit callback attached it


def test_speed_benchmark_smoke(tmp_path):
    from conftest import load_script

    bench = load_script("bench_speed")
    assert bench.main(["--quick", "--env", "Pendulum-v1", "--out", str(tmp_path)]) == 0
    assert "PPO + SMILING" in (tmp_path / "speed.md").read_text()


def test_deferred_scoring_matches_per_step_scoring():
    """With the callback, PPO's rollout is scored in one batch at its end: same returns as per step."""
    results = []
    for defer in (True, False):
        venv = pendulum_vec(2)
        reward = ObsSum(venv.observation_space, venv.action_space)
        env = LearnedRewardVecEnv(venv, reward)
        model = PPO("MlpPolicy", env, n_steps=128, batch_size=64, n_epochs=1, seed=0, device="cpu")
        callback = RewardRefitCallback(reward, buffer_size=1000, samples_per_refit=100)
        if not defer:
            callback._find_deferrable_wrapper = lambda: None
        model.learn(256, callback=callback)
        assert env.defer is False  # handed back after training
        results.append((model.rollout_buffer.returns.copy(), model.rollout_buffer.rewards.copy()))
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-4, atol=1e-4)


def test_wrapper_stops_on_non_finite_learned_reward():
    venv = pendulum_vec(2)

    class NaNReward(ObsSum):
        def raw_reward(self, obs, acts, next_obs, dones):
            return np.full(len(obs), np.nan)

    env = LearnedRewardVecEnv(venv, lambda o, a, n, d: np.full(len(o), np.nan))
    env.reset()
    with pytest.raises(SbilError, match="expected 2 finite values"):
        env.step(np.zeros((2, 1)))
    env = LearnedRewardVecEnv(venv, NaNReward(venv.observation_space, venv.action_space))
    env.reset()
    with pytest.raises(SbilError, match="non-finite values"):
        env.step(np.zeros((2, 1)))


@pytest.mark.parametrize("cached", [False, True])
def test_relabeling_stops_on_non_finite_reward_naming_the_env_step(cached):
    venv = pendulum_vec(2)

    class NaNAfterStep(ObsSum):
        def raw_reward(self, obs, acts, next_obs, dones):
            r = next_obs.sum(axis=1)
            r[next_obs[:, 0] > 1e3] = np.nan  # the marked transition only
            return r

    reward = NaNAfterStep(venv.observation_space, venv.action_space)
    buf = RelabelingReplayBuffer(100, venv.observation_space, venv.action_space, n_envs=2, reward_fn=reward, cached=cached)
    obs = np.zeros((2, 3), np.float32)
    for step in range(5):
        nxt = obs.copy()
        if step == 3:
            nxt[1, 0] = 1e4  # vec step 4, env 1 -> env step 3 * 2 + 1 + 1 = 8
        buf.add(obs, nxt, np.zeros((2, 1)), np.zeros(2), np.zeros(2), [{}, {}])
    with pytest.raises(SbilError, match=r"stored at env step\(s\) 8\. The reward learner has diverged"):
        for _ in range(50):  # until a minibatch holds the marked transition
            buf.sample(8)


def _smiling_ppo(refit_in_process, buffer_size=1000, samples_per_refit=200):
    venv = pendulum_vec(2)
    reward = SmilingReward(venv.observation_space, venv.action_space, expert_grad_steps=20, batch_size=64, seed=0, device="cpu")
    demo = np.random.default_rng(0).normal(size=(200, 3)).astype(np.float32)
    reward.fit_expert(SimpleNamespace(obs=demo, acts=np.zeros((200, 1), np.float32), next_obs=demo), use_cache=False)
    model = PPO("MlpPolicy", LearnedRewardVecEnv(venv, reward), n_steps=64, batch_size=64, n_epochs=2, seed=0, device="cpu")
    callback = RewardRefitCallback(reward, buffer_size=buffer_size, samples_per_refit=samples_per_refit, refit_in_process=refit_in_process)
    return model, reward, callback


def test_refits_in_a_child_process_give_the_same_numbers():
    """refit_in_process moves PPO's refits to another core; policy and both score nets end identical,
    through a prefilled buffer, a ring that wraps (the child mirrors it) and a second learn() (a new child)."""
    import torch

    prefill = np.random.default_rng(1).normal(size=(150, 3)).astype(np.float32)
    finals = []
    for in_process in (True, False):
        model, reward, callback = _smiling_ppo(in_process, buffer_size=200, samples_per_refit=100)
        callback.add_transitions(prefill, np.zeros((150, 1), np.float32), prefill, np.zeros(150, bool))
        model.learn(384, callback=callback)
        assert callback.n_refits == 3 and callback._process is None  # all collected, child stopped
        model.learn(256, callback=callback, reset_num_timesteps=False)
        assert callback.n_refits == 5 and callback.ring.added == 150 + 640
        finals.append((model.policy.state_dict(), reward.learner_net.state_dict(), reward.learner_optimizer.state_dict()["state"], reward.version))
    assert finals[0][3] == finals[1][3]
    finals = [f[:3] for f in finals]
    for a, b in zip(*finals):
        for key in a:
            if isinstance(a[key], dict):
                assert all(torch.equal(a[key][k], b[key][k]) for k in a[key]), key
            else:
                assert torch.equal(a[key], b[key]), key


def test_refit_in_process_auto_falls_back_and_true_explains(tmp_path):
    """'auto' refits in place for learners a child cannot rebuild; True says why it cannot."""
    venv = pendulum_vec(1)
    custom = ObsSum(venv.observation_space, venv.action_space)  # not portable_update
    model = PPO("MlpPolicy", LearnedRewardVecEnv(venv, custom), n_steps=32, batch_size=32, n_epochs=1, seed=0, device="cpu")
    auto = RewardRefitCallback(custom, buffer_size=100, samples_per_refit=10)
    model.learn(32, callback=auto)
    assert auto.n_refits == 1 and not auto._in_process and custom.updates == 1
    with pytest.raises(SbilError, match="ObsSum does not declare portable_update"):
        model.learn(32, callback=RewardRefitCallback(custom, refit_in_process=True))

    class LocalSmiling(SmilingReward):  # portable, but a child process cannot import it
        pass

    local = LocalSmiling(venv.observation_space, venv.action_space, device="cpu")
    with pytest.raises(SbilError, match="cannot import .*LocalSmiling.*define it in an importable module"):
        RewardRefitCallback(local, refit_in_process=True)._resolve_in_process()
    assert RewardRefitCallback(local)._resolve_in_process() is False
    with pytest.raises(SbilError, match="refit_in_process='yes' is invalid"):
        RewardRefitCallback(local, refit_in_process="yes")


def test_child_refits_work_from_a_script_without_a_main_guard(tmp_path):
    """The child is not a multiprocessing spawn: a plain top-level script (no __main__ guard) works."""
    script = tmp_path / "plain.py"
    script.write_text(
        "import numpy as np\n"
        "from types import SimpleNamespace\n"
        "from stable_baselines3 import PPO\n"
        "from stable_baselines3.common.env_util import make_vec_env\n"
        "from sbil.sb3.refit import RewardRefitCallback\n"
        "from sbil.rewards import SmilingReward\n"
        "from sbil.sb3.wrappers import LearnedRewardVecEnv\n"
        "env = make_vec_env('Pendulum-v1', n_envs=1, seed=0)\n"
        "reward = SmilingReward(env.observation_space, env.action_space, expert_grad_steps=5, device='cpu')\n"
        "demo = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)\n"
        "reward.fit_expert(SimpleNamespace(obs=demo, acts=np.zeros((50, 1), np.float32), next_obs=demo), use_cache=False)\n"
        "callback = RewardRefitCallback(reward, samples_per_refit=64, refit_in_process=True)\n"
        "PPO('MlpPolicy', LearnedRewardVecEnv(env, reward), n_steps=64, batch_size=64, n_epochs=1, device='cpu').learn(192, callback=callback)\n"
        "print('refits', callback.n_refits)\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "refits 3" in done.stdout


def test_a_failing_child_refit_is_reported():
    model, reward, callback = _smiling_ppo(True)
    reward.cfg.lr = float("nan")  # the child's copy refuses to load: its error comes back here
    with pytest.raises(SbilError, match="lr=nan is invalid"):
        model.learn(256, callback=callback)
    callback.close()


def test_a_refit_child_whose_parent_is_gone_exits_quietly(capfd):
    """A parent killed mid-refit (a stopped sweep) leaves its child nothing to reply to: exit 0, no traceback."""
    from sbil.sb3.refit_process import RefitProcess

    _, reward, _ = _smiling_ppo(True)
    states = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
    data = {"obs": states, "acts": np.zeros((64, 1), np.float32), "next_obs": states, "dones": np.zeros(64, bool)}
    child = RefitProcess()
    child.submit(reward, data, pos=0, added=64, generation=0, idx=np.arange(64))
    child._sender.join()
    child._conn.close()  # the parent vanishes before it collects the reply
    assert child._proc.wait(timeout=120) == 0
    child._dir.cleanup()
    assert "Traceback" not in capfd.readouterr().err


def test_cached_relabeling_rescores_a_slot_overwritten_since_it_was_cached():
    # Once the buffer wraps, a slot holds a new transition; its cached reward (same learner version) is stale.
    env = pendulum_vec(n=1)
    reward = ObsSum(env.observation_space, env.action_space)
    buffer = RelabelingReplayBuffer(4, env.observation_space, env.action_space, reward_fn=reward, cached=True)
    obs = np.zeros((1, 3), np.float32)
    for value in (1.0, 2.0):  # fill all 4 slots with next_obs summing to 3 * value, sample them, then overwrite
        for _ in range(4):
            buffer.add(obs, obs + value, np.zeros((1, 1), np.float32), np.zeros(1), np.zeros(1, bool), [{}])
        rewards = buffer._get_samples(np.arange(4)).rewards.numpy().ravel()
        np.testing.assert_allclose(rewards, 3 * value)


def test_refit_data_are_raw_observations_under_vec_normalize():
    # VecNormalize hands SB3 normalised observations; the reward learner scores raw ones, so it must be refit on raw ones.
    from stable_baselines3.common.vec_env import VecNormalize

    env = VecNormalize(pendulum_vec(n=1), norm_obs=True, norm_reward=False)
    reward = ObsSum(env.observation_space, env.action_space)
    refit = RewardRefitCallback(reward, refit_every=100, buffer_size=1000)
    model = SAC("MlpPolicy", env, learning_starts=100, buffer_size=1000, replay_buffer_class=RelabelingReplayBuffer, seed=0)
    model.learn(300, callback=refit)
    stored = model.replay_buffer
    n = refit.size
    np.testing.assert_allclose(refit.ring.data["obs"][:n], stored.observations[:n, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(refit.ring.data["next_obs"][:n], stored.next_observations[:n, 0], rtol=1e-5, atol=1e-6)


def test_batch_normalisations_refuse_batches_too_small_to_normalise():
    # Median / MAD over a handful of rewards is noise (with one env: all zeros); say how to score instead.
    venv = pendulum_vec(n=1)
    reward = ObsSum(venv.observation_space, venv.action_space, reward_norm="robust", reward_clip=3.0, reward_floor=0.0)
    with pytest.raises(SbilError, match="only 8 rewards.*reward_norm='running'"):
        reward.normalize(np.arange(8.0))
    # VecNormalize(norm_reward=True) above the wrapper forces step-by-step scoring: refused before training.
    from stable_baselines3.common.vec_env import VecNormalize

    env = VecNormalize(LearnedRewardVecEnv(venv, reward), norm_obs=False, norm_reward=True)
    with pytest.raises(SbilError, match="norm_reward=True.*norm_reward=False"):
        PPO("MlpPolicy", env, n_steps=64, batch_size=64, seed=0).learn(64, callback=RewardRefitCallback(reward))


def test_norm_window_takes_the_normalisation_from_recent_transitions_not_the_rollout_alone():
    """With norm_window, a rollout's robust normalisation uses the median and MAD of the newest
    transitions (here: the last two rollouts), all scored by the reward of the moment."""

    venv = pendulum_vec(2)
    reward = ObsSum(venv.observation_space, venv.action_space, reward_norm="robust", reward_scale=1.0)
    env = LearnedRewardVecEnv(venv, reward)
    model = PPO("MlpPolicy", env, n_steps=128, batch_size=64, n_epochs=1, seed=0, device="cpu")
    callback = RewardRefitCallback(reward, buffer_size=1000, samples_per_refit=100, refit_in_process=False, norm_window=512)
    scored, score = [], env.score

    def spy(*record, reference=None):
        assert reference is not None and len(reference[0]) == min(512, callback.size)  # every rollout went through the window
        scored.append(score(*record, reference=reference))
        return scored[-1]

    env.score = spy
    model.learn(1024, callback=callback)
    assert len(scored) == 4
    # The last rollout was scored before the last refit (offset one lower), against the newest 512
    # transitions (that rollout and the one before it).
    data, pos, n = callback.ring.data, callback.ring.pos, callback.ring.capacity
    offset = reward.offset - 1.0
    ref = data["next_obs"][(pos - 1 - np.arange(512)) % n].sum(axis=1) + offset
    raw = data["next_obs"][(pos - 256 + np.arange(256)) % n].sum(axis=1) + offset
    median, mad = np.median(ref), np.median(np.abs(ref - np.median(ref)))
    np.testing.assert_allclose(scored[-1].reshape(-1), (raw - median) / (1.4826 * mad + 1e-8), rtol=1e-4, atol=1e-4)
    alone = (raw - np.median(raw)) / (1.4826 * np.median(np.abs(raw - np.median(raw))) + 1e-8)
    assert not np.allclose(scored[-1].reshape(-1), alone, atol=1e-2)
    with pytest.raises(SbilError, match="norm_window"):
        RewardRefitCallback(reward, norm_window=-1)


@pytest.mark.parametrize("deferred", [False, True])
def test_wrapper_snapshot_continues_mid_episode_exactly_under_vecnormalize(deferred):
    """The wrapper declares its state (snapshot_state), VecNormalize above it keeps its own (its
    statistics): restored into a freshly built stack mid-episode (and mid-rollout when deferred),
    the next steps return, record and report exactly what the original stack does."""
    from stable_baselines3.common.vec_env import VecNormalize

    from sbil.sb3.envstate import get_vec_env_state, set_vec_env_state
    from sbil.sb3.vec_env import make_vec_env as sbil_make_vec_env

    def stack():
        venv = sbil_make_vec_env("Pendulum-v1", 2, seed=0)
        wrapper = LearnedRewardVecEnv(venv, ObsSum(venv.observation_space, venv.action_space, reward_norm="none"))
        return VecNormalize(wrapper, norm_obs=True, norm_reward=False), wrapper

    def steps(env, n, seed):
        rng = np.random.default_rng(seed)
        out = []
        for _ in range(n):
            obs, rew, done, infos = env.step(rng.uniform(-2, 2, (2, 1)).astype(np.float32))
            out.append((obs, rew, done, [info.get("learned_episode") for info in infos]))
        return out

    env, wrapper = stack()
    env.reset()
    wrapper.defer = deferred
    steps(env, 150, seed=0)  # Pendulum episodes are 200 steps: the next 100 cross an episode end
    state = get_vec_env_state(env)
    after, record = steps(env, 100, seed=1), wrapper.pop_rollout()
    fresh, fresh_wrapper = stack()
    fresh.reset()
    assert set_vec_env_state(fresh, state)
    assert fresh.obs_rms.count == pytest.approx(env.obs_rms.count - 200)  # 100 steps of 2 envs ago
    again, fresh_record = steps(fresh, 100, seed=1), fresh_wrapper.pop_rollout()
    for a, b in zip(after, again):
        for x, y in zip(a[:3], b[:3]):
            np.testing.assert_array_equal(x, y)
        assert a[3] == b[3]
    if deferred:
        for x, y in zip(record, fresh_record):
            np.testing.assert_array_equal(x, y)
    else:
        assert any(e is not None for a in after for e in a[3])  # an episode ended, its learned return reported
