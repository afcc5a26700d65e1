"""A fast, batch-first scenario generator (GreenLLM-v2): many seeded scenarios in one compiled call.

`draw_batch` draws ``B`` scenarios at once into batch-first arrays (`ScenarioBatch`), from the distributions of
`green_llm_env.generator.make_scenario` (MODEL.md section 8: the same formulas, ranges, clipping and constants,
imported from `generator`) but from new random streams: a counter-based generator (a splitmix64 hash of
(seed, field, element index) turned into a uniform in [0, 1) with 53 bits), so no per-scenario
``numpy.random.Generator`` is built and each scenario is a pure function of its own seed and the keyword
arguments, whatever the batch around it. `make_scenario` is untouched: this is a new generator for a new env id.

Other distributions come by inverse CDF: ``U(a, b) = a + (b - a)·u`` (numpy's own formula), integers in
[a, b] = ``a + floor(u·(b - a + 1))``, Weibull(shape 2, scale 7) = ``7·sqrt(-ln(1 - u))``.

`ScenarioBatch.hour_flat` packs the hourly kernel's tables of every scenario and hour at once; the per-share
coefficients come from the formulas of `green_llm_env.cost` (`cost.share_delays`, ...), written once there and
compiled here with numba, so that ``batch.hour_flat(w)[b]`` equals
``cost.hour_tables(cost.coefficients(batch.scenario(b)), w).flat`` bit for bit.

Speed (one thread, default size; ``python -m green_llm_env.batch_generator`` measures it), on the 2-core 2.0 GHz
development VM: B = 1 about 0.21 ms (draw_batch 0.17 + hour_flat 0.045); B = 1024 about 90 ms, 88 µs per scenario
(draw_batch about 50 ms: 21 ms of draws and 28 ms for the greedy plan's water budget; hour_flat about 26 ms to
compute and write its 152 MB, plus about 15 ms to fault in a fresh output array, saved by ``out=``). The kernels
compile once per machine (``cache=True``; `warm_up`, about 20 s), then load in under a second.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numba as nb
import numpy as np

from . import cost, kernels
from .reference_day import (ALPHA_RANGE as _ALPHA_RANGE, BASE_PRICE as _BASE_PRICE, CARBON_FACTOR as _CARBON_FACTOR,
                            DC_XY as _DC_XY, DELTA_BASE_S as _DELTA_BASE_S,
                            J_PER_KWH as _J_PER_KWH, POPULATION as _POPULATION,
                            RHO_SHAPE as _RHO_SHAPE, THETA_MEAN as _THETA_MEAN, TOKENS_IN as _TOKENS_IN,
                            TOKENS_OUT as _TOKENS_OUT, TYPE_FACTOR as _TYPE_FACTOR, V_BASE_US as _V_BASE_US,
                            cycle as _cycle, dc_names, query_types, tou_factor as _tou_factor,
                            usage_shape as _usage_shape)
from .generator import DEFAULT_WATER_FRACTION, MAX_SCALE, MAX_SHARES, MAX_SIZES, greedy_plan
from .scenario import Scenario

__all__ = ["GENERATOR_NAME", "NO_WATER_BUDGET_L", "ScenarioBatch", "draw_batch", "scenario_of_seed", "warm_up"]

GENERATOR_NAME = "green-llm-env v2 batch generator"
"""Named in every `ScenarioBatch.scenario`'s description."""

NO_WATER_BUDGET_L = 1e12
"""Z of ``water_fraction=None`` (as `make_scenario`)."""

_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}

# ------------------------------------------------------------------------------- the per-share formulas
# The cost model's elementwise formulas (green_llm_env.cost), compiled for scalars. Note: numba's disk cache does
# not notice edits of functions in another file, so `_verify` checks the compiled kernels against cost.py once
# per process and recompiles them if the cache is stale.
_query_tokens = nb.njit(**_JIT)(cost.query_tokens)
_query_kwh = nb.njit(**_JIT)(cost.query_kwh)
_share_load = nb.njit(**_JIT)(cost.share_load)
_share_resource = nb.njit(**_JIT)(cost.share_resource)
_share_delays = nb.njit(**_JIT)(cost.share_delays)
_water_per_kwh = nb.njit(**_JIT)(cost.water_per_kwh)
_carbon_per_kwh = nb.njit(**_JIT)(cost.carbon_per_kwh)
_weighted_grid_price = nb.njit(**_JIT)(cost.weighted_grid_price)
_facility_kw = nb.njit(**_JIT)(cost.facility_kw)
_water_l = nb.njit(**_JIT)(cost.water_l)
_delay_usd = nb.njit(**_JIT)(cost.delay_usd)

# --------------------------------------------------------------------------------- counter-based RNG
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_TO_UNIT = 2.0 ** -53

# Field ids of the random streams (one stream per drawn quantity; element index = flat index in its array).
(_F_POP, _F_LAM, _F_H, _F_F, _F_TAU_IN, _F_TAU_OUT, _F_PUE, _F_PRICE, _F_TOU, _F_DAILY, _F_PHASE, _F_SWING,
 _F_THETA, _F_WIND, _F_SHARE, _F_PW, _F_PMAX, _F_WUE, _F_EWIF, _F_C, _F_ALPHA, _F_BETA, _F_B, _F_DC_XY,
 _F_AREA_XY, _F_D_SCALE, _F_D_ADD, _F_V, _F_DELTA) = range(1, 30)


