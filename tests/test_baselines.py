"""Baselines: every policy at or above the oracle, MPC with perfect forecasts equal to it, the registry,
windowing, the greedy fill's capacity respect, the water guard and allowance rules."""

from __future__ import annotations

import functools

import gymnasium as gym
import numpy as np
import pytest

from baselines import make_policy, solve
from baselines.heuristics import (cheapest_plan, greedy_fill, least_water_l, nearest_plan, reserve_after,
                                  uniform_plan)
from baselines.mpc import MPCPolicy, WindowSolver, to_action, window
from baselines.myopic import myopic_allowance
from baselines.policy import (Policy, PolicySpecError, _LOADERS, _FACTORIES, available_policies, parse_spec,
                              register_policy, register_policy_loader, spec_label)
from green_llm_env import cost, make_scenario

from .conftest import tiny_scenario

SEEDS = (1000, 1001, 1002)
ALL_POLICIES = ("oracle", "mpc", "mpc:horizon=6", "mpc_noisy", "myopic", "uniform", "nearest", "cheapest",
                "greenest", "renewable_first")
REL_TOL = 1e-7  # solver tolerance, relative to the oracle objective


@functools.lru_cache(maxsize=None)
def scenario(seed: int, **kw):
    return make_scenario(seed, **kw)


@functools.lru_cache(maxsize=None)
def oracle_objective(seed: int, weights=cost.DEFAULT_WEIGHTS) -> float:
    return solve(scenario(seed), weights).objective


def play(spec_or_policy, s, weights=cost.DEFAULT_WEIGHTS, seed: int = 0, **env_kwargs):
    """One episode through the registered env; returns (sum cost_weighted + penalty, policy, env)."""
    policy = make_policy(spec_or_policy) if isinstance(spec_or_policy, str) else spec_or_policy
    kwargs = {**env_kwargs, **getattr(policy, "env_kwargs", {})}
    env = gym.make("green_llm_env:GreenLLM-v0", weights=weights, max_episode_steps=s.T, **kwargs)
    obs, _ = env.reset(seed=seed, options={"scenario": s})
    policy.reset(env.unwrapped)
    total = 0.0
    steps = 0
    while True:
        obs, _, terminated, truncated, info = env.step(policy.act(obs, env.unwrapped))
        total += info["cost_weighted"] + info["penalty"]
        steps += 1
        if terminated or truncated:
            break
    assert steps == s.T
    return total, policy, env.unwrapped


# ------------------------------------------------------------------------------ the bound
@pytest.mark.parametrize("spec", ALL_POLICIES)
@pytest.mark.parametrize("seed", SEEDS)
def test_every_policy_at_or_above_the_oracle(spec, seed):
    s = scenario(seed)
    score, _, env = play(spec, s, seed=seed)
    opt = oracle_objective(seed)
    assert score >= opt * (1 - REL_TOL), f"{spec} on seed {seed}: {score} < oracle {opt}"


@pytest.mark.parametrize("seed", SEEDS)
def test_oracle_replay_and_full_horizon_mpc_match_the_oracle(seed):
    s = scenario(seed)
    opt = oracle_objective(seed)
    for spec in ("oracle", "mpc", f"mpc:horizon={s.T}", "mpc:horizon=100"):
        score, policy, _ = play(spec, s, seed=seed)
        assert abs(score - opt) <= 1e-6 * opt, f"{spec}: {score} vs oracle {opt}"
    # With perfect forecasts and H >= T the first plan stays optimal: one LP per episode.
    _, mpc, _ = play("mpc", s, seed=seed)
    assert mpc.solver.solves == 1


@pytest.mark.parametrize("spec", ["mpc", "mpc:horizon=5", "myopic", "renewable_first"])
def test_one_policy_object_serves_many_episodes(spec):
    """evaluate.py keeps one policy per spec: reset must leave nothing behind from the last episode (the
    LP policies keep their HiGHS instance)."""
    policy = make_policy(spec)
    solvers = set()
    for seed in (1001, 1000, 1001):
        score, policy, _ = play(policy, scenario(seed))
        assert score == pytest.approx(play(spec, scenario(seed))[0], rel=1e-9)
        solvers.add(id(getattr(policy, "solver", None)))
    assert len(solvers) == 1


