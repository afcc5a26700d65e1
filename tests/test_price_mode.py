"""GreenLLM-price-v2 (``action_mode="price"``): J + 1 prices mapped to shares by a softmax of priced costs."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import green_llm_env  # noqa: F401  (registers the ids)
from green_llm_env.core.prices import PRICE_SCALE, WATER_DECADES, option_terms, price_shares, price_values
from green_llm_env.env_v2 import GreenLLMEnvV2
from green_llm_env.vector_v2 import GreenLLMVectorEnvV2

J = 9


def _env(**kw):
    env = GreenLLMEnvV2(action_mode="price", **kw)
    env.reset(options={"scenario_seed": 900})
    return env


def _rows(env):
    core = env.core
    return core.flat[core.slot * core.T + core.t]


def test_registered_id_has_the_price_action_and_v2_observation():
    env = gym.make("green_llm_env:GreenLLM-price-v2")
    assert env.action_space.shape == (J + 1,)
    assert env.observation_space == gym.make("green_llm_env:GreenLLM-v2").observation_space
    from gymnasium.utils.env_checker import check_env

    check_env(env.unwrapped, skip_render_check=True)


def test_option_terms_are_the_observed_option_features():
    env = GreenLLMEnvV2(action_mode="price")
    obs, _ = env.reset(options={"scenario_seed": 901})
    cost, kw, water = option_terms(_rows(env), env.R, env.I * env.K, env.J)
    lay = env.layout
    for mine, name in ((cost, "cost_usd"), (kw, "facility_kw"), (water, "water_l")):
        seen = lay.decode(obs, f"options.{name}")
        np.testing.assert_allclose(mine[0], seen, rtol=1e-6, atol=1e-6 * np.abs(seen).max())


def test_shares_are_on_the_simplex_and_prices_steer_them():
    env = _env()
    rows, N = _rows(env), env.I * env.K
    mu_w = np.array([env.water_price])
    a = np.zeros((1, J + 1))
    x = price_shares(a, rows, mu_w, 1.0, env.R, N, J)[0]
    np.testing.assert_allclose(x.sum(axis=1), 1.0, rtol=1e-12)
    assert (x >= 0).all()
    cheap = a.copy()
    cheap[0, 3] = -1.0  # DC 3's price lowered: more of every row goes there
    assert (price_shares(cheap, rows, mu_w, 1.0, env.R, N, J)[0][:, 3] > x[:, 3]).all()
    _, kw, water = option_terms(rows, env.R, N, J)
    dry, wet = a.copy(), a.copy()
    dry[0, J], wet[0, J] = 1.0, -1.0
    w_dry = (price_shares(dry, rows, mu_w, 1.0, env.R, N, J)[0] * water[0]).sum()
    w_wet = (price_shares(wet, rows, mu_w, 1.0, env.R, N, J)[0] * water[0]).sum()
    assert w_dry < w_wet
    p, mu = price_values(np.array([[1.0] * J + [1.0], [-2.0] * J + [-1.0]]), np.array([0.5, 0.5]))
    np.testing.assert_allclose(p[0], PRICE_SCALE)
    np.testing.assert_allclose(p[1], -PRICE_SCALE)  # clipped to the Box
    np.testing.assert_allclose(mu, [0.5 * 10 ** WATER_DECADES[1], 0.5 * 10 ** WATER_DECADES[0]])


def test_the_score_is_continuous_in_the_action():
    """A round-off move of the action (float32, or 1e-7) moves the episode's score by O(1e-6) relative."""
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, (24, J + 1))
    scores = []
    for eps in (0.0, 1e-7):
        env = _env()
        for t in range(24):
            *_, info = env.step((a[t] * (1 + eps)).astype(np.float64))
        scores.append(info["episode_cost_weighted"] + info["episode_penalty"])
    env = _env()
    for t in range(24):
        *_, info = env.step(a[t].astype(np.float32))
    scores.append(info["episode_cost_weighted"] + info["episode_penalty"])
    assert abs(scores[1] - scores[0]) <= 1e-5 * scores[0]
    assert abs(scores[2] - scores[0]) <= 1e-5 * scores[0]