@nb.njit(**_JIT)
def _mix(z):
    """splitmix64's output function (Stafford's mix 13) of a uint64."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@nb.njit(**_JIT)
def _key(seed, field):
    """The stream key of one field of one scenario."""
    return _mix(_mix(np.uint64(seed) + _GOLDEN) + np.uint64(field) * _M2)


@nb.njit(**_JIT)
def _u(key, i):
    """Element ``i`` of stream ``key``: a uniform in [0, 1) with 53 random bits (splitmix64 at counter i)."""
    return np.float64(np.int64(_mix(key + np.uint64(i + 1) * _GOLDEN) >> np.uint64(11))) * _TO_UNIT


@nb.njit(**_JIT)
def _uniform(key, i, lo, hi):
    """U(lo, hi) by numpy's formula lo + (hi - lo)·u."""
    return lo + (hi - lo) * _u(key, i)


@nb.njit(**_JIT)
def _integer(key, i, lo, hi):
    """An integer in [lo, hi], uniform, as float."""
    return np.float64(lo + math.floor(_u(key, i) * (hi - lo + 1)))


# --------------------------------------------------------------------------------------- the draw kernel
@nb.njit(**_JIT)
def _spread(b, I, J, K, R, h, f, tau_in, tau_out, alpha, bw, d, v, rho, Delta, LN, eN, alphaN, bwN, dN, vN,
            rhoN, dcapN) -> None:
    """Scenario b's per-(i, k) and per-(j, i, k) inputs spread over n = i*K + k (so that the loops over n run
    contiguous): L, e, α (R, N), B, d, v (J, N), ρ and Δ (N)."""
    for i in range(I):
        for k in range(K):
            n = i * K + k
            LN[n] = _query_tokens(h[b, k], f[b, k])
            eN[n] = _query_kwh(tau_in[b, k], h[b, k], tau_out[b, k], f[b, k])
            rhoN[n] = rho[b, k]
            dcapN[n] = Delta[b, i, k]
            for r in range(R):
                alphaN[r, n] = alpha[b, k, r]
            for j in range(J):
                bwN[j, n] = bw[b, i, j]
                dN[j, n] = d[b, i, j]
                vN[j, n] = v[b, j, k]


