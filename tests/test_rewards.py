from types import SimpleNamespace

import numpy as np
import pytest
import torch
from gymnasium import spaces

from sbil.errors import SbilError
from sbil.rewards import LinearSmilingReward, RewardLearner, SmilingReward, load_reward
from sbil.rewards.diffusion import NoiseSchedule, sample_noise, sample_timesteps

from conftest import toy_batch


def fitted(box2, steps=1500, refits=4, **kw):
    obs_space, act_space = box2
    reward = SmilingReward(obs_space, act_space, expert_grad_steps=steps, reward_norm="none", **kw)
    reward.fit_expert(toy_batch(0.0))
    learner = toy_batch(3.0, seed=1)
    for _ in range(refits):
        reward.update(learner.obs, learner.acts, learner.next_obs, learner.dones)
    return reward


def rewards_of(reward, batch):
    return reward(batch.obs, batch.acts, batch.next_obs, batch.dones)


@pytest.mark.parametrize("variant", [{}, {"use_action": True}, {"score_net": "linear"}, {"estimator": "reference", "n_t_samples": 100}])
def test_expert_states_score_above_off_distribution(box2, variant):
    reward = fitted(box2, **variant)
    expert, off = rewards_of(reward, toy_batch(0.0, 500, seed=5)), rewards_of(reward, toy_batch(3.0, 500, seed=6))
    assert expert.mean() > off.mean()
    if not variant.get("use_action"):  # state-action: actions carry no signal in this toy
        assert (expert[:, None] > off[None, :]).mean() > 0.9
    # Equally far from the expert's states on either side, only the learner net tells states apart
    # (the expert term alone scores both alike): where the learner goes must score below where it
    # does not (0.96-0.98 of pairs here). Not the linear score net: in this toy it ranks them at chance
    # (0.47), a limitation of its score function that this test records rather than hides.
    if variant.get("score_net") != "linear":
        toward, away = rewards_of(reward, toy_batch(1.5, 500, seed=7)), rewards_of(reward, toy_batch(-1.5, 500, seed=8))
        assert (away[:, None] > toward[None, :]).mean() > 0.75


def test_interface_contract(box2):
    reward = fitted(box2, steps=50, refits=1)
    assert isinstance(reward, RewardLearner)
    b = toy_batch(0.0, 37)
    r = rewards_of(reward, b)
    assert r.shape == (37,) and r.dtype == np.float32 and np.all(np.isfinite(r))
    v = reward.version
    stats = reward.update(b.obs, b.acts, b.next_obs, b.dones)
    assert reward.version == v + 1
    assert set(stats) == {"learner_loss", "expert_loss", "ds_divergence"}


def test_reward_norms(box2):
    b = toy_batch(1.0, 512)
    r = fitted(box2, steps=50, refits=1)
    r.reward_norm, r.reward_scale = "batch", 0.1
    out = rewards_of(r, b)
    assert abs(out.mean()) < 1e-4 and abs(out.std() - 0.1) < 1e-3
    r.reward_norm = "running"
    rewards_of(r, b)
    assert r.reward_stats.count > 1


def test_robust_norm_and_clip_keep_a_few_wild_rewards_from_setting_the_scale(box2):
    r = fitted(box2, steps=10, refits=0)
    raw = np.concatenate([np.random.default_rng(0).normal(5.0, 2.0, 990), np.full(10, -4000.0)])  # 1% wild states
    r.reward_scale = 1.0
    r.reward_norm = "batch"
    assert np.std(r.normalize(raw)[:990]) < 0.02  # the wild 1% set the scale: the rest look alike
    r.reward_norm = "robust"
    robust = r.normalize(raw)
    assert 0.9 < np.std(robust[:990]) < 1.1 and abs(np.median(robust)) < 0.05
    r.reward_clip = 3.0
    clipped = r.normalize(raw)
    assert clipped.min() == -3.0 and clipped.max() <= 3.0
    np.testing.assert_allclose(clipped[np.abs(robust) < 3], robust[np.abs(robust) < 3])
    r.reward_floor = 0.0  # one-sided, as GAIL's -log(1 - D): the wild states count as nothing, not as a penalty
    floored = r.normalize(raw)
    assert floored.min() == 0.0 and np.all(floored[:990][robust[:990] > 0] == clipped[:990][robust[:990] > 0])
    with pytest.raises(SbilError, match="reward_clip"):
        SmilingReward(*box2, reward_clip=0.0)
    with pytest.raises(SbilError, match="reward_floor"):
        SmilingReward(*box2, reward_clip=1.0, reward_floor=2.0)


