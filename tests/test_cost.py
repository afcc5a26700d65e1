"""The cost model: hand-computed values, batch-first shapes, the grid rule and violation families."""

from __future__ import annotations

import numpy as np
import pytest

from green_llm_env import cost, make_scenario

from .conftest import tiny_scenario


def _plan(a00: float, a10: float, T: int = 2) -> np.ndarray:
    """Tiny-scenario plan: share of area 0 / area 1 sent to DC0 in every hour, (T, I, K, J)."""
    x = np.array([[[a00, 1 - a00]], [[a10, 1 - a10]]])
    return np.broadcast_to(x, (T,) + x.shape).copy()


def test_hand_computed_quantities(tiny):
    coef = cost.coefficients(tiny)
    out = cost.evaluate(coef, _plan(1.0, 0.5), detail=True)
    assert np.allclose(out["it_kw"], [[1.5, 0.5], [1.5, 0.5]])
    assert np.allclose(out["grid_kw"], [[1.5, 0.5], [1.5, 0.0]])
    assert np.allclose(out["curtailed_kw"], 0.0)
    assert np.allclose(out["energy_usd"], [0.25, 0.15])
    assert np.allclose(out["delay_s"][:, 1, 0], 0.5) and np.allclose(out["delay_prop_s"], out["delay_s"])
    assert np.allclose(out["delay_usd"], 0.005)
    assert np.allclose(out["water_l"], 2.0)
    assert np.allclose(out["resource_use"][:, 0], [[150.0, 50.0]] * 2)
    assert np.allclose(out["cost_weighted"], (out["energy_usd"] + out["delay_usd"]) / 3)
    assert np.allclose(out["violations"], 0.0)


def test_violation_families(tiny):
    coef = cost.coefficients(tiny)
    x = _plan(1.0, 1.0)  # 200 units at DC0 (cap 150); area 1 gets 1 s of delay (cap 10)
    x[0, 0, 0] = [0.7, 0.2]  # hour 0, area 0 sums to 0.9
    out = cost.evaluate(coef, x, hours=None, water_left_l=np.array([1.0, 0.5]))
    v = dict(zip(cost.FAMILIES, out["violations"].T))
    assert np.allclose(v["allocation"], [0.1, 0.0])
    assert np.allclose(v["resource"], [20.0, 50.0])  # hour 0: 70 + 100 units
    assert np.allclose(v["delay"], 0.0)
    assert np.allclose(v["grid"], 0.0)
    assert np.allclose(v["water"], out["water_l"] - [1.0, 0.5])
    tight = cost.coefficients(tiny.replace(P_max=np.full((2, 2), 1.0), Delta=np.array([[10.0], [0.5]])))
    v = dict(zip(cost.FAMILIES, cost.evaluate(tight, _plan(1.0, 1.0))["violations"].T))
    assert np.allclose(v["grid"], [1.0, 1.0]) and np.allclose(v["delay"], [0.5, 0.5])


def test_batched_hours_equal_whole_plan():
    s = make_scenario(3)
    coef = cost.coefficients(s)
    rng = np.random.default_rng(0)
    plan = rng.dirichlet(np.ones(s.J), size=(s.T, s.I, s.K))
    whole = cost.evaluate(coef, plan)
    hours = np.array([5, 0, 23, 5])
    batch = cost.evaluate(coef, plan[hours], hours=hours, water_left_l=np.full(4, 1e9))
    single = cost.evaluate(coef, plan[7], hours=7)
    for key in ("cost_weighted", "grid_kw", "water_l", "resource_use", "delay_s", "violations"):
        assert np.allclose(batch[key], whole[key][hours]), key
        assert np.allclose(single[key], whole[key][7]), key
    assert batch["cost_weighted"].shape == (4,) and single["cost_weighted"].shape == ()


def test_grid_rule_buys_at_negative_weighted_price(tiny):
    s = tiny.replace(c=np.array([[-0.1, 0.2], [0.1, 0.2]]))
    coef = cost.coefficients(s)
    out = cost.evaluate(coef, _plan(1.0, 0.5), weights=(1.0, 0.0, 0.0))
    assert out["grid_kw"][0, 0] == pytest.approx(1.5)  # = load: P_g <= P_d caps the paid-for purchase
    s = tiny.replace(c=np.array([[-0.1, 0.2], [0.1, 0.2]]), P_w=np.array([[1.0, 0.0], [0.0, 0.5]]))
    out = cost.evaluate(cost.coefficients(s), _plan(1.0, 0.5), weights=(1.0, 0.0, 0.0))
    assert out["grid_kw"][0, 0] == pytest.approx(1.5)
    assert out["curtailed_kw"][0, 0] == pytest.approx(1.0)  # all renewables curtailed while paid to buy


def test_lp_coefficients_agree_with_evaluate():
    s = make_scenario(8)
    coef = cost.coefficients(s)
    rng = np.random.default_rng(1)
    x = rng.dirichlet(np.ones(s.J), size=(s.T, s.I, s.K))
    xf = x.reshape(s.T, s.I * s.K, s.J)
    out = cost.evaluate(coef, x, weights=(0.2, 0.3, 0.5))
    assert np.allclose((cost.facility_kw_per_share(coef) * xf).sum(1), out["facility_kw"])
    assert np.allclose((cost.water_l_per_share(coef) * xf).sum((1, 2)), out["water_l"])
    x_cost, grid_cost = cost.objective_coefficients(coef, (0.2, 0.3, 0.5))
    lp_value = (x_cost * xf).sum((1, 2)) + (grid_cost * out["grid_kw"]).sum(1)
    assert np.allclose(lp_value, out["cost_weighted"])


def test_hour_terms_kernel_hand_computed(tiny):
    """The batch-first kernel on its own: numbers, families, rows of the tables, the nonnegative shortcut."""
    w = (0.5, 0.2, 0.3)
    coef = cost.coefficients(tiny)
    tab = cost.hour_tables(coef, w)
    assert all(getattr(tab, f).shape[0] == 2 for f in cost.HOUR_FIELDS) and not tab.negative_price
    x = _plan(1.0, 0.5).reshape(2, 2, 2)  # hours 0, 1
    nums, viol, use, fac, grid, delay, water_dc = cost.hour_terms(tab, x, water_left_l=np.array([10.0, 1.5]))
    got = dict(zip(cost.NUMBERS, nums.T))
    assert np.allclose(got["energy_usd"], [0.25, 0.15]) and np.allclose(got["carbon_usd"], 0.0)
    assert np.allclose(got["delay_usd"], 0.005) and np.allclose(got["grid_kwh"], [2.0, 1.5])
    assert np.allclose(got["total_usd"], got["energy_usd"] + 0.005)
    assert np.allclose(got["cost_weighted"], 0.5 * got["energy_usd"] + 0.3 * 0.005)
    assert np.allclose(got["water_l"], 2.0) and np.allclose(water_dc, [[1.5, 0.5]] * 2)
    assert np.allclose(use[:, 0], [[1.5, 0.5]] * 2) and np.allclose(use[:, 1], [[150.0, 50.0]] * 2)
    assert np.allclose(fac, use[:, 0]) and np.allclose(grid, [[1.5, 0.5], [1.5, 0.0]])
    assert np.allclose(delay, [[0.0, 0.5]] * 2)
    assert np.allclose(viol, [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0.5]])  # hour 1: 2 L used, 1.5 L left
    same = cost.hour_terms(tab, x, np.array([10.0, 1.5]), nonnegative=True)
    for a, b in zip(same, (nums, viol, use, fac, grid, delay, water_dc)):
        np.testing.assert_array_equal(a, b)
    swapped = cost.hour_terms(tab, x[::-1], np.array([1.5, 10.0]), rows=np.array([1, 0]))
    for a, b in zip(swapped, (nums, viol, use, fac, grid, delay, water_dc)):
        np.testing.assert_array_equal(a, b[::-1])
    with pytest.raises(ValueError, match="one row per element"):
        cost.hour_terms(tab, x[:1])
    assert np.all(cost.hour_terms(tab, x)[1][:, 4] == 0.0)  # no water_left_l: no water family
    one = cost.hour_terms(tab.take(slice(1, 2)), x[1:], 1.5)
    np.testing.assert_allclose(one[0], nums[1:], rtol=1e-15)
    np.testing.assert_allclose(one[1], viol[1:], rtol=1e-15)
    bad = x.copy()
    bad[0, 0] = [1.2, -0.4]  # sums to 0.8, with 0.4 below zero
    assert cost.hour_terms(tab, bad)[1][0, 0] == pytest.approx(0.2 + 0.4)
    assert cost.hour_terms(tab, bad, nonnegative=True)[1][0, 0] == pytest.approx(0.2)  # the caller's promise


def test_hour_terms_negative_price_buys_what_the_cap_allows(tiny):
    s = tiny.replace(c=np.array([[-0.1, 0.2], [0.1, 0.2]]), P_max=np.full((2, 2), 1.2))
    tab = cost.hour_tables(cost.coefficients(s), (1.0, 0.0, 0.0))
    assert tab.negative_price and not tab.take(slice(1, 2)).negative_price
    x = _plan(1.0, 0.5).reshape(2, 2, 2)
    grid = cost.hour_terms(tab, x)[4]
    assert np.allclose(grid, [[1.2, 0.5], [1.5, 0.0]])  # hour 0, DC0: paid to buy, up to the 1.2 kW cap


def test_evaluate_whole_plans_with_more_leading_axes():
    s = make_scenario(4, T=6)
    coef = cost.coefficients(s)
    rng = np.random.default_rng(2)
    plans = rng.dirichlet(np.ones(s.J), size=(3, s.T, s.I, s.K))
    both = cost.evaluate(coef, plans, (0.2, 0.5, 0.3))
    for b in range(3):
        one = cost.evaluate(coef, plans[b], (0.2, 0.5, 0.3))
        for key, val in one.items():
            np.testing.assert_allclose(both[key][b], val, rtol=1e-13, err_msg=key)
    with pytest.raises(ValueError, match=r"hours=None.*\(9, 5, 9\)"):
        cost.evaluate(coef, plans[0, 0])


@pytest.mark.parametrize("weights, match", [((1, 0), "three numbers"), ((0.5, 0.6, -0.1), ">= 0"),
                                            ((0.3, 0.3, 0.3), "sum to 1"), ((np.nan, 0.5, 0.5), "finite")])
def test_check_weights(weights, match):
    with pytest.raises(ValueError, match=match):
        cost.check_weights(weights)