@nb.njit(**_JIT)
def _draw_one(seed, b, I, J, K, T, R, start_hour, psi, usage, tou_lo, solar, day_sin, day_cos, pop0, type_factor,
              tokens_in, tokens_out, base_price, theta_mean, carbon_factor, dc_xy0, v_base, delta_base, rho_shape,
              alpha_lo, alpha_hi, lam, h, f, tau_in, tau_out, PUE, c, theta, delta, P_w, P_max, WUE, EWIF, C, alpha, beta, bw,
              d, v, rho, Delta, pop, dc_xy, area_xy) -> None:
    """The fields of scenario ``b`` from ``seed``: `make_scenario`'s formulas, new streams (``lam`` and ``beta``
    are (B, T, N) views)."""
    psi_theta, psi_pw, psi_tau, psi_rho, demand_scale = psi[0], psi[1], psi[2], psi[3], psi[4]
    N = I * K
    # Demand (T, I, K): usage shape x population x type popularity, clipped to [500, 1200]; and the token-size
    # factor of transmission delay (T, I, K), drawn in the same loop.
    kp = _key(seed, _F_POP)
    for i in range(I):
        pop[i] = pop0[i] * _uniform(kp, i, 0.9, 1.1)
    kl, kbe = _key(seed, _F_LAM), _key(seed, _F_BETA)
    total = 0.0
    for t in range(T):
        hr = (start_hour + t) % 24
        for i in range(I):
            raw_i = 700.0 * usage[hr] * pop[i]
            for k in range(K):
                q = t * N + i * K + k
                x = np.rint(raw_i * type_factor[k] * _uniform(kl, q, 0.9, 1.1))
                x = min(max(x, 500.0), 1200.0) * demand_scale
                lam[b, t, i * K + k] = x
                total += x
                beta[b, t, i * K + k] = _uniform(kbe, q, 0.003, 0.005)
    kh, kf, kti, kto = _key(seed, _F_H), _key(seed, _F_F), _key(seed, _F_TAU_IN), _key(seed, _F_TAU_OUT)
    for k in range(K):
        h[b, k] = tokens_in[k] * (1.0 if K <= 5 else _uniform(kh, k, 0.8, 1.2))
        f[b, k] = tokens_out[k] * (1.0 if K <= 5 else _uniform(kf, k, 0.8, 1.2))
        tau_in[b, k] = _uniform(kti, k, 20.0, 40.0) / _J_PER_KWH * psi_tau
        tau_out[b, k] = _uniform(kto, k, 50.0, 100.0) / _J_PER_KWH * psi_tau
    kpue = _key(seed, _F_PUE)
    for j in range(J):
        PUE[b, j] = _uniform(kpue, j, 1.0, 1.4)
    # Prices, carbon, renewables, grid caps and water intensities (T, J).
    kpr, ktou = _key(seed, _F_PRICE), _key(seed, _F_TOU)
    kda, kph, ksw, kth = _key(seed, _F_DAILY), _key(seed, _F_PHASE), _key(seed, _F_SWING), _key(seed, _F_THETA)
    kwi, ksh, kpw, kpm = _key(seed, _F_WIND), _key(seed, _F_SHARE), _key(seed, _F_PW), _key(seed, _F_PMAX)
    kwu, kew = _key(seed, _F_WUE), _key(seed, _F_EWIF)
    for j in range(J):
        scale = base_price[j] * _uniform(kpr, j, 0.95, 1.05)
        daily = theta_mean[j] * _uniform(kda, j, 0.9, 1.1)
        phase = _uniform(kph, j, 0.0, 2 * np.pi)
        swing = _uniform(ksw, j, 0.05, 0.3)
        sin_phase, cos_phase = math.sin(phase), math.cos(phase)
        delta[b, j] = 0.05 * carbon_factor[j]
        share = _uniform(ksh, j, 0.15, 1.0)
        pw_scale = _uniform(kpw, j, 50.0, 100.0) * share
        for t in range(T):
            hr = (start_hour + t) % 24
            q = t * J + j
            c[b, t, j] = scale * (tou_lo[hr] + _uniform(ktou, q, 0.0, 0.2))
            wave = 1.0 + swing * (day_sin[hr] * cos_phase + day_cos[hr] * sin_phase)  # sin(2πh/24 + phase)
            theta[b, t, j] = max(daily * wave * _uniform(kth, q, 0.95, 1.05), 0.02) * psi_theta
            wind_speed = 7.0 * math.sqrt(-math.log(1.0 - _u(kwi, q)))  # Weibull(2, 7); 1 - u is exact
            wind = min(max((wind_speed - 3.0) / 9.0, 0.0), 1.0)
            P_w[b, t, j] = pw_scale * (1.1 * solar[hr] + 0.5 * (wind * wind * wind)) * psi_pw
            P_max[b, t, j] = _integer(kpm, q, 4000, 5000)
            WUE[b, t, j] = _uniform(kwu, q, 0.5, 1.0)
            EWIF[b, t, j] = _uniform(kew, q, 0.1, 0.6)
    # Resources.
    kc, ka = _key(seed, _F_C), _key(seed, _F_ALPHA)
    for r in range(R):
        for j in range(J):
            C[b, r, j] = _integer(kc, r * J + j, 40000, 50000)
    for k in range(K):
        for r in range(R):
            alpha[b, k, r] = _uniform(ka, k * R + r, alpha_lo[r], alpha_hi[r])
    # Network: bandwidth and distance-based delay.
    kb = _key(seed, _F_B)
    kdx, kax = _key(seed, _F_DC_XY), _key(seed, _F_AREA_XY)
    for j in range(J):
        for a in range(2):
            dc_xy[j, a] = dc_xy0[j, a] if j < 9 else _uniform(kdx, j * 2 + a, -50.0, 35.0)
    for i in range(I):
        for a in range(2):
            area_xy[i, a] = dc_xy[i, a] if i < J else _uniform(kax, i * 2 + a, -50.0, 35.0)
    kds, kdd = _key(seed, _F_D_SCALE), _key(seed, _F_D_ADD)
    for i in range(I):
        for j in range(J):
            q = i * J + j
            bw[b, i, j] = _uniform(kb, q, 1500.0, 3800.0)
            dx = area_xy[i, 0] - dc_xy[j, 0]
            dy = area_xy[i, 1] - dc_xy[j, 1]
            dist = math.sqrt(dx * dx + dy * dy)
            d[b, i, j] = min(max(dist * _uniform(kds, q, 0.9, 1.1) + _uniform(kdd, q, 1.0, 9.0), 1.0), 72.0) / 1000.0
    kv = _key(seed, _F_V)
    for j in range(J):
        for k in range(K):
            v[b, j, k] = v_base[k] * 1e-6 * _uniform(kv, j * K + k, 0.9, 1.1)
    daily_queries = total * 24.0 / T
    for k in range(K):
        rho[b, k] = rho_shape[k] * (1e4 / max(daily_queries, 1.0)) * psi_rho
    kde = _key(seed, _F_DELTA)
    for i in range(I):
        for k in range(K):
            Delta[b, i, k] = delta_base[k] * _uniform(kde, i * K + k, 1.0, 1.5)


@nb.njit(**_JIT)
def _greedy_water(b, I, J, K, R, T, w, lam, h, f, tau_in, tau_out, PUE, c, theta, delta, WUE, EWIF, alpha, beta,
                  bw, d, v, rho, Delta, LN, eN, alphaN, bwN, dN, vN, rhoN, dcapN, lt, it, gp, wl, P) -> float:
    """Water (L) of scenario b's greedy reference plan (`generator.greedy_plan` at weights ``w``): each (t, i, k)
    wholly to the first DC of least weighted cost per share, x cost + facility kW x weighted grid price."""
    N = I * K
    _spread(b, I, J, K, R, h, f, tau_in, tau_out, alpha, bw, d, v, rho, Delta, LN, eN, alphaN, bwN, dN, vN, rhoN,
            dcapN)
    water = 0.0
    for t in range(T):
        for j in range(J):
            gp[j] = _weighted_grid_price(w[0], w[1], c[b, t, j], _carbon_per_kwh(delta[b, j], theta[b, t, j]))
            wl[j] = _water_per_kwh(WUE[b, t, j], PUE[b, j], EWIF[b, t, j])
        for n in range(N):
            lt[n], it[n] = _share_load(lam[b, t, n], LN[n], eN[n])
        for j in range(J):  # P[j, n]: weighted $ per share (vectorised over n)
            pue, gp_j, w_d = PUE[b, j], gp[j], w[2]
            for n in range(N):
                delay = _share_delays(beta[b, t, n], lt[n], bwN[j, n], dN[j, n], vN[j, n])[3]
                P[j, n] = w_d * _delay_usd(rhoN[n], delay) + _facility_kw(it[n], pue) * gp_j
        for n in range(N):  # np.argmin: the first least
            least = P[0, n]
            jb = 0
            for j in range(1, J):
                if P[j, n] < least:
                    least = P[j, n]
                    jb = j
            water += _water_l(_facility_kw(it[n], PUE[b, jb]), wl[jb])
    return water


