"""Smoke test: RLlib's PPO trains one iteration on GreenLLM-v1 with one remote env runner (distributed rollouts).

Needs the ``rllib`` extra (``pip install -e ".[rllib]"``; RLlib pins its own gymnasium) and is slow (Ray start,
a remote env runner, a torch learner): about 25 s (29 s with the Ray start) on the shared 2-core machine.
Skipped without RLlib.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("ray.rllib")

from .conftest import REPO  # noqa: E402


@pytest.mark.slow
def test_rllib_ppo_one_iteration_on_greenllm_v1():
    import ray
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.tune.registry import register_env

    def make(env_config):
        import gymnasium as gym

        import green_llm_env  # noqa: F401  (registers the ids)

        return gym.make("green_llm_env:GreenLLM-v1", **env_config)

    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": path}})
    try:
        register_env("GreenLLM-v1", make)
        config = (PPOConfig()
                  .environment("GreenLLM-v1", env_config={"scenario_pool": 8})
                  .env_runners(num_env_runners=1, rollout_fragment_length=48)
                  .training(train_batch_size_per_learner=96, minibatch_size=48, num_epochs=1)
                  .debugging(seed=0))
        algo = config.build_algo()
        result = algo.train()
        algo.stop()
    finally:
        ray.shutdown()
    runners = result["env_runners"]
    assert runners["num_env_steps_sampled_lifetime"] >= 96
    assert np.isfinite(runners.get("episode_return_mean", 0.0))