def test_full_horizon_mpc_through_exact_env_forecasts_matches_the_oracle():
    """forecast="env" with forecast_noise = 0 re-solves every slot (warm) and still lands on the optimum."""
    s = scenario(1003)
    policy = MPCPolicy(name="m", horizon=s.T, forecast="env", noise=0.0)
    score, policy, _ = play(policy, s)
    assert policy.solver.solves == s.T
    assert policy.solver.warm == s.T - 1
    opt = solve(s).objective
    assert abs(score - opt) <= 1e-6 * opt


def test_mpc_matches_the_oracle_for_other_weights():
    w = (0.6, 0.2, 0.2)
    s = scenario(1004)
    opt = solve(s, w).objective
    score, _, _ = play("mpc", s, weights=w)
    assert abs(score - opt) <= 1e-6 * opt
    for spec in ("myopic", "cheapest", "mpc:horizon=4"):
        assert play(spec, s, weights=w)[0] >= opt * (1 - REL_TOL)


def test_shorter_window_costs_more_and_noisy_forecasts_cost_more():
    """Not a law for every seed, but on these the ordering oracle <= mpc(6) and oracle <= mpc_noisy is strict
    enough to show the window and the noise do something."""
    s = scenario(1001)
    opt = oracle_objective(1001)
    assert play("mpc:horizon=6", s)[0] > opt * (1 + 1e-4)
    assert play("mpc_noisy", s, seed=5)[0] > opt * (1 + 1e-5)


def test_noisy_mpc_keeps_water_back_for_forecast_error():
    """Seed 1016's budget is only 7% above the least water the day needs: without the margin the noisy MPC
    overruns it in the last hour (a steep penalty); with it the gap stays small."""
    s = scenario(1016)
    opt = solve(s).objective
    score, policy, env = play("mpc_noisy", s, seed=1016)
    assert env.water_left_l >= -1e-6 * s.Z and score <= opt * 1.02
    score0, _, env0 = play("mpc_noisy:water_margin=0", s, seed=1016)
    assert env0.water_left_l < -1e-6 * s.Z and score0 > score


def test_noisy_mpc_asks_the_env_for_noise():
    p = make_policy("mpc_noisy")
    assert p.env_kwargs == {"forecast_noise": 0.1} and p.kind == "mpc_noisy"
    assert make_policy("mpc_noisy:noise=0.3").env_kwargs == {"forecast_noise": 0.3}
    assert make_policy("mpc").env_kwargs == {} and make_policy("mpc").kind == "mpc"


def test_heuristics_and_myopic_stay_within_the_water_budget():
    """The water guard / allowance reserve keep every slot feasible (the env's water penalty is steep)."""
    for seed in SEEDS:
        s = scenario(seed)
        for spec in ("uniform", "nearest", "cheapest", "greenest", "renewable_first", "myopic"):
            _, _, env = play(spec, s, seed=seed)
            assert env.water_left_l >= -1e-6 * s.Z, (spec, seed, env.water_left_l)


def test_heuristics_without_the_water_guard_overrun_the_budget():
    """The generator's budget is 95% of the greedy plan's water, so an unguarded cheapest rule overruns it:
    the guard is what keeps the guarded policies feasible."""
    s = scenario(1000)
    _, _, env = play("cheapest:water_guard=false", s)
    assert env.water_left_l < -1.0


# ------------------------------------------------------------------------------ heuristics
@pytest.mark.parametrize("plan_fn", [uniform_plan, nearest_plan, cheapest_plan])
def test_heuristic_plans_respect_capacity_and_delay_caps(plan_fn):
    s = scenario(1002)
    coef = cost.coefficients(s)
    x = plan_fn(s)
    assert x.shape == (s.T, s.I, s.K, s.J)
    assert np.allclose(x.sum(-1), 1.0) and x.min() >= 0
    out = cost.evaluate(coef, x)
    viol = out["violations"]
    assert np.all(viol[:, 1] <= 1e-6 * coef.capacity.sum())  # resources
    assert np.all(viol[:, 2] <= 1e-9)  # delay caps