@nb.njit(**_JIT)
def _draw(seeds, I, J, K, T, R, start_hour, psi, water_fraction, usage, tou_lo, solar, day_sin, day_cos, pop0,
          type_factor,
          tokens_in, tokens_out, base_price, theta_mean, carbon_factor, dc_xy0, v_base, delta_base, rho_shape,
          alpha_lo, alpha_hi, w, lam, h, f, tau_in, tau_out, PUE, c, theta, delta, P_w, P_max, WUE, EWIF, Z, C,
          alpha, beta, bw, d, v, rho, Delta) -> None:
    """Every scenario of the batch (``water_fraction < 0``: no budget, Z = `NO_WATER_BUDGET_L`); ``lam``,
    ``beta`` (B, T, N)."""
    N = I * K
    pop = np.empty(I)
    dc_xy = np.empty((J, 2))
    area_xy = np.empty((I, 2))
    LN, eN, rhoN, dcapN, lt, it = np.empty(N), np.empty(N), np.empty(N), np.empty(N), np.empty(N), np.empty(N)
    alphaN = np.empty((R, N))
    bwN, dN, vN, P = np.empty((J, N)), np.empty((J, N)), np.empty((J, N)), np.empty((J, N))
    gp, wl = np.empty(J), np.empty(J)
    for b in range(seeds.shape[0]):
        _draw_one(seeds[b], b, I, J, K, T, R, start_hour, psi, usage, tou_lo, solar, day_sin, day_cos, pop0,
                  type_factor, tokens_in,
                  tokens_out, base_price, theta_mean, carbon_factor, dc_xy0, v_base, delta_base, rho_shape,
                  alpha_lo, alpha_hi, lam, h, f, tau_in, tau_out, PUE, c, theta, delta, P_w, P_max, WUE, EWIF, C,
                  alpha, beta, bw, d, v, rho, Delta, pop, dc_xy, area_xy)
        if water_fraction < 0.0:
            Z[b] = NO_WATER_BUDGET_L
        else:
            Z[b] = water_fraction * _greedy_water(
                b, I, J, K, R, T, w, lam, h, f, tau_in, tau_out, PUE, c, theta, delta, WUE, EWIF, alpha, beta, bw,
                d, v, rho, Delta, LN, eN, alphaN, bwN, dN, vN, rhoN, dcapN, lt, it, gp, wl, P)


