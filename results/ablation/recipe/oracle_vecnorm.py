# A first look at the learner recipe (issue 18): run as  python results/ablation/recipe/oracle_vecnorm.py obs
# Oracle PPO on Hopper-v5 with fixed 1000-step episodes: the benchmark's _ppo_mujoco recipe + VecNormalize(obs).
import sys, json, numpy as np, torch as th
th.set_num_threads(1)
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecNormalize
from stable_baselines3.common.evaluation import evaluate_policy
from sbil.envs import make_vec_env
variant = sys.argv[1]
kw = dict(n_steps=1024, batch_size=256, gae_lambda=0.95, gamma=0.99, n_epochs=10, learning_rate=3e-4, clip_range=0.2, ent_coef=0.0,
          policy_kwargs=dict(net_arch=[256, 256], log_std_init=-1.0))
env = make_vec_env("Hopper-v5", 4, seed=0, env_kwargs={"terminate_when_unhealthy": False})
ev = make_vec_env("Hopper-v5", 1, seed=10000, env_kwargs={"terminate_when_unhealthy": False})
if variant == "obs":
    env = VecNormalize(env, norm_obs=True, norm_reward=False)
    ev = VecNormalize(ev, norm_obs=True, norm_reward=False, training=False)
elif variant == "obs_rew":
    env = VecNormalize(env, norm_obs=True, norm_reward=True)
    ev = VecNormalize(ev, norm_obs=True, norm_reward=False, training=False)
model = PPO("MlpPolicy", env, seed=0, device="cpu", verbose=0, **kw)
out = []
for i in range(20):
    model.learn(50_000, reset_num_timesteps=False)
    if isinstance(env, VecNormalize):
        ev.obs_rms = env.obs_rms
    m, s = evaluate_policy(model, ev, n_eval_episodes=5, deterministic=True)
    out.append((model.num_timesteps, m))
    print(model.num_timesteps, round(m, 1), flush=True)
json.dump(out, open(f"results/ablation/recipe/oracle_{variant}_norm.json", "w"))