def test_rules_pick_the_best_dc_when_capacity_is_ample():
    s = scenario(1003)
    big = s.replace(C=s.C * 1e6)
    coef = cost.coefficients(big)
    allowed = coef.delay_s <= coef.delay_cap_s[None, :, None]
    near = nearest_plan(big).reshape(coef.T, coef.N, coef.J)
    assert np.array_equal(near.argmax(-1), coef.delay_s.argmin(-1))
    assert np.allclose(near.max(-1), 1.0)
    cheap = cheapest_plan(big).reshape(coef.T, coef.N, coef.J)
    score = np.where(allowed, (coef.price * coef.pue)[:, None, :], np.inf)
    assert np.array_equal(cheap.argmax(-1), score.argmin(-1))


def test_greedy_fill_respects_capacity_and_completes_rows():
    rng = np.random.default_rng(0)
    T, N, J, R = 3, 7, 4, 2
    use = rng.uniform(0.5, 1.5, (T, N, R, 1))
    cap = np.full((R, J), 0.3 * N)  # total 1.2 N per resource: enough, but the favourite DC overflows
    score = np.broadcast_to(np.arange(J, dtype=float), (T, N, J)).copy()
    x = greedy_fill(score, use, cap)
    assert np.allclose(x.sum(-1), 1.0)
    load = np.einsum("tnrj,tnj->trj", use, x)
    assert np.all(load <= cap + 1e-9)
    assert np.all(x[..., 0].sum(-1) > 0)  # the favourite is used ...
    assert np.allclose(load[:, :, 0].max(-1), cap[:, 0].max())  # ... up to its capacity
    # Without completion the overflow stays unallocated when capacity is short.
    x2 = greedy_fill(score, use, cap * 0.1, complete=False)
    assert np.all(x2.sum(-1) < 1.0)
    x3 = greedy_fill(score, use, cap * 0.1)
    assert np.allclose(x3.sum(-1), 1.0)  # completion sends the rest to the favourite


def test_water_reserve_and_least_water():
    s = scenario(1000)
    least = least_water_l(s)
    assert least.shape == (s.T,) and np.all(least > 0)
    res = reserve_after(least)
    assert res[-1] == 0 and res[0] == pytest.approx(least.sum())
    assert least.sum() < s.Z  # the generator's budget covers the least-water day


def test_myopic_allowance_rule():
    e = np.array([1.0, 2.0])
    # t = 1 of T = 2: the last hour may use all that is left.
    assert myopic_allowance(100.0, e, 2) == pytest.approx(100.0)
    # t = 0 of T = 4: share 1 / (1 + 3*1) of the water left.
    assert myopic_allowance(100.0, e[:1], 4) == pytest.approx(25.0)
    # The reserve caps it; the hour's least water floors it.
    assert myopic_allowance(100.0, e[:1], 4, reserve_next=90.0) == pytest.approx(10.0)
    assert myopic_allowance(100.0, e[:1], 4, reserve_next=90.0, least_now=12.0) == pytest.approx(12.0)


# ------------------------------------------------------------------------------ windows, LP
def test_window_slices_time_fields_and_keeps_the_rest():
    s = scenario(1000)
    w = window(s, 5, 9, 123.0)
    assert w.T == 4 and w.Z == 123.0 and w.start_hour == (s.start_hour + 5) % 24
    assert np.array_equal(w.lam, s.lam[5:9]) and np.array_equal(w.c, s.c[5:9]) and np.array_equal(w.C, s.C)
    full = cost.coefficients(window(s, 0, s.T, s.Z))
    ref = cost.coefficients(s)
    assert np.array_equal(full.delay_s, ref.delay_s) and np.array_equal(full.it_kw, ref.it_kw)
    lam = np.ones((4, s.I, s.K))
    assert np.array_equal(window(s, 5, 9, 1.0, lam=lam).lam, lam)
    with pytest.raises(ValueError, match="t0"):
        window(s, 5, 5, 1.0)
    with pytest.raises(ValueError, match="shape"):
        window(s, 0, 2, 1.0, lam=lam)
    with pytest.raises(ValueError, match="time field"):
        window(s, 0, 2, 1.0, C=s.C)


