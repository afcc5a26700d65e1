"""GreenLLMEnv: the checkers, reward parity with the cost model and the oracle, seeding, options, errors."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest

import green_llm_env
from green_llm_env import GreenLLMEnv, cost, make_scenario
from green_llm_env.env import DEFAULT_PENALTY_FACTOR, FEASIBILITY_TOL, penalty_coefficients
from green_llm_env.generator import greedy_plan
from green_llm_env.observation import ObservationLayout

from .conftest import tiny_scenario

ENV_ID = "green_llm_env:GreenLLM-v0"


def make(**kw) -> gym.Env:
    return gym.make(ENV_ID, **kw)


# ----------------------------------------------------------------------------------- checkers
@pytest.mark.parametrize("kw", [{}, {"forecast_hours": 3, "forecast_noise": 0.1}, {"action_mode": "softmax"},
                                {"scenario": tiny_scenario()}])
def test_gymnasium_and_sb3_checkers_pass_without_warnings(kw):
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    envs = [make(**kw).unwrapped, make(render_mode="ansi", **kw).unwrapped]  # gym.make of v0 warns "out of date"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(envs[0], skip_render_check=False)
        check_env(envs[1])
        sb3_check_env(GreenLLMEnv(**kw), warn=True)


def test_registration_and_spaces():
    env = make()
    assert env.spec.id == "GreenLLM-v0" and env.spec.max_episode_steps == 24
    assert env.spec.vector_entry_point == "green_llm_env.vector:GreenLLMVectorEnv"
    assert env.action_space == gym.spaces.Box(-1, 1, (9 * 5 * 9,), np.float32)
    obs, info = env.reset(seed=0)
    assert obs.dtype == np.float32 and obs.shape == (85,) and env.observation_space.contains(obs)
    assert np.abs(obs).max() < 10  # scaled to O(1)
    assert "GreenLLMEnv" in green_llm_env.__all__ and green_llm_env.ENV_ID_V0 == "GreenLLM-v0"


# ----------------------------------------------------------------------- parity with the cost model
def _negative_price(s):
    return s.replace(c=s.c - 0.3)  # some weighted grid prices < 0: the "buy what the cap allows" branch


@pytest.mark.parametrize("make_s", [lambda: make_scenario(1), lambda: _negative_price(make_scenario(2)),
                                    lambda: make_scenario(3, I=3, J=4, K=2, R=2, T=5), tiny_scenario])
@pytest.mark.parametrize("weights", [(1 / 3, 1 / 3, 1 / 3), (0.6, 0.1, 0.3)])
def test_step_info_equals_cost_evaluate(make_s, weights):
    """The env's step numbers are cost.evaluate's on the applied allocation; the penalty follows its rule."""
    s = make_s()
    env = GreenLLMEnv(scenario=s, weights=weights, render_mode="ansi")
    env.reset(seed=0)
    coef = env.coef
    mu, tol = env.tables.mu, env.tables.tol
    np.testing.assert_array_equal(mu, penalty_coefficients(coef, weights))
    rng = np.random.default_rng(0)
    names = {"cost_weighted": "cost_weighted", "energy_cost": "energy_usd", "carbon_cost": "carbon_usd",
             "delay_cost": "delay_usd", "total_cost": "total_usd", "emissions_kg": "emissions_kg",
             "water_l": "water_l", "grid_kwh": "grid_kwh"}
    charged = 0
    for trial in range(12):
        if env.t >= coef.T:
            env.reset()
        t = env.t
        x = rng.dirichlet(np.full(coef.J, 0.4), coef.N)
        if trial % 3 == 0:  # concentrate to force resource / delay / grid violations
            x = np.zeros((coef.N, coef.J))
            x[:, int(rng.integers(coef.J))] = 1.0
        left = float(rng.choice([coef.water_budget_l, 0.0, -5.0, rng.uniform(0, 50)]))
        env.water_left_l = left
        _, reward, _, _, info = env.step(x.reshape(-1))
        ref = cost.evaluate(coef, x, weights, hours=t, water_left_l=left)
        np.testing.assert_allclose([info[k] for k in names], [float(ref[v]) for v in names.values()],
                                   rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose([info["violations"][f] for f in cost.FAMILIES], ref["violations"],
                                   rtol=1e-12, atol=1e-9)
        excess = np.maximum(ref["violations"] - tol[t], 0.0)
        np.testing.assert_allclose(info["penalty"], float(mu[t] @ excess), rtol=1e-9, atol=1e-9)
        charged += info["penalty"] > 0
        assert reward == pytest.approx(-env.reward_scale * (info["cost_weighted"] + info["penalty"]), rel=1e-12)
        assert info["water_left_l"] == pytest.approx(left - float(ref["water_l"]), rel=1e-12, abs=1e-9)
        np.testing.assert_allclose(env._hour_view()[2], ref["grid_kw"], rtol=1e-12, atol=1e-12)  # what render shows
        np.testing.assert_allclose(env._hour_view()[1], ref["it_kw"], rtol=1e-12, atol=1e-12)
    assert charged > 0  # the violating trials were charged


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_oracle_plan_replays_to_the_oracle_objective_with_zero_penalty(seed):
    from baselines import solve

    env = make()
    env.reset(seed=seed)
    res = solve(env.unwrapped.scenario, env.unwrapped.weights)
    total, penalty, rewards = 0.0, 0.0, 0.0
    for t in range(24):
        obs, r, term, trunc, info = env.step(res.plan[t].reshape(-1))
        total += info["cost_weighted"]
        penalty += info["penalty"]
        rewards += r
        assert info["projection_distance"] < 1e-9
    assert term and trunc
    assert penalty == 0.0
    assert abs(total - res.objective) <= 1e-6 * res.objective
    assert rewards == pytest.approx(-env.unwrapped.reward_scale * total, rel=1e-12)
    tot = info["episode_totals"]
    assert tot["cost_weighted"] == pytest.approx(total, rel=1e-12) and tot["penalty"] == 0.0
    assert tot["water_l"] <= env.unwrapped.scenario.Z * (1 + 1e-6)


def _episode(env, policy, seed, **opts):
    env.reset(seed=seed, options=opts or None)
    u = env.unwrapped
    total = 0.0
    for t in range(u.horizon):
        _, _, _, _, info = env.step(policy(u, t))
        total += info["cost_weighted"] + info["penalty"]
    return total


def _policies(rng):
    def greedy_all(u, t):  # each (i, k) to its cheapest DC: overloads resources and the water budget
        if not hasattr(u, "_greedy_cache") or u._greedy_cache[0] is not u.scenario:
            u._greedy_cache = (u.scenario, greedy_plan(u.scenario, u.weights))
        return u._greedy_cache[1][t].reshape(-1)

    def local(u, t):  # each area to its own DC (i mod J)
        x = np.zeros((u.I, u.K, u.J))
        x[np.arange(u.I), :, np.arange(u.I) % u.J] = 1.0
        return x.reshape(-1)

    return {
        "random": lambda u, t: rng.uniform(-1, 1, u.I * u.K * u.J),
        "uniform": lambda u, t: np.full(u.I * u.K * u.J, 1.0 / u.J),
        "greedy": greedy_all,
        "local": local,
        "oracle_greedy_mix": None,  # filled below
    }


def test_random_and_heuristic_policies_never_beat_the_oracle():
    from baselines import solve

    rng = np.random.default_rng(0)
    pols = _policies(rng)
    env = make()
    worst = np.inf
    for seed in range(20):
        env.reset(seed=seed)
        s = env.unwrapped.scenario
        res = solve(s)
        pols["oracle_greedy_mix"] = lambda u, t: (0.7 * res.plan[t] + 0.3 * pols["greedy"](u, t).reshape(
            res.plan[t].shape)).reshape(-1)
        for name, pol in pols.items():
            got = _episode(env, pol, seed, scenario=s)
            worst = min(worst, got / res.objective)
            assert got >= res.objective * (1 - 1e-7), (seed, name, got, res.objective)
    assert worst > 1.0


def test_penalty_coefficients_follow_the_documented_rule():
    s = make_scenario(4)
    coef = cost.coefficients(s)
    mu = penalty_coefficients(coef, cost.DEFAULT_WEIGHTS, 1.0)
    assert mu.shape == (coef.T, 5) and np.all(mu[:, 0] == 0) and np.all(mu[:, 1:] > 0)
    assert np.all(mu[:, 4] == mu[0, 4])  # one water price for the whole horizon
    np.testing.assert_allclose(penalty_coefficients(coef, cost.DEFAULT_WEIGHTS, 3.0), 3.0 * mu)
    # a resource unit is worth at most the widest per-share cost spread per resource unit of that share
    w = np.asarray(cost.DEFAULT_WEIGHTS)
    per_share = w[2] * cost.delay_usd_per_share(coef) + cost.grid_price(coef, w)[:, None, :] * \
        cost.facility_kw_per_share(coef)
    spread = per_share.max(-1) - w[2] * cost.delay_usd_per_share(coef).min(-1)
    np.testing.assert_allclose(mu[:, 1], (spread[:, :, None] / coef.resource).reshape(coef.T, -1).max(-1),
                               rtol=1e-12)
    assert DEFAULT_PENALTY_FACTOR >= 1.0 and 0 < FEASIBILITY_TOL <= 1e-10


def _exchange_rates_by_broadcasting(coef, weights):
    """The rule of `penalty_coefficients` written with (T, N, J, J) numpy arrays, independently of the
    compiled loop (`kernels.exchange_rates`) it runs."""
    w = np.asarray(weights)
    gp = cost.grid_price(coef, w)
    fkw = cost.facility_kw_per_share(coef)
    a = w[2] * cost.delay_usd_per_share(coef)
    c_hi = a + np.maximum(gp, 0.0)[:, None, :] * fkw
    c_lo = a + np.minimum(gp, 0.0)[:, None, :] * fkw
    spread = np.maximum(c_hi.max(-1) - c_lo.min(-1), 0.0)
    gain = np.maximum(c_hi[:, :, None, :] - c_lo[:, :, :, None], 0.0)  # [t, n, to j, from j']

    def rate(num, den):
        return np.where(den > 0, num, 0.0) / np.where(den > 0, den, 1.0)

    T = coef.T
    mu = np.zeros((T, 5))
    mu[:, 1] = rate(spread[:, :, None], coef.resource).reshape(T, -1).max(-1)
    d = coef.delay_s
    mu[:, 2] = rate(gain, d[:, :, :, None] - d[:, :, None, :]).reshape(T, -1).max(-1)
    mu[:, 3] = rate(spread[:, :, None], fkw).reshape(T, -1).max(-1)
    wsh = cost.water_l_per_share(coef)
    mu[:, 4] = rate(gain, wsh[:, :, :, None] - wsh[:, :, None, :]).max()
    return mu


@pytest.mark.parametrize("weights", [cost.DEFAULT_WEIGHTS, (0.5, 0.2, 0.3), (1.0, 0.0, 0.0)])
def test_penalty_coefficients_equal_the_rule_by_broadcasting(weights):
    for s in (make_scenario(1), _negative_price(make_scenario(2)), make_scenario(3, I=3, J=4, K=2, T=5, R=2)):
        coef = cost.coefficients(s)
        np.testing.assert_array_equal(penalty_coefficients(coef, weights, 1.0),
                                      _exchange_rates_by_broadcasting(coef, weights))


def test_penalty_charges_violations_by_family():
    env = make(scenario=make_scenario(5))
    env.reset(seed=0)
    u = env.unwrapped
    x = np.zeros((u.I, u.K, u.J))
    x[..., 0] = 1.0  # everything to DC 0: over its resources
    _, r, _, _, info = env.step(x.reshape(-1))
    assert set(info["violations"]) == set(cost.FAMILIES)
    assert info["violations"]["resource"] > 0 and info["penalty"] > 0
    assert r == pytest.approx(-u.reward_scale * (info["cost_weighted"] + info["penalty"]))


# ------------------------------------------------------------------------------------- seeding
def _trajectory_digest(seed: int, n_steps: int = 60, **kw) -> str:
    env = gym.make(ENV_ID, **kw)
    rng = np.random.default_rng(123)
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    h = hashlib.sha256(obs.tobytes())
    for _ in range(n_steps):
        obs, r, term, trunc, info = env.step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32))
        h.update(obs.tobytes())
        h.update(np.float64(r).tobytes())
        h.update(json.dumps(info, sort_keys=True, default=float).encode())
        if term or trunc:
            obs, _ = env.reset()
            h.update(obs.tobytes())
    return h.hexdigest()


def test_same_seed_same_trajectory_also_in_a_fresh_process():
    kw = {"forecast_hours": 2, "forecast_noise": 0.2}
    a = _trajectory_digest(7, **kw)
    assert a == _trajectory_digest(7, **kw)
    assert a != _trajectory_digest(8, **kw)
    code = ("import sys; sys.path.insert(0, '.'); from tests.test_env import _trajectory_digest; "
            "print(_trajectory_digest(7, forecast_hours=2, forecast_noise=0.2))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    assert out.stdout.strip().splitlines()[-1] == a


def test_reset_draws_a_new_scenario_per_episode_and_options_pin_one():
    env = make()
    env.reset(seed=0)
    first = env.unwrapped.scenario
    seeds = {env.unwrapped.scenario_seed}
    for _ in range(3):
        env.reset()
        seeds.add(env.unwrapped.scenario_seed)
    assert len(seeds) == 4 and env.unwrapped.scenario is not first
    # options={"scenario_seed": n} is exactly make_scenario(n, **generator_kwargs)
    env2 = make(generator_kwargs={"I": 3, "J": 4, "K": 2, "water_fraction": 0.9})
    env2.reset(seed=1, options={"scenario_seed": 42})
    ref = make_scenario(42, I=3, J=4, K=2, water_fraction=0.9)
    for name in ("lam", "c", "theta", "P_w", "C", "Delta"):
        np.testing.assert_array_equal(getattr(env2.unwrapped.scenario, name), getattr(ref, name))
    assert env2.unwrapped.scenario.Z == ref.Z
    # options={"scenario": s} and the scenario= kwarg pin it
    s = make_scenario(9)
    env.reset(options={"scenario": s})
    assert env.unwrapped.scenario is s and env.unwrapped.scenario_seed is None
    pinned = make(scenario=s)
    for k in range(2):
        pinned.reset(seed=k)
        assert pinned.unwrapped.scenario is s
    # a pool restricts the draws
    pool = make(scenario_pool=3)
    pool.reset(seed=0)
    drawn = {pool.unwrapped.scenario_seed}
    for _ in range(20):
        pool.reset()
        drawn.add(pool.unwrapped.scenario_seed)
    assert drawn <= {0, 1, 2} and len(drawn) >= 2


def test_traces_give_real_carbon_intensity():
    from .conftest import SHARED_DATA

    if not (SHARED_DATA / "carbon_intensity_2024_hourly_by_dc.csv").is_file():
        pytest.skip("carbon traces not found")
    env = make(traces=str(SHARED_DATA))
    env.reset(seed=3)
    s = env.unwrapped.scenario
    assert s.start is not None and s.start.startswith("2024-")
    env.reset()
    assert env.unwrapped.scenario.start != s.start or env.unwrapped.scenario_seed != 0


# ------------------------------------------------------------------------ observation and forecast
def test_observation_parts_and_forecast_agree():
    H = 4
    env = make(forecast_hours=H, forecast_noise=0.15)
    obs, _ = env.reset(seed=5)
    u = env.unwrapped
    layout: ObservationLayout = u.layout
    parts = layout.split(obs)
    assert parts["demand"].shape == (9, 5) and parts["forecast_demand"].shape == (H, 9, 5)
    assert parts["water_left"][0] == 1.0 and parts["time_left"][0] == 1.0
    np.testing.assert_allclose(parts["demand"] * 1000, u.scenario.lam[0], rtol=1e-6)
    np.testing.assert_allclose(parts["price"] * 0.2, u.scenario.c[0], rtol=1e-6)
    for step in range(22):
        fc = u.forecast(H + 1)
        assert set(fc) == {"price", "renewable_kw", "carbon", "demand"}
        np.testing.assert_allclose(fc["price"][0], u.scenario.c[u.t])  # the current hour is exact
        n = fc["price"].shape[0] - 1  # slots t+1.. in the observation
        np.testing.assert_allclose(parts["forecast_price"][:n] * 0.2, fc["price"][1:], rtol=1e-6)
        np.testing.assert_allclose(parts["forecast_demand"][:n] * 1000, fc["demand"][1:], rtol=1e-6)
        np.testing.assert_allclose(parts["forecast_carbon"][:n] * 0.5, fc["carbon"][1:], rtol=1e-6)
        assert np.all(parts["forecast_price"][n:] == 0)
        obs, _, term, _, _ = env.step(env.action_space.sample())
        parts = layout.split(obs)
        assert env.observation_space.contains(obs)
    assert u.forecast(10)["price"].shape == (u.horizon - u.t, u.J)  # truncated at the horizon
    # noise is real (not exact) and reproducible
    env.reset(seed=5)
    noisy = u.forecast(6)["price"][1:]
    assert not np.allclose(noisy, u.scenario.c[1:6])
    env.reset(seed=5)
    np.testing.assert_array_equal(u.forecast(6)["price"][1:], noisy)
    exact = make(forecast_hours=H)
    exact.reset(seed=5)
    np.testing.assert_array_equal(exact.unwrapped.forecast(6)["price"], exact.unwrapped.scenario.c[:6])


def test_water_left_and_time_left_track_the_episode():
    env = make()
    env.reset(seed=2)
    u = env.unwrapped
    prev = 1.0
    for t in range(24):
        obs, _, term, trunc, info = env.step(env.action_space.sample())
        parts = u.layout.split(obs)
        assert parts["time_left"][0] == pytest.approx((23 - t) / 24)
        assert parts["water_left"][0] <= prev
        prev = parts["water_left"][0]
        assert info["t"] == t and u.t == t + 1
        assert info["water_left_l"] == pytest.approx(u.water_left_l)
    assert term and trunc and "episode_totals" in info
    with pytest.raises(RuntimeError, match="reset"):
        u.step(env.action_space.sample())


# ----------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("bad, match", [
    (np.full(405, np.nan), "NaN or inf"), (np.r_[np.zeros(404), np.inf], "NaN or inf"),
    (np.zeros(404), r"shape.*\(404,\)"), (np.zeros((9, 9, 5)), r"shape.*\(9, 9, 5\)"), ("abc", "action")])
def test_bad_actions_raise_value_error(bad, match):
    env = GreenLLMEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=match):
        env.step(bad)


@pytest.mark.parametrize("kw, match", [
    ({"weights": (0.5, 0.5, 0.5)}, "weights"), ({"forecast_hours": -1}, "forecast_hours.*-1"),
    ({"forecast_noise": float("nan")}, "forecast_noise.*nan"), ({"action_mode": "argmax"}, "action_mode.*argmax"),
    ({"temperature": 0}, "temperature.*0"), ({"constraint_mode": "ignore"}, "constraint_mode.*ignore"),
    ({"reward_scale": -1}, "reward_scale.*-1"), ({"render_mode": "human"}, "render_mode.*human"),
    ({"generator_kwargs": {"I": 0}}, "generator_kwargs.*I"),
    ({"generator_kwargs": {"bogus": 1}}, "generator_kwargs.*bogus"),
    ({"generator_kwargs": {"seed": 3}}, "generator_kwargs.*seed"), ({"traces": "/nonexistent"}, "traces.*nonexistent"),
    ({"scenario_pool": 0}, "scenario_pool.*0"), ({"scenario": "s.json"}, "scenario.*str"),
    ({"penalty_factor": -2}, "penalty_factor.*-2")])
def test_bad_kwargs_name_argument_and_value(kw, match):
    with pytest.raises(ValueError, match=match):
        GreenLLMEnv(**kw)


def test_bad_reset_options():
    env = GreenLLMEnv()
    with pytest.raises(ValueError, match="unknown key.*bogus"):
        env.reset(options={"bogus": 1})
    with pytest.raises(ValueError, match="scenario_seed.*-3"):
        env.reset(options={"scenario_seed": -3})
    with pytest.raises(ValueError, match=r"\(I, K, J\)"):
        env.reset(options={"scenario": tiny_scenario()})


# -------------------------------------------------------------------------------------- render
def test_render_modes_are_headless():
    env = make(render_mode="ansi")
    env.reset(seed=0)
    assert "hour 0" in env.render()
    env.step(env.action_space.sample())
    text = env.render()
    assert "cost_weighted" in text and "us-central1" in text
    env = make(render_mode="rgb_array")
    env.reset(seed=0)
    env.step(env.action_space.sample())
    img = env.render()
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 and img.min() < 255


# ------------------------------------------------------------------------------- the water budget
def test_water_budget_binds_for_the_oracle_with_default_settings():
    from baselines import solve

    binding = sum(solve(make_scenario(seed)).water_dual > 0 for seed in range(20))
    assert binding >= 16, binding


def test_package_does_not_import_baselines_or_sb3():
    code = ("import sys, gymnasium as gym; import green_llm_env; from green_llm_env import env, vector, safety, "
            "actions, observation; e = gym.make('green_llm_env:GreenLLM-v0', constraint_mode='project'); "
            "e.reset(seed=0); e.step(e.action_space.sample()); "
            "v = gym.make_vec('green_llm_env:GreenLLM-v0', num_envs=2, vectorization_mode='vector_entry_point'); "
            "v.reset(seed=0); v.step(v.action_space.sample()); "
            "assert not any(m == 'baselines' or m.startswith('baselines.') for m in sys.modules), 'baselines'; "
            "assert 'stable_baselines3' not in sys.modules and 'torch' not in sys.modules, 'sb3 imported'; "
            "print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr
