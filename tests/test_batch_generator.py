"""The batch-first scenario generator of GreenLLM-v2 (`green_llm_env.batch_generator`): determinism per seed,
the hour tables equal the cost model's bit for bit, make_scenario's distributions, a binding water budget, argument
errors and other sizes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from green_llm_env import Scenario, cost, kernels, make_scenario
from green_llm_env import batch_generator as bg
from green_llm_env.generator import greedy_plan

FIELDS = bg._FIELDS
SCENARIO_NAME = {"bandwidth": "B"}


@pytest.fixture(scope="module")
def batch() -> bg.ScenarioBatch:
    return bg.draw_batch(np.array([3, 7, 11, 3, 2**40, 0]))


def _same(a: bg.ScenarioBatch, i: int, b: bg.ScenarioBatch, j: int) -> None:
    for name in FIELDS:
        x, y = getattr(a, name)[i], getattr(b, name)[j]
        assert x.tobytes() == y.tobytes(), name


# ----------------------------------------------------------------------------------------- determinism
def test_a_seed_gives_the_same_scenario_alone_and_anywhere_in_a_batch(batch):
    alone = bg.draw_batch(np.array([7]))
    other = bg.draw_batch([11, 5, 7, 3])
    _same(batch, 1, alone, 0)
    _same(batch, 1, other, 2)
    _same(batch, 2, other, 0)
    _same(batch, 0, batch, 3)  # the same seed twice in one batch
    _same(batch, 0, other, 3)
    assert not np.array_equal(batch.lam[0], batch.lam[1])
    again = bg.draw_batch(np.array([3, 7, 11, 3, 2**40, 0]))
    for name in FIELDS:
        assert getattr(again, name).tobytes() == getattr(batch, name).tobytes(), name
    kw = dict(I=4, J=5, K=3, T=7, R=2, start_hour=9, psi_theta=1.2, demand_scale=0.8, water_fraction=0.7)
    _same(bg.draw_batch([9, 4], **kw), 1, bg.draw_batch([4], **kw), 0)


def test_batch_layout_and_accessors(batch):
    B = len(batch)
    assert B == 6 and batch.seeds.tolist() == [3, 7, 11, 3, 2**40, 0] and batch.seeds.dtype == np.int64
    assert batch.sizes == {"I": 9, "J": 9, "K": 5, "T": 24, "R": 3} and batch.start_hour == 0
    shapes = {"lam": (B, 24, 9, 5), "h": (B, 5), "PUE": (B, 9), "c": (B, 24, 9), "delta": (B, 9), "Z": (B,),
              "C": (B, 3, 9), "alpha": (B, 5, 3), "beta": (B, 24, 9, 5), "bandwidth": (B, 9, 9), "d": (B, 9, 9),
              "v": (B, 9, 5), "rho": (B, 5), "Delta": (B, 9, 5)}
    for name, shape in shapes.items():
        assert getattr(batch, name).shape == shape, name
    for name in FIELDS:
        a = getattr(batch, name)
        assert a.dtype == np.float64 and not a.flags.writeable, name
    assert np.array_equal(batch.lam_flat(), batch.lam.reshape(B, 24, 45))
    assert batch.lam_flat()[2, 5, 1 * 5 + 3] == batch.lam[2, 5, 1, 3]


# ------------------------------------------------------------------------------------ one cost model
@pytest.mark.parametrize("weights", [cost.DEFAULT_WEIGHTS, (0.6, 0.2, 0.2), (0.2, 0.2, 0.6), (1.0, 0.0, 0.0),
                                     np.array([0.45, 0.1, 0.45])])
def test_hour_flat_equals_the_cost_model_bit_for_bit(batch, weights):
    flat = batch.hour_flat(weights)
    assert flat.shape == (len(batch), 24, kernels.layout(3, 45, 9)[-1])
    for b in range(len(batch)):
        ref = cost.hour_tables(cost.coefficients(batch.scenario(b)), weights).flat
        assert flat[b].shape == ref.shape
        assert flat[b].tobytes() == ref.tobytes(), b
    assert batch.hour_flat(weights, compiled=False).tobytes() == flat.tobytes()


def test_hour_flat_out_and_weight_errors(batch):
    out = np.full((len(batch), 24, batch.hour_flat().shape[2]), np.nan)
    assert batch.hour_flat(out=out) is out and np.array_equal(out, batch.hour_flat())
    with pytest.raises(ValueError, match=r"hour_flat: out must be a writeable C-contiguous float64 array"):
        batch.hour_flat(out=out[:, :, :-1])
    with pytest.raises(ValueError, match="weights must sum to 1"):
        batch.hour_flat((0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="weights must be three numbers"):
        batch.hour_flat((0.5, 0.5))


def test_coefficient_arrays_is_batch_first(batch):
    """`cost.coefficient_arrays` over the batch equals `cost.coefficients` of each scenario, bit for bit."""
    arrays = cost.coefficient_arrays(**batch._inputs())
    for b in (0, 4):
        coef = cost.coefficients(batch.scenario(b))
        for name, value in arrays.items():
            assert np.asarray(value[b]).tobytes() == np.ascontiguousarray(getattr(coef, name)).tobytes(), name


# ---------------------------------------------------------------------------------------- scenarios
def test_every_scenario_validates_and_is_named(batch):
    for b in range(len(batch)):
        s = batch.scenario(b)
        assert isinstance(s, Scenario) and s.validate() is s
        assert s.dc_names == make_scenario(0, water_fraction=None).dc_names
        assert s.query_types == ("chat", "summarization", "math", "code", "image")
        assert bg.GENERATOR_NAME in s.description and "v2" in s.description
        assert s.description.endswith(f"seed {int(batch.seeds[b])}")
        assert s.Z == batch.Z[b] and s.start_hour == 0
        for name in FIELDS:
            assert np.array_equal(getattr(s, SCENARIO_NAME.get(name, name)), getattr(batch, name)[b]), name
    assert batch.scenario(-1).description.endswith("seed 0")
    with pytest.raises(IndexError):
        batch.scenario(len(batch))


def test_water_budget_is_the_greedy_plans_water(batch):
    for b in (0, 1, 4):
        s = batch.scenario(b)
        coef = cost.coefficients(s)
        water = float((cost.water_l_per_share(coef) * greedy_plan(s).reshape(coef.T, coef.N, coef.J)).sum())
        assert batch.Z[b] == pytest.approx(0.95 * water, rel=1e-12)
    loose = bg.draw_batch(batch.seeds[:2], water_fraction=None)
    assert loose.Z.tolist() == [1e12, 1e12]
    half = bg.draw_batch(batch.seeds[:2], water_fraction=0.5)
    assert half.Z == pytest.approx(batch.Z[:2] * 0.5 / 0.95, rel=1e-12)
    for name in FIELDS:
        if name != "Z":
            assert np.array_equal(getattr(loose, name), getattr(batch, name)[:2]), name


def test_water_budget_binds_like_v1():
    from baselines import solve

    batch = bg.draw_batch(np.arange(20))
    duals = [solve(batch.scenario(b)).water_dual for b in range(20)]
    assert sum(d > 0 for d in duals) >= 18, duals


# ------------------------------------------------------------------------------------ distributions
@pytest.fixture(scope="module")
def samples() -> tuple[list[Scenario], bg.ScenarioBatch]:
    return [make_scenario(s) for s in range(200)], bg.draw_batch(np.arange(1000, 1200))


# relative tolerance on the mean over 200 scenarios (about 4 standard errors of the difference)
MEAN_TOL = {"lam": 0.01, "c": 0.01, "theta": 0.02, "P_w": 0.07, "P_max": 0.005, "WUE": 0.01, "EWIF": 0.015,
            "C": 0.01, "alpha": 0.02, "beta": 0.005, "B": 0.015, "d": 0.01, "v": 0.01, "rho": 0.01,
            "Delta": 0.01, "PUE": 0.015, "tau_in": 0.04, "tau_out": 0.04, "Z": 0.05}


def test_distributions_match_make_scenario(samples):
    ref, batch = samples
    for name, tol in MEAN_TOL.items():
        a = np.array([np.asarray(getattr(s, name), float) for s in ref])
        b = np.asarray(getattr(batch, "bandwidth" if name == "B" else name))
        assert b.mean() == pytest.approx(a.mean(), rel=tol), name
        if name in ("lam", "c", "theta", "P_w", "WUE", "d", "Z"):
            assert b.std() == pytest.approx(a.std(), rel=0.1), name
    for name in ("h", "f", "delta"):  # constants at K <= 5 and J <= 9
        assert np.array_equal(getattr(batch, name)[0], getattr(ref[0], name)), name
        assert np.all(getattr(batch, name) == getattr(batch, name)[0]), name


def test_values_lie_in_make_scenarios_ranges(samples):
    ref, batch = samples
    from green_llm_env.generator import _BASE_PRICE, _DELTA_BASE_S, _V_BASE_US

    lam = batch.lam
    assert lam.min() >= 500 and lam.max() <= 1200 and np.array_equal(lam, np.round(lam))
    assert (lam == 500).any() and (lam > 1000).any()  # the clip binds, as in make_scenario
    lo = (_BASE_PRICE * 0.95 * 0.7)[None, None, :]
    hi = (_BASE_PRICE * 1.05 * 2.0)[None, None, :]
    assert np.all(batch.c >= lo) and np.all(batch.c <= hi)
    assert batch.theta.min() >= 0.02 and batch.theta.max() <= 0.834 * 1.1 * 1.3 * 1.05
    assert batch.P_w.min() >= 0 and batch.P_w.max() <= 100 * (1.1 + 0.5)
    assert batch.P_w[:, :4].mean() < 0.5 * batch.P_w[:, 10:14].mean()  # no sun at night
    for name, (a, b) in {"P_max": (4000, 5000), "C": (40000, 50000)}.items():
        x = getattr(batch, name)
        assert x.min() >= a and x.max() <= b and np.array_equal(x, np.floor(x)), name
    assert batch.P_max.min() == 4000 and batch.P_max.max() == 5000  # both ends drawn (43,200 draws)
    for name, (a, b) in {"WUE": (0.5, 1.0), "EWIF": (0.1, 0.6), "PUE": (1.0, 1.4), "beta": (0.003, 0.005),
                         "bandwidth": (1500.0, 3800.0), "d": (0.001, 0.072)}.items():
        x = getattr(batch, name)
        assert x.min() >= a and x.max() <= b, name
    assert np.all(batch.tau_in * 3.6e6 >= 20 - 1e-9) and np.all(batch.tau_in * 3.6e6 <= 40 + 1e-9)
    assert np.all(batch.tau_out * 3.6e6 >= 50 - 1e-9) and np.all(batch.tau_out * 3.6e6 <= 100 + 1e-9)
    v = batch.v / (_V_BASE_US * 1e-6)
    assert v.min() >= 0.9 - 1e-12 and v.max() <= 1.1 + 1e-12
    D = batch.Delta / _DELTA_BASE_S
    assert D.min() >= 1.0 and D.max() <= 1.5
    alpha = batch.alpha
    for r, (a, b) in enumerate([(0.001, 0.0015), (0.0015, 0.0025), (0.01, 0.015)]):
        assert alpha[:, :, r].min() >= a and alpha[:, :, r].max() <= b
    # make_scenario's own values lie in the same ranges (the ranges above are its)
    assert min(s.lam.min() for s in ref) >= 500 and max(s.c.max() for s in ref) <= hi.max()


def test_scaling_factors_scale_exactly():
    base = bg.draw_batch([5, 6])
    scaled = bg.draw_batch([5, 6], psi_theta=1.5, psi_pw=0.5, psi_tau=2.0, psi_rho=0.7, demand_scale=1.5,
                           water_fraction=None)
    assert np.array_equal(scaled.theta, base.theta * 1.5) and np.array_equal(scaled.P_w, base.P_w * 0.5)
    assert np.array_equal(scaled.tau_in, base.tau_in * 2.0) and np.array_equal(scaled.tau_out, base.tau_out * 2.0)
    assert np.array_equal(scaled.lam, base.lam * 1.5)
    assert scaled.rho == pytest.approx(base.rho * 0.7 / 1.5, rel=1e-12)  # rho is per 10^4 daily queries
    assert np.array_equal(scaled.c, base.c) and np.array_equal(scaled.d, base.d)
    hour = bg.draw_batch([5], start_hour=13)
    assert hour.start_hour == 13 and hour.scenario(0).start_hour == 13
    assert hour.lam[0, 0].mean() > base.lam[0, 0].mean()  # 13 h is busier than midnight


# -------------------------------------------------------------------------------------------- sizes
@pytest.mark.parametrize("kw", [dict(I=3, J=3, K=2, T=6, R=1), dict(J=12), dict(K=7),
                                dict(I=12, J=11, K=7, T=30, R=4, start_hour=5), dict(I=1, J=1, K=1, T=1, R=1)])
def test_other_sizes(kw):
    batch = bg.draw_batch([1, 2, 3], **kw)
    sizes = {"I": 9, "J": 9, "K": 5, "T": 24, "R": 3, **{k: v for k, v in kw.items() if k != "start_hour"}}
    assert batch.sizes == sizes
    flat = batch.hour_flat((0.5, 0.3, 0.2))
    for b in range(3):
        s = batch.scenario(b)
        assert s.sizes == sizes
        ref = make_scenario(b, water_fraction=None, **kw)
        assert s.dc_names == ref.dc_names and s.query_types == ref.query_types
        coef = cost.coefficients(s)
        assert flat[b].tobytes() == cost.hour_tables(coef, (0.5, 0.3, 0.2)).flat.tobytes()
        water = float((cost.water_l_per_share(coef) * greedy_plan(s).reshape(coef.T, coef.N, coef.J)).sum())
        assert s.Z == pytest.approx(0.95 * water, rel=1e-12) and s.Z >= 0.95 * cost.least_water_bound_l(coef)
    if sizes["J"] > 9:
        assert batch.scenario(0).dc_names[9:] == tuple(f"dc{j}" for j in range(9, sizes["J"]))
    if sizes["K"] > 5:  # extra types cycle the reference tokens with fresh noise
        assert batch.scenario(0).query_types[5:] == tuple(f"type{k}" for k in range(5, sizes["K"]))
        assert not np.array_equal(batch.h[0], batch.h[1])
        ratio = batch.h / np.resize([80.0, 500.0, 50.0, 40.0, 30.0], sizes["K"])
        assert ratio.min() >= 0.8 and ratio.max() <= 1.2


def test_an_empty_batch():
    batch = bg.draw_batch(np.zeros(0, np.int64))
    assert len(batch) == 0 and batch.lam.shape == (0, 24, 9, 5) and batch.hour_flat().shape[:2] == (0, 24)


# ------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("kw, match", [
    (dict(I=0), r"draw_batch: I must be an integer >= 1; got 0"),
    (dict(J=2.5), r"draw_batch: J must be an integer >= 1; got 2.5"),
    (dict(K="3"), r"draw_batch: K must be an integer >= 1; got '3'"),
    (dict(T=True), r"draw_batch: T must be an integer >= 1; got True"),
    (dict(R=-1), r"draw_batch: R must be an integer >= 1; got -1"),
    (dict(start_hour=24), r"draw_batch: start_hour must be an integer in 0..23; got 24"),
    (dict(start_hour=1.5), r"draw_batch: start_hour must be an integer in 0..23; got 1.5"),
    (dict(psi_theta=-1.0), r"draw_batch: psi_theta must be finite and >= 0; got -1.0"),
    (dict(psi_pw=math.nan), r"draw_batch: psi_pw must be finite and >= 0; got nan"),
    (dict(psi_tau=math.inf), r"draw_batch: psi_tau must be finite and >= 0; got inf"),
    (dict(psi_rho="1"), r"draw_batch: psi_rho must be finite and >= 0; got '1'"),
    (dict(demand_scale=-0.5), r"draw_batch: demand_scale must be finite and >= 0; got -0.5"),
    (dict(water_fraction=0.0), r"draw_batch: water_fraction must be > 0 or None; got 0.0"),
    (dict(water_fraction=math.nan), r"draw_batch: water_fraction must be > 0 or None; got nan"),
    (dict(water_fraction="0.9"), r"draw_batch: water_fraction must be > 0 or None; got '0.9'"),
])
def test_argument_errors_name_the_argument_rule_and_value(kw, match):
    with pytest.raises(ValueError, match=match):
        bg.draw_batch([1], **kw)


@pytest.mark.parametrize("seeds, match", [
    (np.zeros((2, 2), np.int64), r"draw_batch: seeds must be a 1-D array of integers; got shape \(2, 2\)"),
    (5, r"draw_batch: seeds must be a 1-D array of integers; got shape \(\)"),
    (np.array([1.0, 2.0]), r"draw_batch: seeds must be integers in \[0, 2\*\*63\); got dtype float64"),
    (np.array([True]), r"draw_batch: seeds must be integers in \[0, 2\*\*63\); got dtype bool"),
    ([3, -1], r"draw_batch: seeds must be integers in \[0, 2\*\*63\); got seeds\[1\] = -1"),
    (np.array([2**63], np.uint64), r"got seeds\[0\] = 9223372036854775808"),
])
def test_seed_errors(seeds, match):
    with pytest.raises(ValueError, match=match):
        bg.draw_batch(seeds)


def test_warm_up_returns_seconds():
    assert bg.warm_up() >= 0.0
