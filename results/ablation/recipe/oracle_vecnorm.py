# A first look at the learner recipe (issue 18): run as
#   python results/ablation/recipe/oracle_vecnorm.py VARIANT [ENV_ID] [SEED]
# Oracle PPO with fixed 1000-step episodes: the benchmark's _ppo_mujoco recipe, + VecNormalize(obs) for
# VARIANT=obs, + VecNormalize(obs, reward) for obs_rew, bare for none. Probes use seeds the reports do not (100+).
import sys, json, torch as th
th.set_num_threads(1)
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecNormalize
from stable_baselines3.common.evaluation import evaluate_policy
from sbil.sb3.vec_env import make_vec_env
variant = sys.argv[1]
env_id = sys.argv[2] if len(sys.argv) > 2 else "Hopper-v5"
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
kw = dict(n_steps=1024, batch_size=256, gae_lambda=0.95, gamma=0.99, n_epochs=10, learning_rate=3e-4, clip_range=0.2, ent_coef=0.0,
          policy_kwargs=dict(net_arch=[256, 256], log_std_init=-1.0))
env_kwargs = {} if env_id.startswith("HalfCheetah") else {"terminate_when_unhealthy": False}
env = make_vec_env(env_id, 4, seed=seed, env_kwargs=env_kwargs)
ev = make_vec_env(env_id, 1, seed=seed + 10000, env_kwargs=env_kwargs)
if variant == "obs":
    env = VecNormalize(env, norm_obs=True, norm_reward=False)
    ev = VecNormalize(ev, norm_obs=True, norm_reward=False, training=False)
elif variant == "obs_rew":
    env = VecNormalize(env, norm_obs=True, norm_reward=True)
    ev = VecNormalize(ev, norm_obs=True, norm_reward=False, training=False)
model = PPO("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **kw)
out = []
for i in range(20):
    model.learn(50_000, reset_num_timesteps=False)
    if isinstance(env, VecNormalize):
        ev.obs_rms = env.obs_rms
    m, s = evaluate_policy(model, ev, n_eval_episodes=5, deterministic=True)
    out.append((model.num_timesteps, m))
    print(model.num_timesteps, round(m, 1), flush=True)
task = env_id.split("-")[0].lower()
record = {"task": task, "env_id": env_id, "seed": seed, "variant": variant, "curve": [{"timesteps": t, "mean_return": m} for t, m in out]}
json.dump(record, open(f"results/ablation/recipe/oracle_{variant}_{task}_seed{seed}.json", "w"), indent=1)