# --------------------------------------------------------------------------------------- the packing kernel
@nb.njit(**_JIT)
def _pack(lam, h, f, tau_in, tau_out, PUE, c, theta, delta, P_w, P_max, WUE, EWIF, C, alpha, beta, bw, d, v,
          rho, Delta, w, off, out) -> None:
    """``out[b, t]`` = the flat hour-table row (`cost.HourTables`) of hour t of scenario b, at the places
    ``off`` (the start of each field of `kernels.FIELDS` in the row, from `kernels.field_slices`). ``lam`` and
    ``beta`` are (B, T, N) views. Row places are unsigned (no negative-index wraparound: SIMD stores)."""
    nB, T, N = lam.shape
    J = PUE.shape[1]
    R = C.shape[1]
    K = h.shape[1]
    I = N // K
    u = np.uint64
    o_qt, o_d, o_rho, o_dcap = u(off[0]), u(off[1]), u(off[2]), u(off[3])
    o_price, o_carbon, o_theta, o_wlpk = u(off[4]), u(off[5]), u(off[6]), u(off[7])
    o_gp, o_ren, o_cap, o_pue = u(off[8]), u(off[9]), u(off[10]), u(off[11])
    o_capacity, o_sd = u(off[12]), u(off[13])
    LN, eN, rhoN, dcapN, lt = np.empty(N), np.empty(N), np.empty(N), np.empty(N), np.empty(N)
    alphaN = np.empty((R, N))
    bwN, dN, vN = np.empty((J, N)), np.empty((J, N)), np.empty((J, N))
    for b in range(nB):
        _spread(b, I, J, K, R, h, f, tau_in, tau_out, alpha, bw, d, v, rho, Delta, LN, eN, alphaN, bwN, dN, vN,
                rhoN, dcapN)
        for t in range(T):
            row = out[b, t]
            for n in range(N):  # one array written per loop: simple SIMD loops
                lt[n] = _share_load(lam[b, t, n], LN[n], eN[n])[0]
            for n in range(N):
                row[o_qt + u(n)] = _share_load(lam[b, t, n], LN[n], eN[n])[1]
            for r in range(R):
                o = o_qt + u((r + 1) * N)
                for n in range(N):
                    row[o + u(n)] = _share_resource(lt[n], alphaN[r, n])
            for j in range(J):
                o = o_d + u(j * N)
                for n in range(N):
                    row[o + u(n)] = _share_delays(beta[b, t, n], lt[n], bwN[j, n], dN[j, n], vN[j, n])[3]
            for n in range(N):
                row[o_rho + u(n)] = rhoN[n]
            for n in range(N):
                row[o_dcap + u(n)] = dcapN[n]
            for j in range(J):
                price = c[b, t, j]
                carbon = _carbon_per_kwh(delta[b, j], theta[b, t, j])
                row[o_price + u(j)] = price
                row[o_carbon + u(j)] = carbon
                row[o_theta + u(j)] = theta[b, t, j]
                row[o_wlpk + u(j)] = _water_per_kwh(WUE[b, t, j], PUE[b, j], EWIF[b, t, j])
                row[o_gp + u(j)] = _weighted_grid_price(w[0], w[1], price, carbon)
                row[o_ren + u(j)] = P_w[b, t, j]
                row[o_cap + u(j)] = P_max[b, t, j]
                row[o_pue + u(j)] = PUE[b, j]
            for q in range(R * J):
                row[o_capacity + u(q)] = C[b, q // J, q % J]
            row[o_sd] = w[2]


_KERNELS = (_draw, _pack)
"""The entry points; `_rebuild` recompiles them and everything they call."""


# ------------------------------------------------------------------------------------------ the batch
_FIELDS = ("lam", "h", "f", "tau_in", "tau_out", "PUE", "c", "theta", "delta", "P_w", "P_max", "WUE", "EWIF", "Z",
           "C", "alpha", "beta", "bandwidth", "d", "v", "rho", "Delta")
"""The array fields of `ScenarioBatch` in `cost.COEFFICIENT_INPUTS`' order plus Z (``bandwidth`` is Scenario.B)."""


@dataclass(frozen=True, eq=False)
class ScenarioBatch:
    """``B`` scenarios of one size, batch-first: each field is the `Scenario` field of the same name with a
    leading batch axis (``bandwidth`` (B, I, J) is Scenario.B; ``Z`` (B,) the water budgets), read-only.

    ``seeds`` (B,) are the scenarios' seeds, ``start_hour`` the hour of day of slot 0 and ``sizes`` the dict
    ``{"I", "J", "K", "T", "R"}``. `scenario` gives one as a validated `Scenario`; `hour_flat` the hourly
    kernel's tables of all of them.
    """

    lam: np.ndarray  # (B, T, I, K)
    h: np.ndarray  # (B, K)
    f: np.ndarray  # (B, K)
    tau_in: np.ndarray  # (B, K)
    tau_out: np.ndarray  # (B, K)
    PUE: np.ndarray  # (B, J)
    c: np.ndarray  # (B, T, J)
    theta: np.ndarray  # (B, T, J)
    delta: np.ndarray  # (B, J)
    P_w: np.ndarray  # (B, T, J)
    P_max: np.ndarray  # (B, T, J)
    WUE: np.ndarray  # (B, T, J)
    EWIF: np.ndarray  # (B, T, J)
    Z: np.ndarray  # (B,)
    C: np.ndarray  # (B, R, J)
    alpha: np.ndarray  # (B, K, R)
    beta: np.ndarray  # (B, T, I, K)
    bandwidth: np.ndarray  # (B, I, J)
    d: np.ndarray  # (B, I, J)
    v: np.ndarray  # (B, J, K)
    rho: np.ndarray  # (B, K)
    Delta: np.ndarray  # (B, I, K)
    seeds: np.ndarray  # (B,)
    start_hour: int
    sizes: dict

    def __len__(self) -> int:
        return int(self.seeds.shape[0])

    def _inputs(self) -> dict[str, np.ndarray]:
        """The fields as `cost.coefficient_arrays` names them (``B`` for the bandwidth)."""
        return {name: getattr(self, "bandwidth" if name == "B" else name) for name in cost.COEFFICIENT_INPUTS}

    def scenario(self, b: int) -> Scenario:
        """Scenario ``b`` (an index into the batch, negative counting from the end) as a validated `Scenario`,
        named as `make_scenario` names its axes."""
        b = range(len(self))[b]
        arrays = {name: value[b] for name, value in self._inputs().items()}
        return Scenario(**arrays, Z=float(self.Z[b]), dc_names=dc_names(self.sizes["J"]),
                        query_types=query_types(self.sizes["K"]),
                        start_hour=int(self.start_hour),
                        description=f"{GENERATOR_NAME} scenario, seed {int(self.seeds[b])}")

    def lam_flat(self) -> np.ndarray:
        """Demand with (i, k) flattened: (B, T, I*K), n = i*K + k (a read-only view)."""
        B, T, I, K = self.lam.shape
        return self.lam.reshape(B, T, I * K)

    def hour_flat(self, weights: Sequence[float] = cost.DEFAULT_WEIGHTS, *, out: np.ndarray | None = None,
                  compiled: bool = True) -> np.ndarray:
        """(B, T, W) hour tables of every scenario for ``weights``: ``hour_flat(w)[b]`` equals
        ``cost.hour_tables(cost.coefficients(self.scenario(b)), w).flat`` bit for bit.

        Args:
            weights: (σe, σc, σd), checked by `cost.check_weights`.
            out: optional float64 C-contiguous (B, T, W) array to write into (saves the allocation).
            compiled: False computes the same numbers with numpy (`cost.coefficient_arrays` over the batch and
                `cost.hour_fields`), about 10x slower: the reference the compiled kernel is checked against.
        """
        w = _checked_weights(weights)
        B, T, I, K = self.lam.shape
        R, J = self.sizes["R"], self.sizes["J"]
        off, W = _offsets(R, I * K, J)
        if out is None:
            out = np.empty((B, T, W))
        elif (not isinstance(out, np.ndarray) or out.shape != (B, T, W) or out.dtype != np.float64
              or not out.flags.c_contiguous or not out.flags.writeable):
            raise ValueError(f"hour_flat: out must be a writeable C-contiguous float64 array of shape {(B, T, W)}; "
                             f"got {_describe(out)}")
        if not compiled:
            fields = cost.hour_fields(cost.coefficient_arrays(**self._inputs()), w)
            for name, (where, shape) in kernels.field_slices(R, I * K, J).items():
                out[:, :, where] = np.broadcast_to(fields[name], (B, T) + shape).reshape(B, T, -1)
            return out
        a = self._inputs()
        a["lam"], a["beta"] = a["lam"].reshape(B, T, I * K), a["beta"].reshape(B, T, I * K)
        _pack(*(a[name] for name in cost.COEFFICIENT_INPUTS), w, off, out)
        return out


_WEIGHT_CACHE: dict[tuple, np.ndarray] = {}


def _checked_weights(weights) -> np.ndarray:
    """`cost.check_weights`, remembered for tuples (the check costs more than packing one scenario). The array
    is only read (by `_pack`); it stays writeable so that every call compiles to the same kernel signature."""
    if type(weights) is tuple:
        hit = _WEIGHT_CACHE.get(weights)
        if hit is not None:
            return hit
    w = cost.check_weights(weights)
    if type(weights) is tuple and len(_WEIGHT_CACHE) < 256:
        _WEIGHT_CACHE[weights] = w
    return w


def _describe(a) -> str:
    if isinstance(a, np.ndarray):
        return f"shape {a.shape}, dtype {a.dtype}, contiguous {a.flags.c_contiguous}, writeable {a.flags.writeable}"
    return type(a).__name__


@functools.lru_cache(maxsize=64)
def _offsets(R: int, N: int, J: int) -> tuple[np.ndarray, int]:
    """(start of each field of `kernels.FIELDS` in a row, row width) from `kernels.field_slices`."""
    places = kernels.field_slices(R, N, J)
    off = np.array([places[name][0].start for name in kernels.FIELDS], np.int64)
    off.setflags(write=False)
    return off, int(kernels.layout(R, N, J)[-1])


class _NoNoise:
    """Stands in for a numpy Generator to read `generator._tou_factor`'s deterministic part (its lower bound)."""

    @staticmethod
    def uniform(low, high, size):
        return np.full(size, float(low))


_HOURS = np.arange(24)
_USAGE = _usage_shape(_HOURS).astype(np.float64)  # generator's 24-h demand shape
_TOU_LOW = _tou_factor(_HOURS, _NoNoise()).astype(np.float64)  # time-of-use factor's lower bound by hour
_SOLAR = np.clip(np.sin(np.pi * (_HOURS - 6) / 12.0), 0.0, None)  # make_scenario's solar bell by hour
# make_scenario's carbon wave sin(2πh/24 + phase) is taken as sin(2πh/24)·cos(phase) + cos(2πh/24)·sin(phase):
# two sines per DC instead of one per hour and DC.
_DAY_SIN = np.sin(2 * np.pi * _HOURS / 24.0)
_DAY_COS = np.cos(2 * np.pi * _HOURS / 24.0)
_WEIGHTS = np.asarray(cost.DEFAULT_WEIGHTS, np.float64)  # greedy_plan's weights
for _a in (_USAGE, _TOU_LOW, _SOLAR, _DAY_SIN, _DAY_COS, _WEIGHTS):
    _a.setflags(write=False)
del _a


@functools.lru_cache(maxsize=64)
def _constants(I: int, J: int, K: int, R: int) -> tuple[np.ndarray, ...]:
    """`generator`'s reference constants cycled to the sizes (read-only), in `_draw`'s argument order."""
    consts = (_cycle(_POPULATION, I), _cycle(_TYPE_FACTOR, K), _cycle(_TOKENS_IN, K), _cycle(_TOKENS_OUT, K),
              _cycle(_BASE_PRICE, J), _cycle(_THETA_MEAN, J), _cycle(_CARBON_FACTOR, J),
              np.vstack([_DC_XY[:J], np.zeros((max(J - len(_DC_XY), 0), 2))]),  # rows >= 9 are drawn
              _cycle(_V_BASE_US, K), _cycle(_DELTA_BASE_S, K), _cycle(_RHO_SHAPE, K),
              _cycle(_ALPHA_RANGE[:, 0], R), _cycle(_ALPHA_RANGE[:, 1], R))
    out = []
    for a in consts:
        a = np.ascontiguousarray(a, np.float64)
        a.setflags(write=False)
        out.append(a)
    return tuple(out)


_VERIFIED = False


def draw_batch(seeds, *, I: int = 9, J: int = 9, K: int = 5, T: int = 24, R: int = 3, start_hour: int = 0,
               psi_theta: float = 1.0, psi_pw: float = 1.0, psi_tau: float = 1.0, psi_rho: float = 1.0,
               demand_scale: float = 1.0, water_fraction: float | None = DEFAULT_WATER_FRACTION) -> ScenarioBatch:
    """``len(seeds)`` scenarios drawn from `make_scenario`'s distributions (MODEL.md section 8) with a
    counter-based generator: scenario b is a pure function of ``seeds[b]`` and the keyword arguments (the same
    seed gives bit-identical arrays alone or anywhere in any batch).

    Args:
        seeds: 1-D array of integers in [0, 2**63), one per scenario (repeats allowed).
        I, J, K, T, R, start_hour, psi_theta, psi_pw, psi_tau, psi_rho, demand_scale: as `make_scenario`.
        water_fraction: water budget Z as a fraction (> 0) of the water of the greedy reference plan
            (`generator.greedy_plan`: each (t, i, k) to its cheapest DC at equal weights, capacities ignored);
            None gives Z = 1e12 L.
    """
    seeds = _check_seeds(seeds)
    for name, n in (("I", I), ("J", J), ("K", K), ("T", T), ("R", R)):
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer, float, np.floating)) \
                or not math.isfinite(n) or int(n) != n or n < 1:
            raise ValueError(f"draw_batch: {name} must be an integer >= 1; got {n!r}")
        if n > MAX_SIZES[name]:
            raise ValueError(f"draw_batch: {name} must be an integer <= {MAX_SIZES[name]}; got {n!r}")
    if I * K * J * T > MAX_SHARES:
        raise ValueError(f"draw_batch: I·K·J·T (the plan's shares) must be <= {MAX_SHARES:.0e}; got "
                         f"I={I}, K={K}, J={J}, T={T}")
    if isinstance(start_hour, (bool, np.bool_)) or not isinstance(start_hour, (int, np.integer, float, np.floating)) \
            or not math.isfinite(start_hour) or int(start_hour) != start_hour or not 0 <= start_hour <= 23:
        raise ValueError(f"draw_batch: start_hour must be an integer in 0..23; got {start_hour!r}")
    psi = []
    for name, value in (("psi_theta", psi_theta), ("psi_pw", psi_pw), ("psi_tau", psi_tau),
                        ("psi_rho", psi_rho), ("demand_scale", demand_scale)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)) \
                or not (math.isfinite(value) and value >= 0):
            raise ValueError(f"draw_batch: {name} must be finite and >= 0; got {value!r}")
        if value > MAX_SCALE:
            raise ValueError(f"draw_batch: {name} must be <= {MAX_SCALE:g}; got {value!r}")
        psi.append(float(value))
    if water_fraction is not None and (
            isinstance(water_fraction, (bool, np.bool_))
            or not isinstance(water_fraction, (int, float, np.integer, np.floating))
            or not (math.isfinite(water_fraction) and water_fraction > 0)):
        raise ValueError(f"draw_batch: water_fraction must be > 0 or None; got {water_fraction!r}")
    if not _VERIFIED:
        _verify()
    I, J, K, T, R, start_hour = int(I), int(J), int(K), int(T), int(R), int(start_hour)
    B = seeds.shape[0]
    out = _allocate(B, I, J, K, T, R)
    (pop0, type_factor, tokens_in, tokens_out, base_price, theta_mean, carbon_factor, dc_xy0, v_base, delta_base,
     rho_shape, alpha_lo, alpha_hi) = _constants(I, J, K, R)
    _draw(seeds, I, J, K, T, R, start_hour, np.array(psi), -1.0 if water_fraction is None else float(water_fraction),
          _USAGE, _TOU_LOW, _SOLAR, _DAY_SIN, _DAY_COS, pop0, type_factor, tokens_in, tokens_out, base_price,
          theta_mean, carbon_factor, dc_xy0, v_base, delta_base, rho_shape, alpha_lo, alpha_hi, _WEIGHTS,
          *(a.reshape(B, T, I * K) if name in ("lam", "beta") else a for name, a in out.items()))
    for a in out.values():
        a.setflags(write=False)
    seeds.setflags(write=False)
    return ScenarioBatch(**out, seeds=seeds, start_hour=start_hour, sizes={"I": I, "J": J, "K": K, "T": T, "R": R})


