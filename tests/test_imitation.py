"""The warm start by imitation (agents.imitation): the hybrid's expert and behaviour cloning."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("stable_baselines3")


def test_expert_reproduces_the_oracle_and_labels_any_state():
    from agents.imitation import OraclePriceExpert, expert_rollouts
    from baselines import solve

    env = gym.make("green_llm_env:GreenLLM-hybrid-v1", forecast_hours=0)
    expert = OraclePriceExpert()
    obs, actions = expert_rollouts(env, expert, [10_000])
    assert obs.shape == (24, env.observation_space.shape[0]) and np.all(actions == actions[0])
    base = env.unwrapped
    res = solve(base.scenario)
    assert env.get_wrapper_attr("price")(actions[0]) == pytest.approx(max(res.water_dual, 1e-4), rel=1e-5)
    # in a state off the expert's path (all water spent early), the label is the price of the hours left
    env.reset(seed=10_000, options={"scenario_seed": 10_000})
    for _ in range(6):
        env.step(np.ones(1, np.float32) * -1.0)  # the cheapest water
    label = expert.label(env)
    assert label.shape == (1,) and label[0] >= actions[0][0] - 1e-6  # scarcer water: a higher price


def test_behaviour_cloning_fits_the_expert():
    from stable_baselines3 import PPO

    from agents.imitation import behaviour_clone

    env = gym.make("green_llm_env:GreenLLM-hybrid-v1", forecast_hours=0)
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=32, device="cpu", seed=0)
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(256, env.observation_space.shape[0])).astype(np.float32)
    target = np.tanh(obs[:, :1]) * 0.5
    losses = behaviour_clone(model, obs, target, epochs=30)
    assert losses[-1] < 0.2 * losses[0]
    log_std = float(model.policy.log_std.detach()[0])
    assert log_std == 0.0  # the exploration noise is left to RL


def test_frozen_observation_statistics_survive_steps_and_pickling(tmp_path):
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    from agents.imitation import FrozenRunningMeanStd, freeze_obs_stats

    venv = VecNormalize(DummyVecEnv([lambda: gym.make("CartPole-v1")]))
    venv.reset()
    venv.step(np.array([0]))
    mean = venv.obs_rms.mean.copy()
    freeze_obs_stats(venv)
    for _ in range(5):
        venv.step(np.array([1]))
    np.testing.assert_array_equal(venv.obs_rms.mean, mean)
    assert venv.ret_rms.count > 1  # reward statistics still update
    venv.save(str(tmp_path / "vn.pkl"))
    loaded = VecNormalize.load(str(tmp_path / "vn.pkl"), DummyVecEnv([lambda: gym.make("CartPole-v1")]))
    assert isinstance(loaded.obs_rms, FrozenRunningMeanStd)