def test_single_and_vector_envs_are_equal_bit_for_bit():
    single = gym.make("green_llm_env:GreenLLM-price-v2")
    vec = gym.make_vec("green_llm_env:GreenLLM-price-v2", num_envs=3, vectorization_mode="vector_entry_point")
    o1, _ = single.reset(seed=7)
    ov, _ = vec.reset(seed=7)
    np.testing.assert_array_equal(o1, ov[0])
    rng = np.random.default_rng(1)
    for _ in range(24):
        a = rng.uniform(-1.2, 1.2, (3, J + 1)).astype(np.float32)
        o1, r1, *_ = single.step(a[0])
        ov, rv, *_ = vec.step(a)
        np.testing.assert_array_equal(o1, ov[0])
        assert r1 == rv[0]


def test_a_batch_of_one_takes_its_own_action_space_sample():
    for env_id in ("GreenLLM-v2", "GreenLLM-price-v2"):
        vec = gym.make_vec(f"green_llm_env:{env_id}", num_envs=1, vectorization_mode="vector_entry_point")
        vec.reset(seed=0)
        vec.step(vec.action_space.sample())


@pytest.mark.parametrize("bad, match", [(np.zeros(J), r"shape \(10,\)"), (np.full(J + 1, np.nan), "NaN"),
                                        (np.zeros(J + 1, complex), "real")])
def test_bad_price_actions_are_refused_with_the_state_unchanged(bad, match):
    env = _env()
    before = (env.t, env.water_left_l)
    with pytest.raises(ValueError, match=match):
        env.step(bad)
    assert (env.t, env.water_left_l) == before


def test_the_torch_backend_refuses_the_price_mode():
    pytest.importorskip("torch")
    from green_llm_env.vector_torch import GreenLLMTorchVectorEnv

    with pytest.raises(ValueError, match="numba backend only"):
        GreenLLMTorchVectorEnv(num_envs=2, action_mode="price")


def test_the_vector_env_plays_fresh_episodes_in_the_price_mode():
    env = GreenLLMVectorEnvV2(num_envs=4, action_mode="price")
    env.reset(seed=3)
    for _ in range(30):  # past one episode: NEXT_STEP resets
        env.step(np.zeros((4, J + 1), np.float32))
    assert (env.core.t < env.core.T).all()


def test_max_minutes_stops_learning_at_its_deadline():
    from agents.callbacks import StopAfterMinutes
    from green_llm_env.cli import positive_float

    cb = StopAfterMinutes(1.0)
    cb._on_training_start()
    assert cb._on_step()
    cb.deadline = 0.0
    assert not cb._on_step() and cb.stopped
    with pytest.raises(ValueError, match="max-minutes"):
        StopAfterMinutes(0)
    import argparse

    with pytest.raises(argparse.ArgumentTypeError):
        positive_float("0")
    assert positive_float("2.5") == 2.5


def test_a_slimmed_zip_loads_and_acts_as_before(tmp_path):
    """agents.slim zeroes the optimizer moments only: the same actions, a third of the size."""
    from stable_baselines3 import PPO

    from agents.slim import slim_zip
    from green_llm_env.vector_v2 import SB3VecEnvV2

    venv = SB3VecEnvV2(num_envs=2, action_mode="price")
    model = PPO("MlpPolicy", venv, n_steps=8, batch_size=16, n_epochs=1, seed=0, device="cpu")
    model.learn(16)
    path = tmp_path / "m.zip"
    model.save(path)
    obs = venv.reset()
    before = PPO.load(path, device="cpu").predict(obs, deterministic=True)[0]
    size, slim = slim_zip(path)
    assert slim < 0.5 * size
    again = PPO.load(path, device="cpu")
    np.testing.assert_array_equal(again.predict(obs, deterministic=True)[0], before)
    assert again.num_timesteps == model.num_timesteps
