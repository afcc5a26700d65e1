"""The safety layer (constraint_mode="project"): every applied allocation meets every constraint."""

from __future__ import annotations

import inspect

import gymnasium as gym
import numpy as np
import pytest

import green_llm_env.safety as safety_module
from green_llm_env import cost, make_scenario
from green_llm_env.actions import project_simplex
from green_llm_env.env import scenario_tables
from green_llm_env.safety import SafetyLayer

ENV_ID = "green_llm_env:GreenLLM-v0"


def _hour_ok(coef, x, t, left, tol=1e-6):
    ev = cost.evaluate(coef, x, hours=t, water_left_l=left)
    v = ev["violations"]
    bounds = np.array([1.0, coef.capacity.sum(), coef.delay_cap_s.sum(), coef.grid_cap_kw[t].sum(),
                       max(coef.water_budget_l, 1.0)])
    assert np.all(v <= tol * bounds), (t, v)
    assert x.min() >= 0.0
    return float(ev["water_l"])


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("policy", ["random", "greedy_dc0"])
def test_every_step_is_feasible_under_the_safety_layer(seed, policy):
    env = gym.make(ENV_ID, constraint_mode="project", scenario_pool=50)
    env.reset(seed=seed)
    u = env.unwrapped
    rng = np.random.default_rng(seed)
    left = u.water_left_l
    used = 0.0
    statuses = set()
    for t in range(24):
        if policy == "random":
            a = rng.uniform(-1, 1, 405)
        else:  # everything to DC 0: infeasible in resources, delay and water
            a = np.zeros((9, 5, 9))
            a[..., 0] = 1.0
            a = a.reshape(-1)
        _, _, term, _, info = env.step(a)
        w = _hour_ok(u.coef, u.allocation, t, left)
        left -= w
        used += w
        assert info["penalty"] == 0.0, (t, info["violations"])
        statuses.add(u._safety.last_status)
    assert term and used <= u.scenario.Z * (1 + 1e-6)
    if policy == "greedy_dc0":
        assert "Optimal" in statuses  # the QP did work


def test_oracle_plan_passes_unchanged():
    from baselines import solve

    env = gym.make(ENV_ID, constraint_mode="project")
    env.reset(seed=4)
    u = env.unwrapped
    res = solve(u.scenario)
    total = 0.0
    for t in range(24):
        _, _, _, _, info = env.step(res.plan[t].reshape(-1))
        np.testing.assert_allclose(u.allocation, res.plan[t], atol=1e-12)
        total += info["cost_weighted"] + info["penalty"]
    assert abs(total - res.objective) <= 1e-6 * res.objective


def test_projection_is_no_farther_than_a_known_feasible_point():
    """The QP's answer is feasible and at least as close to x0 as the oracle's (feasible) hour."""
    from baselines import solve

    s = make_scenario(6)
    tab = scenario_tables(s, cost.DEFAULT_WEIGHTS)
    layer = SafetyLayer(tab)
    res = solve(s)
    rng = np.random.default_rng(0)
    for trial in range(4):
        x0 = project_simplex(rng.uniform(-1, 1, (45, 9)) + 3.0 * (np.arange(9) == 2 * trial))  # mostly one DC
        x = layer.project(x0, 0, s.Z)
        assert layer.last_status == "Optimal"
        _hour_ok(tab.coef, x, 0, s.Z - layer.reserve_l(0))
        ref = res.plan[0].reshape(45, 9)
        assert layer.feasible(ref, 0, s.Z)
        assert np.linalg.norm(x - x0) <= np.linalg.norm(ref - x0) + 1e-6


def test_least_water_fallback_when_the_budget_is_spent():
    s = make_scenario(7)
    tab = scenario_tables(s, cost.DEFAULT_WEIGHTS)
    layer = SafetyLayer(tab)
    x0 = np.full((45, 9), 1 / 9)
    x = layer.project(x0, 5, 0.0)
    assert layer.last_status == "least-water"
    ev = cost.evaluate(tab.coef, x, hours=5)
    assert ev["violations"][:4].max() <= 1e-6 * s.C.sum()
    assert ev["water_l"] == pytest.approx(layer._least[5], rel=1e-6)
    assert ev["water_l"] <= cost.evaluate(tab.coef, x0, hours=5)["water_l"]


def test_safety_layer_builds_rows_from_the_cost_model_only():
    src = inspect.getsource(safety_module)
    assert "baselines" not in src.replace("never baselines", "")
    assert "hour_lp" in src and "least_water_of" in src  # the rows of green_llm_env.constraints