def test_save_load_round_trip(box2, tmp_path):
    reward = fitted(box2, steps=100, refits=2, reward_scale=0.5)
    reward.save(tmp_path / "r.pt")
    loaded = load_reward(tmp_path / "r.pt")
    assert type(loaded) is SmilingReward and loaded.cfg == reward.cfg and loaded.version == reward.version
    b = toy_batch(1.0, 64)
    np.testing.assert_array_equal(rewards_of(reward, b), rewards_of(loaded, b))  # same weights and RNG state
    assert SmilingReward.load(tmp_path / "r.pt").reward_scale == 0.5


def test_qmc_reward_is_a_function_of_the_state_between_refits(box2, tmp_path):
    """One set of quasi-random draws per learner version: a state scores the same alone or in any
    batch (a cached replay slot agrees with a fresh one), new draws after a refit, and a saved
    learner keeps its draws."""
    reward = fitted(box2, steps=50, refits=1)
    b = toy_batch(1.0, 64)
    whole = reward.raw_reward(b.obs, b.acts, b.next_obs, b.dones)
    parts = np.concatenate([reward.raw_reward(b.obs[i:i + 5], b.acts[i:i + 5], b.next_obs[i:i + 5], b.dones[i:i + 5]) for i in range(0, 64, 5)])
    np.testing.assert_allclose(parts, whole, rtol=1e-5, atol=1e-6)
    reward.save(tmp_path / "r.pt")
    np.testing.assert_array_equal(load_reward(tmp_path / "r.pt").raw_reward(b.obs, b.acts, b.next_obs, b.dones), whole)
    draws = reward._draws[2]
    reward.update(b.obs, b.acts, b.next_obs, b.dones)
    reward.raw_reward(b.obs, b.acts, b.next_obs, b.dones)
    assert reward._draws[2] != draws


