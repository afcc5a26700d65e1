#!/usr/bin/env python
"""Training throughput of SB3 PPO on GreenLLM-v0 and GreenLLM-v1 beside SB3 PPO on CartPole-v1, same machine.

All runs use the PPO hyperparameters of ``hyperparams/ppo.yml``'s GreenLLM-v0 entry (n_envs, n_steps,
batch size, epochs, network), VecNormalize as configured there, on the CPU; GreenLLM-v0 steps through the
native batched env (``--vec native``, or ``dummy``), once raw and once with ppo.yml's agent-side
``obs_features`` and water ``shield`` (as ``train.py`` trains it), CartPole-v1 through SB3's DummyVecEnv. Reported:
env steps per second of ``model.learn`` (rollouts + updates) and of rollouts alone (random actions
through the same VecEnv stack, no learning). GreenLLM-v1 (``--v1-steps`` > 0): ppo.yml's GreenLLM-v1 entry
(the permutation-equivariant `agents.equivariant.EquivariantPolicy`, as ``train.py`` trains it after its
warm start) beside SB3's ``MlpPolicy`` with the same PPO settings (64x64), both on SB3's DummyVecEnv of
GreenLLM-v1 with a fresh scenario per episode. The last printed line is one JSON object.

    python benchmarks/bench_train.py [--steps 16384] [--v1-steps 2048] [--vec native|dummy] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def _ppo_env(entry: str, env_id: str, vec: str, seed: int, agent_side: bool = False):
    """(VecEnv as ppo.yml's ``entry`` configures it, PPO kwargs, run settings, n_envs)."""
    from stable_baselines3.common.vec_env import VecNormalize

    from agents.hyperparams import load_hyperparams, split_hyperparams
    from train import make_vec_env

    kwargs, settings = split_hyperparams(load_hyperparams("ppo", entry))
    n_envs = int(settings["n_envs"] or 8)
    from agents.settings import AgentSettings

    agent = AgentSettings(obs_features=settings["obs_features"], shield=settings["shield"]) if agent_side else None
    env = make_vec_env(env_id, n_envs, vec, {}, seed, None, agent)
    if settings["normalize"] is not None:
        env = VecNormalize(env, gamma=kwargs.get("gamma", 0.99), **settings["normalize"])
    return env, kwargs, settings, n_envs


def _timed_learn(model, steps: int, n_envs: int) -> float:
    """env-steps/s of ``model.learn`` over ``steps``, after one rollout + update of warm-up."""
    model.learn(total_timesteps=model.n_steps * n_envs)
    start_steps, start = model.num_timesteps, time.perf_counter()
    model.learn(total_timesteps=steps, reset_num_timesteps=False)
    return (model.num_timesteps - start_steps) / (time.perf_counter() - start)


def _learn_rate(env_id: str, vec: str, steps: int, seed: int, agent_side: bool = False) -> dict[str, float]:
    from stable_baselines3 import PPO

    env, kwargs, settings, n_envs = _ppo_env("GreenLLM-v0", env_id, vec, seed, agent_side)
    # rollouts only: the VecEnv stack with random actions
    env.reset()
    actions = np.stack([env.action_space.sample() for _ in range(n_envs)])
    n_roll = max(steps // n_envs, 1)
    start = time.perf_counter()
    for _ in range(n_roll):
        env.step(actions)
    roll = n_roll * n_envs / (time.perf_counter() - start)
    model = PPO(settings["policy"] or "MlpPolicy", env, seed=seed, device="cpu", verbose=0, **kwargs)
    learn = _timed_learn(model, steps, n_envs)
    env.close()
    return {"learn_steps_per_s": round(learn, 1), "rollout_steps_per_s": round(roll, 1), "n_envs": n_envs,
            "obs_dim": int(np.prod(env.observation_space.shape)), "act_dim": int(np.prod(env.action_space.shape))}


def _v1_rate(policy: str, steps: int, seed: int) -> dict[str, float]:
    """``model.learn`` env-steps/s on GreenLLM-v1 with ppo.yml's GreenLLM-v1 PPO settings and ``policy``."""
    from stable_baselines3 import PPO

    env, kwargs, _, n_envs = _ppo_env("GreenLLM-v1", "green_llm_env:GreenLLM-v1", "dummy", seed)
    if policy == "EquivariantPolicy":
        from agents.equivariant import layout_of

        kwargs["policy_kwargs"] = {**dict(kwargs.get("policy_kwargs") or {}), "layout": layout_of(env)}
    else:
        kwargs["policy_kwargs"] = dict(net_arch=dict(pi=[64, 64], vf=[64, 64]))
    model = PPO(policy, env, seed=seed, device="cpu", verbose=0, **kwargs)
    learn = _timed_learn(model, steps, n_envs)
    env.close()
    return {"learn_steps_per_s": round(learn, 1), "n_envs": n_envs,
            "params": int(sum(p.numel() for p in model.policy.parameters()))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=16384, help="timed env steps per run (after one warm-up)")
    parser.add_argument("--vec", default="native", choices=("native", "dummy"), help="GreenLLM-v0 vector mode")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--v1-steps", type=int, default=2048,
                        help="timed env steps per GreenLLM-v1 run (0: skip GreenLLM-v1)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import torch

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    green = _learn_rate("green_llm_env:GreenLLM-v0", args.vec, args.steps, args.seed)
    print(f"GreenLLM-v0 ({args.vec}): {green}", flush=True)
    trained = _learn_rate("green_llm_env:GreenLLM-v0", args.vec, args.steps, args.seed, agent_side=True)
    print(f"GreenLLM-v0 ({args.vec}, obs_features + shield as in ppo.yml): {trained}", flush=True)
    cart = _learn_rate("CartPole-v1", "dummy", args.steps, args.seed)
    print(f"CartPole-v1 (dummy):  {cart}", flush=True)
    v1 = {}
    if args.v1_steps > 0:
        for policy in ("EquivariantPolicy", "MlpPolicy"):
            v1[policy] = _v1_rate(policy, args.v1_steps, args.seed)
            print(f"GreenLLM-v1 (dummy, {policy}): {v1[policy]}", flush=True)
    print(json.dumps({
        "benchmark": "bench_train", "algo": "ppo", "device": "cpu", "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(), "machine": platform.processor() or platform.machine(), "steps": args.steps,
        "greenllm_vec": args.vec, "greenllm": green, "greenllm_as_trained": trained, "cartpole": cart,
        "ratio_learn": round(green["learn_steps_per_s"] / cart["learn_steps_per_s"], 3), "greenllm_v1": v1,
    }))


if __name__ == "__main__":
    main()
