"""The decomposed oracle (Lagrangian on the water row) against the monolithic LP."""

from __future__ import annotations

import numpy as np
import pytest

from baselines import InfeasibleScenarioError, solve
from baselines.decomposed import HourBlock, solve_decomposed
from baselines.oracle import AUTO_DECOMPOSED_COLUMNS
from green_llm_env import cost, make_scenario
from green_llm_env.hourly import least_water

from .conftest import tiny_scenario


def _check_equal(coef: cost.Coefficients, weights=cost.DEFAULT_WEIGHTS, **kw) -> tuple:
    mono = solve(coef, weights)
    dec = solve(coef, weights, method="decomposed", **kw)
    assert dec.method == "decomposed" and dec.status == "Optimal"
    assert dec.objective == pytest.approx(mono.objective, rel=1e-7)
    if min(weights) > 0:  # with a zero weight the total is degenerate (only the tie-break sets it)
        assert dec.total == pytest.approx(mono.total, rel=1e-7)
    out = cost.evaluate(coef, dec.plan, weights)
    assert out["cost_weighted"].sum() == pytest.approx(dec.objective, rel=1e-7)
    assert np.abs(out["violations"]).max() < 1e-6
    assert dec.water_l <= coef.water_budget_l * (1 + 1e-9)
    if mono.water_dual > 1e-9:  # a binding budget holds with equality, at the same price
        assert dec.water_l == pytest.approx(coef.water_budget_l, rel=1e-9)
        assert dec.water_dual == pytest.approx(mono.water_dual, rel=1e-5, abs=1e-9)
    else:
        assert dec.water_dual == pytest.approx(0.0, abs=1e-9)
    return mono, dec


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("weights", [(1 / 3, 1 / 3, 1 / 3), (0.6, 0.2, 0.2), (1.0, 0.0, 0.0)])
def test_equals_monolithic_on_generated_seeds(seed, weights):
    _check_equal(cost.coefficients(make_scenario(seed)), weights)


@pytest.mark.parametrize("sizes", [dict(I=4, J=3, K=2, T=6, R=2), dict(I=12, J=10, K=5, T=48),
                                   dict(I=6, J=6, K=3, T=72, R=3)])
def test_equals_monolithic_at_several_sizes(sizes):
    # T = 72 also runs the starting price from every third hour (SAMPLE_HOURS)
    for seed in (5, 6):
        _check_equal(cost.coefficients(make_scenario(seed, **sizes)), workers=2)


def test_unlimited_budget_is_the_price_free_plan():
    coef = cost.coefficients(make_scenario(7, water_fraction=None))
    mono, dec = _check_equal(coef)
    assert dec.water_dual == 0.0 and len(dec.phases) == 1


def test_barely_feasible_budget():
    s = make_scenario(8)
    least = least_water(cost.coefficients(s)).least_l.sum()
    coef = cost.coefficients(s.replace(Z=least * (1 + 1e-6)))
    mono, dec = _check_equal(coef)
    assert dec.water_dual > 0


def test_infeasible_budget_has_the_monolithic_message():
    s = make_scenario(8)
    least = least_water(cost.coefficients(s)).least_l.sum()
    coef = cost.coefficients(s.replace(Z=least * 0.99))
    with pytest.raises(InfeasibleScenarioError) as mono:
        solve(coef)
    with pytest.raises(InfeasibleScenarioError) as dec:
        solve(coef, method="decomposed")
    assert str(dec.value) == str(mono.value)
    with pytest.raises(InfeasibleScenarioError, match=r"water budget Z = 3.0 L is below the least water any plan "
                                                      r"needs \(4.0 L\)"):
        solve(tiny_scenario(Z=3.0), method="decomposed")
    with pytest.raises(InfeasibleScenarioError, match=r"demand at hour 0 needs 200.0 units of resource 0"):
        solve(tiny_scenario(C=np.array([[50.0, 50.0]])), method="decomposed")


def test_tiny_scenario_and_threads_agree():
    _check_equal(cost.coefficients(tiny_scenario()))
    coef = cost.coefficients(make_scenario(9))
    one = solve_decomposed(coef, workers=1)
    two = solve_decomposed(coef, workers=3)
    assert one.objective == pytest.approx(two.objective, rel=1e-12)


def test_hour_block_keeps_a_plan_between_equal_ends():
    coef = cost.coefficients(make_scenario(0))
    block = HourBlock(coef, range(coef.T), cost.DEFAULT_WEIGHTS)
    f1, w1, _ = block.solve(1, 0.02)
    f2, w2, _ = block.solve(2, 0.02)
    f3, w3, _ = block.solve(3, 0.02, between=(1, 2))  # every hour equal at both ends: no solve
    assert np.array_equal(f3, f1) and np.array_equal(w3, w1)
    assert sum(lp.solves for lp in block.lps) == 2 * coef.T


def test_method_argument_and_auto():
    s = make_scenario(0)
    with pytest.raises(ValueError, match="method must be one of monolithic, decomposed, auto; got 'fast'"):
        solve(s, method="fast")
    with pytest.raises(ValueError, match="workers must be an integer >= 1 or None; got 0"):
        solve(s, method="decomposed", workers=0)
    assert solve(s, method="auto").method == "weighted"  # 9,936 columns: below AUTO_DECOMPOSED_COLUMNS
    assert AUTO_DECOMPOSED_COLUMNS > 9936


def test_auto_decomposes_large_lps(monkeypatch):
    import baselines.oracle as oracle

    monkeypatch.setattr(oracle, "AUTO_DECOMPOSED_COLUMNS", 9936)
    assert solve(make_scenario(0), method="auto").method == "decomposed"


def test_cli_method(tmp_path):
    from baselines.oracle import main

    path = tmp_path / "s.json"
    make_scenario(3).to_json(path)
    import contextlib
    import io
    import json

    outs = []
    for method in ("monolithic", "decomposed"):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            assert main(["--scenario", str(path), "--json", "--method", method]) == 0
        outs.append(json.loads(buf.getvalue()))
    assert outs[1]["method"] == "decomposed"
    assert outs[1]["objective"] == pytest.approx(outs[0]["objective"], rel=1e-7)