@functools.lru_cache(maxsize=64)
def scenario_of_seed(seed: int, **kwargs: Any) -> Scenario:
    """The v2 generator's scenario of one seed (``draw_batch([seed], **kwargs).scenario(0)``): what GreenLLM-v2
    plays for ``scenario_seed`` and what ``evaluate.py`` scores it on."""
    return draw_batch(np.array([seed], np.int64), **kwargs).scenario(0)


def _layout(B: int, I: int, J: int, K: int, T: int, R: int) -> tuple[int, tuple[tuple[str, int, int, tuple], ...]]:
    """(total length, (name, start, stop, shape) of each array of the batch) in one buffer."""
    shapes = {"lam": (B, T, I, K), "h": (B, K), "f": (B, K), "tau_in": (B, K), "tau_out": (B, K), "PUE": (B, J),
              "c": (B, T, J), "theta": (B, T, J), "delta": (B, J), "P_w": (B, T, J), "P_max": (B, T, J),
              "WUE": (B, T, J), "EWIF": (B, T, J), "Z": (B,), "C": (B, R, J), "alpha": (B, K, R),
              "beta": (B, T, I, K), "bandwidth": (B, I, J), "d": (B, I, J), "v": (B, J, K), "rho": (B, K),
              "Delta": (B, I, K)}
    places, at = [], 0
    for name, shape in shapes.items():
        n = math.prod(shape)
        places.append((name, at, at + n, shape))
        at += n
    return at, tuple(places)


