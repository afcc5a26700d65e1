"""The seeded synthetic scenario generator (MODEL.md section 8) and real-trace scenarios."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from . import cost
from .reference_day import (ALPHA_RANGE as _ALPHA_RANGE, BASE_PRICE as _BASE_PRICE,
                            CARBON_FACTOR as _CARBON_FACTOR, DC_NAMES as _DC_NAMES, DC_XY as _DC_XY,
                            DELTA_BASE_S as _DELTA_BASE_S, J_PER_KWH as _J_PER_KWH, POPULATION as _POPULATION,
                            RHO_SHAPE as _RHO_SHAPE, THETA_MEAN as _THETA_MEAN,
                            TOKENS_IN as _TOKENS_IN, TOKENS_OUT as _TOKENS_OUT, TYPE_FACTOR as _TYPE_FACTOR,
                            V_BASE_US as _V_BASE_US, cycle as _cycle, tou_factor as _tou_factor,
                            usage_shape as _usage_shape)
from .reference_day import dc_names as reference_dc_names, query_types as reference_query_types
from .scenario import Scenario, carbon_from_traces, parse_start

__all__ = ["DEFAULT_WATER_FRACTION", "greedy_plan", "make_scenario", "scenario_from_traces"]

DEFAULT_WATER_FRACTION = 0.95
"""Default water budget as a fraction of the greedy reference plan's water use (see `make_scenario`)."""


def greedy_plan(scenario: Scenario, weights=cost.DEFAULT_WEIGHTS) -> np.ndarray:
    """(T, I, K, J) plan sending each (t, i, k) wholly to the DC of least weighted cost per share, with
    grid power priced on the whole facility load and capacities ignored. O(T·I·K·J), no LP."""
    coef = cost.coefficients(scenario)
    x_cost, grid_cost = cost.objective_coefficients(coef, weights)
    per_share = x_cost + cost.facility_kw_per_share(coef) * grid_cost[:, None, :]
    best = np.argmin(per_share, axis=-1)
    plan = np.zeros(per_share.shape)
    np.put_along_axis(plan, best[..., None], 1.0, axis=-1)
    return plan.reshape(coef.T, coef.I, coef.K, coef.J)


MAX_SIZES = {"I": 1000, "J": 1000, "K": 100, "T": 8784, "R": 100}
"""Largest sizes `make_scenario` draws (T: the hours of a leap year)."""
MAX_SHARES = 50_000_000
"""Largest I·K·J·T: each (T, I·K, J) table of a scenario is then at most 400 MB (a reset would not end)."""
MAX_SCALE = 1e6
"""Largest ψ factor or demand_scale (the letter sweeps 0.1-1.9): beyond, the LP's numbers exceed HiGHS's range."""


