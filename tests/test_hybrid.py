"""The hybrid agent's environment (GreenLLM-hybrid-v1): a water price per hour, an exact hourly LP."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from green_llm_env.hourly import HourlyLP, least_water
from green_llm_env.wrappers import HYBRID_FEATURES, WaterPriceLP

HYBRID = "green_llm_env:GreenLLM-hybrid-v1"


def _action(env, price):
    lo, hi = env.get_wrapper_attr("price_range")
    return np.array([2.0 * np.log(price / lo) / np.log(hi / lo) - 1.0], np.float32)


def test_spaces_and_price_scale():
    env = gym.make(HYBRID)
    assert env.action_space.shape == (1,) and env.observation_space.shape == (len(HYBRID_FEATURES),)
    w = env.unwrapped  # the v1 env under the wrapper
    assert type(w).__name__ == "GreenLLMEnvV1"
    lp_env = WaterPriceLP(gym.make("green_llm_env:GreenLLM-v1"))
    assert lp_env.price([-1.0]) == pytest.approx(1e-4) and lp_env.price([1.0]) == pytest.approx(1.0)
    assert lp_env.price([5.0]) == pytest.approx(1.0)  # clipped to the Box
    with pytest.raises(ValueError, match="price_range"):
        WaterPriceLP(gym.make("green_llm_env:GreenLLM-v1"), price_range=(1.0, 0.1))
    with pytest.raises(ValueError, match="action_mode"):
        WaterPriceLP(gym.make("green_llm_env:GreenLLM-v1", action_mode="softmax"))


def test_the_oracle_water_dual_as_price_reproduces_the_oracle():
    from baselines import solve

    env = gym.make(HYBRID)
    gaps = []
    for seed in (1000, 1001, 1002):
        obs, _ = env.reset(seed=seed, options={"scenario_seed": seed})
        assert np.all(np.isfinite(obs))
        res = solve(env.unwrapped.scenario)
        a = _action(env, max(res.water_dual, 1e-4))
        total = pen = 0.0
        while True:
            obs, _, term, trunc, info = env.step(a)
            total += info["cost_weighted"] + info["penalty"]
            pen += info["penalty"]
            assert info["water_l"] <= info["water_cap_l"] * (1 + 1e-9) + 1e-9
            if term or trunc:
                break
        assert pen == 0.0
        gaps.append((total - res.objective) / res.objective)
    assert min(gaps) >= -1e-9 and max(gaps) <= 1e-3, gaps


def test_hourly_lp_least_water_and_cap():
    from green_llm_env import cost, make_scenario

    coef = cost.coefficients(make_scenario(2))
    lw = least_water(coef)
    lp = HourlyLP(coef)
    for t in (0, 12):
        free = lp.solve(t, water_price=0.0)
        capped = lp.solve(t, water_price=0.0, water_cap_l=0.5 * (free.water_l + lw.least_l[t]))
        assert lw.least_l[t] <= capped.water_l <= free.water_l
        assert capped.water_l <= 0.5 * (free.water_l + lw.least_l[t]) * (1 + 1e-7)
        assert capped.cost_weighted >= free.cost_weighted - 1e-9
        none = lp.solve(t, water_cap_l=0.5 * lw.least_l[t])  # below the least need: least water, flagged
        assert none.relaxed and none.water_l == pytest.approx(lw.least_l[t], rel=1e-6)
    assert lw.reserve_l[0] == pytest.approx(lw.least_l.sum()) and lw.reserve_l[-1] == 0.0