def _allocate(B: int, I: int, J: int, K: int, T: int, R: int) -> dict[str, np.ndarray]:
    """The batch's arrays (`_FIELDS`), carved out of one allocation (a large one gets huge pages: far fewer page
    faults than twenty-two separate arrays)."""
    total, places = _layout(B, I, J, K, T, R)
    buf = np.empty(total)
    return {name: buf[start:stop].reshape(shape) for name, start, stop, shape in places}


def _check_seeds(seeds) -> np.ndarray:
    """``seeds`` as a private int64 copy; ``ValueError`` unless a 1-D array of integers in [0, 2**63)."""
    raw = seeds if isinstance(seeds, np.ndarray) else np.asarray(seeds)
    if raw.ndim != 1:
        raise ValueError(f"draw_batch: seeds must be a 1-D array of integers; got shape {raw.shape}")
    if raw.dtype.kind not in "iu":
        if raw.size == 0:
            return np.zeros(0, np.int64)
        raise ValueError(f"draw_batch: seeds must be integers in [0, 2**63); got dtype {raw.dtype} "
                         f"({raw.tolist()[:3]}...)")
    if raw.size and (raw.min() < 0 or raw.max() > np.iinfo(np.int64).max):
        q = int(np.argmax((raw < 0) | (raw > np.iinfo(np.int64).max)))
        raise ValueError(f"draw_batch: seeds must be integers in [0, 2**63); got seeds[{q}] = {raw[q]}")
    return raw.astype(np.int64)