def make_scenario(seed: int = 0, *, I: int = 9, J: int = 9, K: int = 5, T: int = 24, R: int = 3,
                  start_hour: int = 0, psi_theta: float = 1.0, psi_pw: float = 1.0, psi_tau: float = 1.0,
                  psi_rho: float = 1.0, demand_scale: float = 1.0,
                  water_fraction: float | None = DEFAULT_WATER_FRACTION,
                  theta: np.ndarray | None = None, start: str | None = None) -> Scenario:
    """A synthetic scenario drawn from the reference day's distributions (MODEL.md section 8).

    Args:
        seed: seeds one ``numpy.random.Generator``; equal arguments give an identical scenario.
        I, J, K, T, R: sizes (each >= 1). Axes longer than the reference's nine DCs / five types / three
            resources cycle through the reference values with fresh noise.
        start_hour: local hour of day of slot 0 (0-23); shapes demand, prices and solar output.
        psi_theta, psi_pw, psi_tau, psi_rho: the letter's scaling factors for carbon intensity, renewables,
            energy per token and delay penalty.
        demand_scale: multiplies demand after the [500, 1200] clip.
        water_fraction: water budget Z as a fraction of the water used by the greedy reference plan (each
            query to its cheapest DC at equal weights, capacities ignored). The default makes the budget bind
            for the oracle on most seeds. None gives an unlimited budget (Z = 1e12 L).
        theta: optional (T, J) carbon intensity in kg/kWh that replaces the synthetic one (real traces).
        start: optional ISO-8601 UTC start of slot 0, recorded in the scenario.
    """
    for name, n in (("I", I), ("J", J), ("K", K), ("T", T), ("R", R)):
        if int(n) != n or n < 1:
            raise ValueError(f"make_scenario: {name} must be an integer >= 1; got {n}")
        if n > MAX_SIZES[name]:
            raise ValueError(f"make_scenario: {name} must be an integer <= {MAX_SIZES[name]}; got {n}")
    if I * K * J * T > MAX_SHARES:
        raise ValueError(f"make_scenario: I·K·J·T (the plan's shares) must be <= {MAX_SHARES:.0e}; got "
                         f"I={I}, K={K}, J={J}, T={T} ({I * K * J * T:.3g})")
    if int(start_hour) != start_hour or not 0 <= start_hour <= 23:
        raise ValueError(f"make_scenario: start_hour must be an integer in 0..23; got {start_hour}")
    for name, value in (("psi_theta", psi_theta), ("psi_pw", psi_pw), ("psi_tau", psi_tau),
                        ("psi_rho", psi_rho), ("demand_scale", demand_scale)):
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"make_scenario: {name} must be finite and >= 0; got {value}")
        if value > MAX_SCALE:
            raise ValueError(f"make_scenario: {name} must be <= {MAX_SCALE:g}; got {value}")
    if water_fraction is not None and not (math.isfinite(water_fraction) and water_fraction > 0):
        raise ValueError(f"make_scenario: water_fraction must be > 0 or None; got {water_fraction}")
    rng = np.random.default_rng(seed)
    hour = (start_hour + np.arange(T)) % 24

    # Demand (T, I, K): usage shape x population x type popularity, clipped to [500, 1200].
    pop = _cycle(_POPULATION, I) * rng.uniform(0.9, 1.1, I)
    type_factor = _cycle(_TYPE_FACTOR, K)
    raw = 700.0 * _usage_shape(hour)[:, None, None] * pop[None, :, None] * type_factor[None, None, :]
    lam = np.clip(np.round(raw * rng.uniform(0.9, 1.1, (T, I, K))), 500.0, 1200.0) * demand_scale

    h = _cycle(_TOKENS_IN, K) * (1.0 if K <= 5 else rng.uniform(0.8, 1.2, K))
    f = _cycle(_TOKENS_OUT, K) * (1.0 if K <= 5 else rng.uniform(0.8, 1.2, K))
    tau_in = rng.uniform(20.0, 40.0, K) / _J_PER_KWH * psi_tau
    tau_out = rng.uniform(50.0, 100.0, K) / _J_PER_KWH * psi_tau
    PUE = rng.uniform(1.0, 1.4, J)

    c = _cycle(_BASE_PRICE, J)[None, :] * rng.uniform(0.95, 1.05, J)[None, :] * _tou_factor(np.repeat(hour[:, None], J, axis=1), rng)
    if theta is None:
        daily = _cycle(_THETA_MEAN, J) * rng.uniform(0.9, 1.1, J)
        phase = rng.uniform(0, 2 * np.pi, J)
        swing = rng.uniform(0.05, 0.3, J)
        wave = 1.0 + swing * np.sin(2 * np.pi * hour[:, None] / 24.0 + phase)
        theta = np.clip(daily * wave * rng.uniform(0.95, 1.05, (T, J)), 0.02, None) * psi_theta
    else:
        theta = np.asarray(theta, dtype=float) * psi_theta
        if theta.shape != (T, J):
            raise ValueError(f"make_scenario: theta must have shape (T, J) = {(T, J)}; got {theta.shape}")
    delta = 0.05 * _cycle(_CARBON_FACTOR, J)

    # Renewables: per-DC scale x (solar bell 6-18 h + Weibull(2, 7) wind through a cubic power curve) x share.
    solar = np.clip(np.sin(np.pi * (hour - 6) / 12.0), 0.0, None)
    wind_speed = 7.0 * rng.weibull(2.0, (T, J))
    wind = np.clip((wind_speed - 3.0) / 9.0, 0.0, 1.0) ** 3
    share = rng.uniform(0.15, 1.0, J)
    P_w = rng.uniform(50.0, 100.0, J) * share * (1.1 * solar[:, None] + 0.5 * wind) * psi_pw
    P_max = rng.integers(4000, 5001, (T, J)).astype(float)
    WUE = rng.uniform(0.5, 1.0, (T, J))
    EWIF = rng.uniform(0.1, 0.6, (T, J))

    C = rng.integers(40000, 50001, (R, J)).astype(float)
    lo, hi = _cycle(_ALPHA_RANGE[:, 0], R), _cycle(_ALPHA_RANGE[:, 1], R)
    alpha = rng.uniform(lo, hi, (K, R))

    beta = rng.uniform(0.003, 0.005, (T, I, K))
    B = rng.uniform(1500.0, 3800.0, (I, J))
    dc_xy = np.vstack([_DC_XY, rng.uniform(-50, 35, (max(J - 9, 0), 2))])[:J] if J > 9 else _DC_XY[:J]
    area_xy = np.vstack([dc_xy[: min(I, J)], rng.uniform(-50, 35, (max(I - J, 0), 2))])
    dist = np.linalg.norm(area_xy[:, None, :] - dc_xy[None, :, :], axis=-1)
    d = np.clip(dist * rng.uniform(0.9, 1.1, (I, J)) + rng.uniform(1.0, 9.0, (I, J)), 1.0, 72.0) / 1000.0
    v = _cycle(_V_BASE_US, K)[None, :] * 1e-6 * rng.uniform(0.9, 1.1, (J, K))
    daily_queries = lam.sum() * 24.0 / T
    rho = _cycle(_RHO_SHAPE, K) * (1e4 / max(daily_queries, 1.0)) * psi_rho
    Delta = _cycle(_DELTA_BASE_S, K)[None, :] * rng.uniform(1.0, 1.5, (I, K))

    dc_names, query_types = reference_dc_names(J), reference_query_types(K)
    scen = Scenario(lam=lam, h=h, f=f, tau_in=tau_in, tau_out=tau_out, PUE=PUE, c=c, theta=theta, delta=delta,
                    P_w=P_w, P_max=P_max, WUE=WUE, EWIF=EWIF, Z=1e12, C=C, alpha=alpha, beta=beta, B=B, d=d,
                    v=v, rho=rho, Delta=Delta, dc_names=dc_names, query_types=query_types, start=start,
                    start_hour=int(start_hour),
                    description=f"green-llm-env synthetic scenario, seed {seed}")
    if water_fraction is None:
        return scen
    coef = cost.coefficients(scen)
    plan = greedy_plan(scen).reshape(T, coef.N, J)
    return scen.with_water_budget(water_fraction * float((cost.water_l_per_share(coef) * plan).sum()))



def scenario_from_traces(traces: str | Path, start: str, seed: int = 0, **kwargs: Any) -> Scenario:
    """`make_scenario` whose carbon intensity comes from the 2024 hourly traces, starting at ``start``.

    Needs J <= 9 (the traces' nine DCs); the start hour of day is taken from ``start`` (UTC).
    """
    J = int(kwargs.get("J", 9))
    T = int(kwargs.get("T", 24))
    if J > len(_DC_NAMES):
        raise ValueError(f"traces cover {len(_DC_NAMES)} DCs; got J = {J}")
    t0 = parse_start(start)
    theta = carbon_from_traces(traces, start, T, _DC_NAMES[:J])
    hour = int(str(t0)[11:13])
    kwargs.setdefault("start_hour", hour)
    return make_scenario(seed, theta=theta, start=f"{t0}:00:00Z", **kwargs)