def test_load_rejects_bad_files_and_other_envs(box2, tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(SbilError, match="not a readable sbil reward file"):
        load_reward(tmp_path / "junk.pt")
    with pytest.raises(SbilError, match="does not exist"):
        load_reward(tmp_path / "missing.pt")
    reward = fitted(box2, steps=10, refits=0)
    reward.save(tmp_path / "r.pt")
    import gymnasium as gym

    with pytest.raises(SbilError, match="Observation space mismatch"):
        load_reward(tmp_path / "r.pt", env=gym.make("Pendulum-v1"))


@pytest.mark.parametrize("name, message", [
    ("collections:OrderedDict", "not sbil's"),  # a foreign module: nothing of it is imported or called
    ("sbil.errors:SbilError", "not a RewardLearner subclass"),
    ("sbil.rewards:NoSuchReward", "cannot be imported"),
    ("no-colon", "names no reward learner class"),
])
def test_load_refuses_files_naming_anything_but_a_reward_learner(box2, tmp_path, name, message):
    import torch as th

    fitted(box2, steps=10, refits=0).save(tmp_path / "r.pt")
    payload = th.load(tmp_path / "r.pt", weights_only=True)
    payload["class"] = name
    th.save(payload, tmp_path / "forged.pt")
    with pytest.raises(SbilError, match=message):
        load_reward(tmp_path / "forged.pt")


def test_load_takes_a_users_own_learner_from_an_allowed_module(box2, tmp_path, monkeypatch):
    import sys
    import types

    module = types.ModuleType("my_rewards")

    class Constant(RewardLearner):
        def raw_reward(self, obs, acts, next_obs, dones):
            return np.ones(len(obs), np.float32)

    Constant.__module__, Constant.__qualname__ = module.__name__, "Constant"
    module.Constant = Constant
    monkeypatch.setitem(sys.modules, module.__name__, module)
    obs_space, act_space = box2
    Constant(obs_space, act_space).save(tmp_path / "c.pt")
    with pytest.raises(SbilError, match="allowed_modules"):
        load_reward(tmp_path / "c.pt")
    assert isinstance(load_reward(tmp_path / "c.pt", allowed_modules=["my_rewards"]), Constant)


def test_expert_fit_is_cached(box2, tmp_path):
    obs_space, act_space = box2
    first = SmilingReward(obs_space, act_space, expert_grad_steps=300)
    assert first.fit_expert(toy_batch(0.0), cache_dir=tmp_path)["cached"] == 0
    second = SmilingReward(obs_space, act_space, expert_grad_steps=300)
    assert second.fit_expert(toy_batch(0.0), cache_dir=tmp_path)["cached"] == 1
    for a, b in zip(first.expert_net.parameters(), second.expert_net.parameters()):
        assert torch.equal(a, b)
    other = SmilingReward(obs_space, act_space, expert_grad_steps=301)
    assert other.fit_expert(toy_batch(0.0), cache_dir=tmp_path)["cached"] == 0


def test_bad_inputs_are_named(box2):
    obs_space, act_space = box2
    reward = SmilingReward(obs_space, act_space, expert_grad_steps=10)
    b = toy_batch(0.0, 10)
    with pytest.raises(SbilError, match="not fitted"):
        rewards_of(reward, b)
    bad = toy_batch(0.0, 10)
    bad.obs[3, 1] = np.nan
    with pytest.raises(SbilError, match="NaN"):
        reward.fit_expert(bad)
    empty = toy_batch(0.0, 0)
    with pytest.raises(SbilError, match="empty"):
        reward.fit_expert(empty)
    reward.fit_expert(b)
    with pytest.raises(SbilError, match="expected \\(batch, 2\\)"):
        reward(np.zeros((4, 3)), np.zeros((4, 1)), np.zeros((4, 3)), np.zeros(4))
    with pytest.raises(SbilError, match="n_t_samples"):
        SmilingReward(obs_space, act_space, n_t_samples=0)
    with pytest.raises(SbilError, match="Unknown SMILING config keys"):
        SmilingReward(obs_space, act_space, n_t_sample=3)
    with pytest.raises(SbilError, match="reward_norm"):
        SmilingReward(obs_space, act_space, reward_norm="z")


def test_linear_variant_and_samplers():
    obs_space = spaces.Box(-1, 1, (3,), np.float32)
    r = LinearSmilingReward(obs_space, spaces.Box(-1, 1, (1,), np.float32))
    assert r.cfg.score_net == "linear"
    t = sample_timesteps("stratified", 5, 8, 5000, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert t.shape == (5, 8) and t.min() >= 0 and t.max() < 5000
    assert torch.all((t // 625) == torch.arange(8))  # one draw per stratum
    grid = sample_timesteps("reference", 2, 500, 5000, None, torch.device("cpu"))
    assert torch.equal(grid[0], torch.arange(0, 5000, 10))
    eps = sample_noise(4, 6, 3, True, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert torch.equal(eps[:, :3], -eps[:, 3:])
    sched = NoiseSchedule(5000)
    assert sched.sqrt_abar[0] > 0.99 and sched.sqrt_abar[-1] < 0.01


def test_non_finite_rewards_and_exploding_losses_stop_with_a_message(box2):
    reward = fitted(box2, steps=20, refits=0)
    with pytest.raises(SbilError, match="non-finite values"):
        reward.normalize(np.array([0.0, np.nan]))
    b = toy_batch(0.0, 64)
    with torch.no_grad():
        for p in reward.learner_net.parameters():
            p.fill_(float("inf"))
    with pytest.raises(SbilError, match="loss exploded"):
        reward.update(b.obs, b.acts, b.next_obs, b.dones)


def test_construction_is_seeded_and_leaves_global_rng_alone(box2):
    obs_space, act_space = box2
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = SmilingReward(obs_space, act_space, seed=5)
    assert torch.equal(torch.rand(1), before)
    b = SmilingReward(obs_space, act_space, seed=5)
    for p, q in zip(a.learner_net.parameters(), b.learner_net.parameters()):
        assert torch.equal(p, q)


def test_gail_reward_is_a_peer(box2, tmp_path):
    from sbil.rewards import GailReward

    obs_space, act_space = box2
    for use_action in (True, False):
        gail = GailReward(obs_space, act_space, use_action=use_action, reward_norm="none", n_disc_updates=200, batch_size=128, lr=1e-3)
        gail.fit_expert(toy_batch(0.0))
        learner = toy_batch(3.0, seed=1)
        stats = gail.update(learner.obs, learner.acts, learner.next_obs, learner.dones)
        assert stats["disc_acc_expert"] > 0.8 and stats["disc_acc_learner"] > 0.8
        expert_r, off_r = rewards_of(gail, toy_batch(0.0, 200, seed=7)), rewards_of(gail, toy_batch(3.0, 200, seed=8))
        assert expert_r.mean() > off_r.mean()
    gail.save(tmp_path / "g.pt")
    loaded = load_reward(tmp_path / "g.pt")
    b = toy_batch(1.0, 32)
    np.testing.assert_allclose(rewards_of(loaded, b), rewards_of(gail, b), rtol=1e-6)
    with pytest.raises(SbilError, match="no expert demos"):
        loaded.update(b.obs, b.acts, b.next_obs, b.dones)
    # The minibatch sampler is part of the saved state: a reloaded learner refits exactly like the original.
    loaded.fit_expert(toy_batch(0.0))
    assert loaded.update(b.obs, b.acts, b.next_obs, b.dones) == gail.update(b.obs, b.acts, b.next_obs, b.dones)


@pytest.mark.parametrize("kind", ["mlp", "linear"])
def test_shared_draw_fast_path_equals_the_plain_forward(kind):
    """The qmc estimator's fused first layer gives the same rewards as noising every input explicitly."""
    from sbil.rewards.diffusion import NoiseSchedule, sample_qmc, smiling_reward, smiling_reward_shared
    from sbil.rewards.nets import ScoreNet

    torch.manual_seed(0)
    expert, learner = ScoreNet(7, hidden_size=32, kind=kind), ScoreNet(7, hidden_size=32, kind=kind)
    schedule = NoiseSchedule(num_train_timesteps=100)
    x = torch.randn(50, 7)
    t, eps = sample_qmc(16, 7, 100, seed=3, device=torch.device("cpu"))
    with torch.inference_mode():
        for form in ("loss", "score"):
            plain = smiling_reward(expert, learner, x, schedule, t.expand(50, 16), eps.expand(50, 16, 7), form)
            fused = smiling_reward_shared(expert, learner, x, schedule, t, eps, form)
            torch.testing.assert_close(fused, plain, rtol=1e-4, atol=1e-5)


def states(center, spread, n, seed, dim=8):
    """(speed, height, six joint angles): ``center`` gives speed and height, joints at ``center[2]``."""
    mean = np.array([center[0], center[1]] + [center[2] if len(center) > 2 else 0.0] * (dim - 2))
    x = np.random.default_rng(seed).normal(mean, spread, (n, dim)).astype(np.float32)
    return {"obs": x, "acts": np.zeros((n, 1), np.float32), "next_obs": x, "dones": np.zeros(n, bool)}


@pytest.mark.parametrize("processing, moving_wins", [
    ({"reward_norm": "running"}, False),  # the old default: unbounded below
    ({"reward_norm": "batch", "reward_clip": 3.0}, False),  # clipped, but the falls set the batch's scale
    ({"reward_norm": "robust", "reward_clip": 3.0, "reward_floor": 0.0}, True),
    ({}, True),  # the defaults: rank, kept in [-1, 3]
])
def test_a_learner_that_moves_like_the_expert_and_sometimes_falls_beats_one_that_stands(processing, moving_wins):
    """The way out of parking, in the reward. The expert moves at speed 2, upright; the learner fell
    at first (lying: height -3, joints bent) and has learned to stand (speed 0); trying to move like
    the expert, it falls in a fifth of its steps. Within one rollout, the moving episode must earn
    more than the standing one, as the true reward says. Unbounded below, the fallen states' reward
    (far from the expert's in every coordinate, where the expert net's error is huge) outweighs
    everything: standing wins and the learner parks, as PPO on Hopper did (results/ablation/).
    One-sided (floor 0, like GAIL's -log(1 - D) >= 0), a fall is worth no less than the rollout's
    median state, and moving wins."""
    obs_space = spaces.Box(-np.inf, np.inf, (8,), np.float32)
    act_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
    expert = states((2.0, 1.0), 0.2, 2000, seed=0)
    history = {k: np.concatenate([a, b]) for (k, a), b in zip(states((0.0, 1.0), 0.05, 1800, seed=1).items(),
                                                              states((0.0, -3.0, 1.5), 0.05, 200, seed=5).values())}
    reward = SmilingReward(obs_space, act_space, expert_grad_steps=1500, reward_scale=1.0, **processing)
    reward.fit_expert(SimpleNamespace(**expert))
    for _ in range(20):
        reward.update(**history)
    moving = {k: np.concatenate([a, b]) for (k, a), b in zip(states((1.8, 1.0), 0.2, 800, seed=2).items(),
                                                             states((0.0, -3.0, 1.5), 0.05, 200, seed=3).values())}
    stand = states((0.0, 1.0), 0.05, 1000, seed=4)
    rollout = {k: np.concatenate([moving[k], stand[k]]) for k in moving}  # one rollout, two episodes
    r = reward(**rollout)
    assert bool(r[:1000].sum() > r[1000:].sum()) is moving_wins, (r[:800].mean(), r[800:1000].mean(), r[1000:].mean())


def test_reward_draws_stay_in_the_informative_steps_and_score_state_picks_the_state(box2):
    obs_space, act_space = box2
    reward = SmilingReward(obs_space, act_space, expert_grad_steps=10, reward_norm="none", reward_min_signal=0.02, n_t_samples=64)
    assert reward.reward_steps == NoiseSchedule().informative_steps(0.02) == int((NoiseSchedule().sqrt_abar >= 0.02).sum())
    reward.fit_expert(toy_batch(0.0))
    b = toy_batch(1.0, 64)
    reward(b.obs, b.acts, b.next_obs, b.dones)
    t, _ = reward._version_draws(64)
    assert int(t.max()) < reward.reward_steps < 5000 and len(torch.unique(t)) == 64
    # The state-only reward scores next_obs by default, obs (the reference's SAC path) on request.
    shifted = b.next_obs + 2.0
    by_next = SmilingReward(obs_space, act_space, expert_grad_steps=10, reward_norm="none")
    by_obs = SmilingReward(obs_space, act_space, expert_grad_steps=10, reward_norm="none", score_state="obs")
    for r in (by_next, by_obs):
        r.fit_expert(toy_batch(0.0))
    np.testing.assert_allclose(by_obs(b.obs, b.acts, shifted, b.dones), by_next(b.obs, b.acts, b.obs, b.dones), rtol=1e-5)


def test_fidelity_tells_a_faithful_estimator_from_a_noisy_one(box2):
    from sbil.rewards.fidelity import Estimator, fidelity, precise_rewards, split_half_ceiling, state_inputs

    reward = fitted(box2)
    rng = np.random.default_rng(0)
    # a narrow set: states around one point, where rankings are hard
    inputs = state_inputs(reward, {"narrow": (0.3 + 0.2 * rng.standard_normal((256, 2))).astype(np.float32)})
    gen = torch.Generator().manual_seed(0)
    precise = precise_rewards(reward, inputs, 16, gen)
    assert precise["narrow"].shape == (16, 256)
    rho = {k: fidelity(reward, inputs, precise, Estimator(str(k), "qmc", k, 0.02), gen)["narrow"]["spearman"] for k in (1, 128)}
    ceiling = split_half_ceiling(precise)["narrow"]
    assert rho[128] > rho[1] + 0.1 and 0.5 < ceiling <= 1.0
    assert rho[128] <= ceiling + 0.02  # a ceiling: no estimator tracks the noisy precise reward better than the truth would
    with pytest.raises(SbilError, match="state-only"):
        state_inputs(SmilingReward(*box2, use_action=True), {"x": np.zeros((2, 2), np.float32)})


def test_fidelity_ceiling_is_the_square_root_of_the_spearman_brown_reliability():
    from sbil.rewards.fidelity import split_half_ceiling

    rng = np.random.default_rng(0)
    truth = rng.standard_normal(2000)
    # Two draws whose halves correlate by r (Gaussian, where Spearman ~ Pearson): noise sd chosen for r = 0.6.
    noise = np.sqrt(1 / 0.6 - 1)
    draws = truth + noise * rng.standard_normal((2, 2000))
    r_ranks = 6 / np.pi * np.arcsin(0.6 / 2)  # Spearman of a Gaussian pair with Pearson 0.6
    assert split_half_ceiling({"s": draws})["s"] == pytest.approx(np.sqrt(2 * r_ranks / (1 + r_ranks)), abs=0.02)
    assert split_half_ceiling({"s": np.stack([truth, -truth])})["s"] == 0.0  # halves disagree: nothing to rank by
    assert np.isnan(split_half_ceiling({"s": np.ones((4, 10))})["s"])  # constant rewards: undefined, not "all noise"
    assert split_half_ceiling({"s": np.stack([truth, truth, rng.standard_normal(2000)])})["s"] == pytest.approx(1.0)  # odd: equal halves
    with pytest.raises(SbilError, match="at least 2"):
        split_half_ceiling({"s": truth[None]})


def test_reward_center_moves_the_robust_centre_to_a_quantile(box2):
    """reward_center=q: the batch's q-quantile earns 0 (with the floor at 0, a share q earns
    nothing); saved and loaded with the learner; refused where it means nothing."""
    from sbil.rewards.base import robust_center_scale

    obs_space, act_space = box2
    r = np.random.default_rng(0).normal(size=1001)
    reward = SmilingReward(obs_space, act_space, expert_grad_steps=10, reward_norm="robust", reward_scale=1.0, reward_center=0.75)
    out = reward.normalize(r)
    assert np.mean(out == 0.0) == pytest.approx(0.75, abs=0.002)
    centre, scale = robust_center_scale(r, 0.75)
    np.testing.assert_allclose(out[r > centre], np.minimum((r[r > centre] - centre) / (scale + 1e-8), 3.0), rtol=1e-5)
    assert robust_center_scale(r)[0] == np.median(r)
    with pytest.raises(SbilError, match="quantile"):
        SmilingReward(obs_space, act_space, reward_center=1.0)
    with pytest.raises(SbilError, match="robust"):
        SmilingReward(obs_space, act_space, reward_norm="batch", reward_center=0.75)


def test_rank_normalisation_agrees_with_robust_on_normal_rewards_and_keeps_a_split_batch_spread(box2, tmp_path):
    """reward_norm='rank': a standard normal score of each reward's rank. On normal rewards it is
    robust's z-score; on a batch whose lower half lies far below (fallen states), the upper half
    keeps its spread instead of sitting in a sliver of a scale set by the gap."""
    obs_space, act_space = box2
    rng = np.random.default_rng(0)
    rank = SmilingReward(obs_space, act_space, expert_grad_steps=10, reward_norm="rank", reward_scale=1.0, reward_clip=None,
                         reward_floor=None)
    robust = SmilingReward(obs_space, act_space, reward_norm="robust", reward_scale=1.0, reward_clip=None, reward_floor=None)
    r = rng.normal(size=4000)
    inner = np.abs(r) < 2.0
    np.testing.assert_allclose(rank.normalize(r)[inner], robust.normalize(r)[inner], atol=0.1)
    upper = rng.normal(size=1000)
    split = np.concatenate([upper, rng.normal(-100.0, 20.0, size=1000)])
    assert np.std(robust.normalize(split)[:1000]) < 0.1
    assert np.std(rank.normalize(split)[:1000]) > 0.5
    # A reference batch ranks rewards that are not in it; ties share their ranks.
    out = rank.normalize(np.array([-1e9, 0.0, 1e9]), reference=r)
    assert out[0] < -3 < 3 < out[2] and abs(out[1]) < 0.1
    assert len(set(rank.normalize(np.zeros(100)).tolist())) == 1
    rank.save(tmp_path / "r.pt")
    assert load_reward(tmp_path / "r.pt", device="cpu").reward_norm == "rank"


def test_reward_center_survives_save_and_load(box2, tmp_path):
    obs_space, act_space = box2
    reward = SmilingReward(obs_space, act_space, expert_grad_steps=10, reward_center=0.75)
    reward.fit_expert(toy_batch(0.0))
    reward.save(tmp_path / "r.pt")
    assert load_reward(tmp_path / "r.pt", device="cpu").reward_center == 0.75


def test_obs_dims_pick_the_coordinates_the_reward_sees(box2):
    obs_space, act_space = box2
    b = toy_batch(1.0, 64)
    reward = SmilingReward(obs_space, act_space, expert_grad_steps=10, reward_norm="none", obs_dims=[1])
    assert reward.input_dim == 1
    reward.fit_expert(toy_batch(0.0))
    reward.update(b.obs, b.acts, b.next_obs, b.dones)
    moved = b.next_obs.copy()
    moved[:, 0] += 5.0  # a coordinate it does not see
    np.testing.assert_array_equal(reward(b.obs, b.acts, moved, b.dones), reward(b.obs, b.acts, b.next_obs, b.dones))
    with pytest.raises(SbilError, match=r"obs_dims=\[0, 7\] is invalid.*\[0, 2\)"):
        SmilingReward(obs_space, act_space, obs_dims=[0, 7])
    with pytest.raises(SbilError, match="obs_dims"):
        SmilingReward(obs_space, act_space, obs_dims=[1, 1])


def test_gail_reward_obs_dims_hide_the_other_coordinates_and_survive_save_and_load(box2, tmp_path):
    from sbil.rewards import GailReward

    obs_space, act_space = box2
    reward = GailReward(obs_space, act_space, use_action=False, obs_dims=[1], reward_norm="none")
    reward.fit_expert(toy_batch(0.0))
    learner = toy_batch(2.0, seed=1)
    reward.update(learner.obs, learner.acts, learner.next_obs, learner.dones)
    moved = learner.obs.copy()
    moved[:, 0] += 5.0
    np.testing.assert_allclose(reward(moved, learner.acts, moved, learner.dones), rewards_of(reward, learner), rtol=1e-6)
    reward.save(tmp_path / "gail.pt")
    again = load_reward(tmp_path / "gail.pt", device="cpu")
    assert again.obs_dims == [1]
    np.testing.assert_allclose(rewards_of(again, learner), rewards_of(reward, learner), rtol=1e-6)


@pytest.mark.parametrize("norm, clip, floor", [("rank", 3.0, -1.0), ("robust", 3.0, 0.0), ("batch", None, None), ("none", None, None)])
def test_auto_clip_and_floor_follow_the_normalisation(box2, norm, clip, floor):
    """``auto`` bounds the normalised reward for the quantile-centred normalisations only (rank:
    [-1, 3], robust: [0, 3]), so that ``reward_norm="none"`` still gives raw rewards."""
    r = SmilingReward(*box2, reward_norm=norm)
    assert (r.reward_clip, r.reward_floor) == (clip, floor)
    assert SmilingReward(*box2).reward_norm == "rank"