# ------------------------------------------------------------------------------------ compile and check
def _agrees() -> bool:
    """Whether the compiled kernels give cost.py's numbers (`hour_flat` bit for bit, Z to rounding)."""
    batch = draw_batch(np.array([3, 5]), I=2, J=3, K=2, T=3, R=2, start_hour=20)
    for b in range(len(batch)):
        s = batch.scenario(b)
        coef = cost.coefficients(s)
        for w in (cost.DEFAULT_WEIGHTS, (0.5, 0.3, 0.2)):
            if not np.array_equal(batch.hour_flat(w)[b], cost.hour_tables(coef, w).flat):
                return False
        water = float((cost.water_l_per_share(coef) * greedy_plan(s).reshape(coef.T, coef.N, coef.J)).sum())
        if not math.isclose(batch.Z[b], DEFAULT_WATER_FRACTION * water, rel_tol=1e-12):
            return False
    return True


def _dispatchers() -> list:
    """Every numba dispatcher of this module (the compiled formulas included), callees before callers."""
    return [obj for obj in globals().values() if isinstance(obj, nb.core.registry.CPUDispatcher)]


def _rebuild() -> None:
    """Drop the disk cache of every kernel of this module and compile them afresh (a cached kernel keeps the
    formulas of cost.py it was compiled with: numba does not notice edits of functions in another file)."""
    for disp in _dispatchers():
        disp._cache.flush()
        if disp.overloads:
            disp.recompile()
    for kernel in _KERNELS:
        kernel.recompile()


def _verify() -> None:
    """Check the compiled kernels against cost.py once per process (about 2 ms); rebuild them if they disagree."""
    global _VERIFIED
    _VERIFIED = True  # _agrees draws a batch
    if _agrees():
        return
    _rebuild()
    if not _agrees():
        _VERIFIED = False
        raise RuntimeError("green_llm_env.batch_generator: the compiled kernels disagree with green_llm_env.cost "
                           "even after recompiling them")


def warm_up() -> float:
    """Compile (or load from numba's disk cache) the kernels and check them against cost.py; returns the
    seconds it took (tens of seconds once per machine, well under one once cached)."""
    global _VERIFIED
    t0 = time.perf_counter()
    _VERIFIED = False
    draw_batch(np.array([0]), I=1, J=1, K=1, T=1, R=1, water_fraction=None)
    return time.perf_counter() - t0


# ------------------------------------------------------------------------------------------- benchmark
def _bench(B: int, repeats: int) -> dict[str, float]:
    """Best-of-``repeats`` seconds of draw_batch, hour_flat (a fresh output array, and one reused through
    ``out=``) and their sums, for B scenarios at the default size (new seeds every repeat)."""
    best = {"draw": math.inf, "hour": math.inf, "hour_out": math.inf, "total": math.inf, "total_out": math.inf}
    out = None
    for r in range(repeats):
        seeds = np.arange(r * B, (r + 1) * B)
        t0 = time.perf_counter()
        batch = draw_batch(seeds)
        t1 = time.perf_counter()
        flat = batch.hour_flat()
        t2 = time.perf_counter()
        out = flat if out is None else out
        batch.hour_flat(out=out)
        t3 = time.perf_counter()
        for key, dt in (("draw", t1 - t0), ("hour", t2 - t1), ("hour_out", t3 - t2), ("total", t2 - t0),
                        ("total_out", t1 - t0 + t3 - t2)):
            best[key] = min(best[key], dt)
        del flat
    return best


def _main() -> None:
    """Print the benchmark (``python -m green_llm_env.batch_generator``)."""
    nb.set_num_threads(1)
    print(f"warm_up: {warm_up():.2f} s (numba kernels: compiled once per machine, then loaded from the cache)")
    for B, repeats, target in ((1, 300, 0.3), (1024, 15, 60.0)):
        t = _bench(B, repeats)
        print(f"B={B:5d} (best of {repeats}, one thread, default size I=J=9, K=5, T=24, R=3): "
              f"draw_batch {t['draw'] * 1e3:.3f} ms + hour_flat {t['hour'] * 1e3:.3f} ms = "
              f"{t['total'] * 1e3:.3f} ms ({t['total'] / B * 1e6:.1f} us per scenario; target {target:g} ms); "
              f"with hour_flat(out=...) reusing its output: {t['hour_out'] * 1e3:.3f} ms, "
              f"total {t['total_out'] * 1e3:.3f} ms")


if __name__ == "__main__":
    # run the package's module, not this __main__ copy, so that the kernels come from (and go to) its disk cache
    from green_llm_env.batch_generator import _main as _package_main

    _package_main()
