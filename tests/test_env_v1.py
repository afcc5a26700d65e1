"""GreenLLM-v1: checkers, oracle parity, the Markov observation, the feasibility guard, dual penalty rates."""

from __future__ import annotations

import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest

import green_llm_env
from green_llm_env import cost, make_scenario
from green_llm_env.env_v1 import GreenLLMEnvV1, dual_penalty_rates
from green_llm_env.observation_v1 import GLOBAL_FEATURES, dc_features, option_features
from green_llm_env.wrappers import StructuredObservation

V1 = "green_llm_env:GreenLLM-v1"


def _play(env, actions):
    """Sum of cost_weighted + penalty, and of penalty, playing ``actions(t)``."""
    total = pen = 0.0
    t = 0
    while True:
        _, _, term, trunc, info = env.step(actions(t))
        total += info["cost_weighted"] + info["penalty"]
        pen += info["penalty"]
        t += 1
        if term or trunc:
            return total, pen, t, term, trunc


def test_registration_and_defaults():
    assert green_llm_env.ENV_ID_V1 == "GreenLLM-v1" and green_llm_env.ENV_ID == "GreenLLM-v2" and green_llm_env.ENV_ID_V0 == "GreenLLM-v0"
    spec = gym.spec("GreenLLM-v1")
    assert spec.max_episode_steps is None  # ends at the horizon, no TimeLimit
    env = gym.make(V1)
    u = env.unwrapped
    assert isinstance(u, GreenLLMEnvV1) and u.constraint_mode == "guard"
    assert env.observation_space.shape == (u.layout.size,)
    N, J, R = u.I * u.K, u.J, u.R
    assert u.layout.size == N * J * (R + 4) + J * (R + 8) + 3 * N + len(GLOBAL_FEATURES)
    assert len(option_features(R)) == R + 4 and len(dc_features(R)) == R + 8


def test_both_checkers_pass_without_warnings():
    from gymnasium.utils.env_checker import check_env as gym_check
    from stable_baselines3.common.env_checker import check_env as sb3_check

    for kwargs in ({}, {"forecast_hours": 3, "forecast_noise": 0.1}, {"constraint_mode": "penalty"}):
        # gym.make of v1 warns that v2 exists (Gymnasium's versioning): made outside the checked block
        first, second = gym.make(V1, **kwargs).unwrapped, gym.make(V1, **kwargs).unwrapped
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gym_check(first, skip_render_check=True)
            sb3_check(second, warn=True)
        assert not caught, [str(w.message) for w in caught]


@pytest.mark.parametrize("mode", ["guard", "penalty", "project"])
def test_oracle_plan_replays_to_its_objective_with_zero_penalty(mode):
    from baselines import solve

    env = gym.make(V1, constraint_mode=mode)
    for seed in (0, 3, 1012):  # 1012: HiGHS's default feasibility tolerance left a resource row 1e-10 over
        env.reset(seed=seed, options={"scenario_seed": seed})
        u = env.unwrapped
        res = solve(u.scenario)
        plan = res.plan.reshape(u.horizon, -1)
        total, pen, steps, term, trunc = _play(env, lambda t: plan[t])
        assert pen == 0.0 and steps == u.horizon and term and not trunc
        assert abs(total - res.objective) <= 1e-6 * res.objective
        if mode == "guard":  # the oracle's hours pass the guard unchanged
            np.testing.assert_allclose(u.allocation, res.plan[-1], atol=1e-6)


def test_horizon_longer_than_a_day_is_not_cut():
    env = gym.make(V1, generator_kwargs={"T": 48}, scenario_pool=2)
    env.reset(seed=0)
    _, _, steps, term, trunc = _play(env, lambda t: env.action_space.sample())
    assert steps == 48 and term and not trunc


def test_random_actions_pay_no_penalty_and_rewards_have_no_cliff():
    env = gym.make(V1)
    env.action_space.seed(0)
    ratios = []
    for seed in range(50):
        env.reset(seed=seed)
        rewards, pen = [], 0.0
        while True:
            _, r, term, trunc, info = env.step(env.action_space.sample())
            rewards.append(r)
            pen += info["penalty"]
            if term or trunc:
                break
        assert pen == 0.0, seed
        rewards = np.array(rewards)
        ratios.append(float(np.max(np.abs(rewards)) / np.abs(np.median(rewards))))
    assert max(ratios) <= 50.0, max(ratios)


def test_guard_meets_every_row_for_hostile_allocations():
    env = gym.make(V1, scenario_pool=20)
    rng = np.random.default_rng(1)
    for seed in range(4):
        env.reset(seed=seed)
        u = env.unwrapped
        left, used = u.water_left_l, 0.0
        for t in range(u.horizon):
            x = np.zeros((u.I, u.K, u.J))
            x[..., rng.integers(u.J)] = 1.0  # everything to one DC: capacity, delay, water
            _, _, _, _, info = env.step(x.reshape(-1))
            assert info["penalty"] == 0.0
            v = cost.evaluate(u.coef, u.allocation, hours=t, water_left_l=left)["violations"]
            assert np.all(v[1:] <= u.tables.tol[t, 1:]), (t, v)
            assert info["water_l"] <= info["water_cap_l"] * (1 + 1e-9) + 1e-9
            left -= info["water_l"]
            used += info["water_l"]
        assert used <= u.scenario.Z * (1 + 1e-9)


# Every Scenario field that enters the current hour's coefficients, perturbed one at a time.
_FIELDS = ("lam", "h", "f", "tau_in", "tau_out", "PUE", "c", "theta", "delta", "P_w", "P_max", "WUE", "EWIF",
           "Z", "C", "alpha", "beta", "B", "d", "v", "rho", "Delta", "start_hour")