def test_window_solver_full_window_equals_the_oracle():
    s = tiny_scenario()
    plan, relaxed = WindowSolver().solve(s)
    assert not relaxed
    assert np.allclose(plan, solve(s).plan, atol=1e-9)


def test_window_solver_plays_the_least_water_plan_when_the_allowance_is_too_small():
    # DC1 uses twice the water per kWh; DC0 holds 1.5 areas of load, so the least water is
    # 1.5 kWh * 1 L + 0.5 kWh * 2 L = 2.5 L per hour.
    s = tiny_scenario(WUE=np.array([[1.0, 2.0], [1.0, 2.0]]), Z=0.5)
    plan, relaxed = WindowSolver().solve(s)
    assert relaxed and np.allclose(plan.sum(-1), 1.0)
    assert cost.evaluate(cost.coefficients(s), plan)["water_l"].sum() == pytest.approx(5.0)
    plan, relaxed = WindowSolver().solve(s.replace(Z=100.0))
    assert not relaxed


def test_to_action_lands_on_the_simplex():
    x = np.array([[[0.5, 0.5 + 1e-12, -1e-13]], [[0.0, 0.0, 0.0]]])
    a = to_action(x).reshape(2, 1, 3)
    assert np.allclose(a.sum(-1), 1.0) and a.min() >= 0
    assert np.allclose(a[1], 1 / 3)


# ------------------------------------------------------------------------------ registry
def test_registry_builds_every_builtin():
    for name in ("oracle", "mpc", "mpc_noisy", "myopic", "uniform", "nearest", "cheapest", "greenest",
                 "renewable_first", "day_price", "constant_price", "forecast_lp"):
        p = make_policy(name)
        assert isinstance(p, Policy) and p.name == name
        assert name in available_policies()
    p = make_policy("mpc:horizon=6:noise=0.2")
    assert p.horizon == 6 and p.name == "mpc:horizon=6:noise=0.2"


def test_parse_spec():
    assert parse_spec("mpc") == ("mpc", None, {})
    assert parse_spec("mpc:horizon=6:forecast=env") == ("mpc", None, {"horizon": 6, "forecast": "env"})
    assert parse_spec("ppo=logs/ppo/GreenLLM-v0_1") == ("ppo", "logs/ppo/GreenLLM-v0_1", {})
    assert parse_spec("ppo=C:/x") == ("ppo", "C:/x", {})
    assert spec_label("ppo_best=logs/x") == "ppo_best" and spec_label(" mpc:horizon=3 ") == "mpc:horizon=3"
    for bad in ("", "mpc:horizon", "=path", "ppo="):
        with pytest.raises(PolicySpecError):
            parse_spec(bad)


def test_unknown_names_and_bad_options_are_clear_errors():
    with pytest.raises(PolicySpecError, match="unknown policy 'nope'"):
        make_policy("nope")
    with pytest.raises(PolicySpecError, match="unexpected keyword"):
        make_policy("uniform:horizon=3")
    with pytest.raises(ValueError, match="horizon"):
        make_policy("mpc:horizon=0")
    with pytest.raises(PolicySpecError, match="no loader registered for 'zzz'"):
        make_policy("zzz=some/path")


def test_loaders_and_custom_policies_plug_in(monkeypatch):
    monkeypatch.setattr("baselines.policy._LOADERS", dict(_LOADERS))
    monkeypatch.setattr("baselines.policy._FACTORIES", dict(_FACTORIES))
    seen = {}

    def loader(path, name=None, **kw):
        seen["path"], seen["name"] = path, name
        return make_policy("uniform")

    register_policy_loader("fake", loader)
    assert make_policy("fake_run2=runs/x:y").name == "uniform"
    assert seen == {"path": "runs/x:y", "name": "fake_run2"}
    register_policy("constant", lambda name, **kw: make_policy("nearest"))
    assert make_policy("constant").name == "nearest"
    with pytest.raises(ValueError, match="policy name"):
        register_policy("a:b", loader)

    class NotAPolicy:
        pass

    register_policy("broken", lambda name, **kw: NotAPolicy())
    with pytest.raises(PolicySpecError, match="lacks name/reset/act"):
        make_policy("broken")