_TIME_FIELDS = ("lam", "c", "theta", "P_w", "P_max", "WUE", "EWIF", "beta")


@pytest.mark.parametrize("name", _FIELDS)
def test_observation_is_markov_in_every_field(name):
    s = make_scenario(5)
    value = getattr(s, name)
    if name == "start_hour":
        new = (value + 1) % 24
    elif name == "Z":
        new = value * 1.05
    elif name == "PUE":
        new = value.copy()
        new[0] = min(new[0] * 1.05, 1.45)
    else:
        new = np.array(value, dtype=np.float64, copy=True)
        if name in _TIME_FIELDS:  # only the current hour (t = 0) changes
            idx = (0,) + (0,) * (new.ndim - 1)
        else:
            idx = (0,) * new.ndim
        new[idx] = new[idx] * 1.05 + (1e-3 if name == "P_w" else 0.0)
    s2 = s.replace(**{name: new})
    obs = [gym.make(V1, scenario=sc).reset(seed=0)[0] for sc in (s, s2)]
    assert not np.array_equal(obs[0], obs[1]), name


def test_structured_view_holds_the_same_numbers():
    env = StructuredObservation(gym.make(V1, forecast_hours=2))
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    u = env.unwrapped
    N, J, R = u.I * u.K, u.J, u.R
    assert obs["options"].shape == (N, J, R + 4) and obs["dcs"].shape == (J, R + 8) and obs["areas"].shape == (N, 3)
    assert obs["globals"].shape == (len(GLOBAL_FEATURES) + 2 * (4 * J + N),)
    flat = u._observe()
    parts = u.layout.split(flat)
    np.testing.assert_array_equal(obs["options"], parts["options"])
    # the per-share water of option (n, j) is what the cost model says
    wl = cost.water_l_per_share(u.coef)[0]
    np.testing.assert_allclose(obs["options"][..., R + 2] * 10.0, wl, rtol=1e-6)


def test_dual_penalty_rates_bound_the_duals_and_no_policy_beats_the_oracle():
    from baselines import solve

    env = gym.make(V1, constraint_mode="penalty")
    rng = np.random.default_rng(0)
    for seed in (1, 2):
        env.reset(seed=seed, options={"scenario_seed": seed})
        u = env.unwrapped
        res = solve(u.scenario)
        mu = u.tables.mu
        assert mu[0, 4] >= 2.0 * res.water_dual * (1 - 1e-6)
        assert mu[0, 4] <= 2.0 * max(res.water_dual, 0.01 * res.objective / u.scenario.Z) * (1 + 1e-6)
        for trial in range(3):
            env.reset(seed=seed, options={"scenario_seed": seed})
            total, _, _, _, _ = _play(env, lambda t: rng.uniform(-1, 1, env.action_space.shape))
            assert total >= res.objective * (1 - 1e-9)
        # greedy: each option to its cheapest DC, ignoring every limit
        env.reset(seed=seed, options={"scenario_seed": seed})
        c = cost.objective_coefficients(u.coef, u.weights)[0] + cost.grid_price(u.coef, u.weights)[:, None, :] \
            * cost.facility_kw_per_share(u.coef)
        greedy = np.eye(u.J)[np.argmin(c, axis=-1)]
        total, pen, _, _, _ = _play(env, lambda t: greedy[t].reshape(-1))
        assert total >= res.objective and pen > 0


def test_dual_rates_function_uses_the_tables():
    env = gym.make(V1)
    env.reset(seed=0)
    rates = dual_penalty_rates(env.unwrapped.tables)
    assert rates.shape == (env.unwrapped.horizon, 5) and np.all(np.isfinite(rates)) and rates[0, 0] == 0.0


def test_v0_is_unchanged_by_v1():
    env = gym.make("green_llm_env:GreenLLM-v0")
    assert gym.spec("GreenLLM-v0").max_episode_steps == 24
    obs, _ = env.reset(seed=0)
    assert obs.shape == (85,) and env.unwrapped.constraint_mode == "penalty"


def test_wrappers_import_no_training_stack():
    code = ("import sys, green_llm_env.wrappers, gymnasium as gym; "
            "gym.make('green_llm_env:GreenLLM-hybrid-v1').reset(seed=0); "
            "bad = [m for m in ('torch', 'stable_baselines3') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
    import inspect

    import green_llm_env.wrappers as w  # numba's config imports yaml itself; our modules do not
    assert "import yaml" not in inspect.getsource(w)


def test_water_forecast_matches_the_observation():
    env = gym.make(V1, forecast_hours=3, forecast_noise=0.1)
    obs, _ = env.reset(seed=4)
    u = env.unwrapped
    fc = u.forecast(4)
    part = u.layout.split(obs)["forecast_water"]
    np.testing.assert_allclose(part, fc["water_l_per_kwh"][1:4], rtol=1e-6)
    np.testing.assert_array_equal(fc["water_l_per_kwh"][0], u.coef.water_l_per_kwh[0])  # the current slot exact
    assert not np.allclose(fc["water_l_per_kwh"][1:], u.coef.water_l_per_kwh[1:4])  # later slots noisy
    # v0 with the same settings draws the same noise for its own forecasts as before v1 existed
    v0 = gym.make("green_llm_env:GreenLLM-v0", forecast_hours=3, forecast_noise=0.1)
    v0.reset(seed=4)
    np.testing.assert_array_equal(v0.unwrapped.forecast(4)["price"], fc["price"])
