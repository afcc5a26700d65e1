"""Compiled (numba) kernels of GreenLLM-v2: the continuous repair, the fused step (`advance`: action map,
repair, cost model, penalty, bookkeeping, next observation) and the observation (`observe`, after resets).

Batch-first: each kernel loops over elements e (envs) running the same code per element, so one env and a
batch of envs get bit-identical numbers. The cost model's formulas are `green_llm_env.kernels.hour_element`
(the one copy); the action maps are `green_llm_env.kernels`' too. Rows of the tables are ``slot*T + t``.

The repair (`repair`), for shares ``x`` (N, J) on the simplex and the hour's reference point ``xr`` (which has
slack on every hourly row, `green_llm_env.core.reference`):

1. each (i, k) whose average delay exceeds its cap: ``x[n] += s_n·(xr[n] - x[n])`` with the least ``s_n`` that
   meets the cap, ``s_n = (D_n - cap_n) / (D_n - Dref_n)``;
2. the DC rows (resource units per (r, j) within C[r, j]; facility kW per j within renewables + grid cap): one
   blend ``x += s·(xr - x)`` with ``s = max over violated rows of (g - b) / (g - g_ref)``.

Both are convex combinations with a point that meets every row, so rows met stay met; each fraction is over-
blended by `OVER` (relative) against round-off. Since ``g_ref <= (1 - σ)·b`` (slack σ), ``s <= excess /
(excess + σ·b)``: the move is proportional to the violation, and a feasible x is returned unchanged.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from ..kernels import (MAP_SOFTMAX, N_NUMBERS, hour_buffers, hour_element, layout, load_transposed, map_columns,
                       penalty, scratch, store_rows)

__all__ = ["OVER", "advance", "advance_parallel", "observe", "observe_parallel", "repair"]

_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}

OVER = 1e-12
"""Relative over-blend of the repair, so that a blended row holds despite round-off."""


@nb.njit(**_JIT)
def _fraction(g: float, g_ref: float, b: float) -> float:
    """Least s in [0, 1] with (1 - s)·g + s·g_ref <= b (0 if g <= b; 1 if no fraction does)."""
    if g <= b:
        return 0.0
    if g > g_ref:
        s = (g - b) / (g - g_ref) * (1.0 + OVER)
        return s if s < 1.0 else 1.0
    return 1.0


@nb.njit(**_JIT)
def repair(tb, xr, ref_delay, ref_use, ref_fac, x, xt, left: float, R: int, use, fac, grid, delay, wdc, nums, viol,
           work) -> float:
    """Repair shares ``x`` (N, J) in place for the hour of table row ``tb`` (see the module docstring) and leave
    the cost model's numbers of the result in the outputs of `hour_element` (``xt`` (J, N) scratch, ``left``
    water left). Returns the Euclidean distance moved."""
    N, J = x.shape
    o_qt, o_d, o_rho, o_dcap, o_j, o_cap, o_sd, _ = layout(R, N, J)
    load_transposed(x, xt, 0)
    hour_element(tb, x, xt, 0, left, True, R, use, fac, grid, delay, wdc, nums, viol, work)
    moved = 0.0
    changed = False
    for n in range(N):  # 1. delay caps, per (i, k)
        s = _fraction(delay[n], ref_delay[n], tb[o_dcap + n])
        if s > 0.0:
            changed = True
            for j in range(J):
                d = s * (xr[n, j] - x[n, j])
                x[n, j] += d
                moved += d * d
    if changed:
        load_transposed(x, xt, 0)
        hour_element(tb, x, xt, 0, left, True, R, use, fac, grid, delay, wdc, nums, viol, work)
    s = 0.0  # 2. the DC rows, one blend
    for j in range(J):
        s = max(s, _fraction(fac[j], ref_fac[j], tb[o_j + 5 * J + j] + tb[o_j + 6 * J + j]))
        for r in range(R):
            s = max(s, _fraction(use[1 + r, j], ref_use[1 + r, j], tb[o_cap + r * J + j]))
    if s > 0.0:
        for n in range(N):
            for j in range(J):
                d = s * (xr[n, j] - x[n, j])
                x[n, j] += d
                moved += d * d
        load_transposed(x, xt, 0)
        hour_element(tb, x, xt, 0, left, True, R, use, fac, grid, delay, wdc, nums, viol, work)
    return math.sqrt(moved)


@nb.njit(**_JIT)
def _load_clipped(a, U) -> bool:
    """``U[j, n] = clip(a[n, j], -1, 1)`` as float64 (the action Box); False if any entry is NaN or inf."""
    M, J = a.shape
    ok = True
    for n in range(M):
        for j in range(J):
            v = np.float64(a[n, j])
            if not math.isfinite(v):
                ok = False
            U[j, n] = min(max(v, -1.0), 1.0)
    return ok


@nb.njit(**_JIT)
def _step_range(e0: int, e1: int, flat, xref, ref_delay, ref_use, ref_fac, pen, rows, left, a, softmax: bool,
                temperature: float, net, R: int, x_out, nums, viol, dist, moved) -> int:
    """For elements e0..e1-1 on table row ``rows[e]``: map the action ``a[e]`` (N, J) to the simplex (clipped to
    [-1, 1] as it is read; the projection, or ``softmax``), `repair`, the cost model and the penalty. Writes
    ``nums[e]`` (cost.NUMBERS then the penalty $), ``viol[e]`` (5), ``dist[e]`` (action to simplex), ``moved[e]``
    (the repair's move) and the applied shares ``x_out[e]``. Returns -1, or an element whose action holds NaN or
    inf."""
    N, J = xref.shape[1], xref.shape[2]
    U, S, XT, v1, v2, dd = scratch(J, N)
    xt = np.empty((J, N))
    use, fac, grid, wdc, delay, work = hour_buffers(R, N, J)
    for e in range(e0, e1):
        if not _load_clipped(a[e], U):
            return e
        map_columns(U, softmax, temperature, net, S, XT, v1, v2, dd)
        d2 = 0.0
        for n in range(N):
            d2 += dd[n]
        dist[e] = math.sqrt(d2)
        x = x_out[e]
        store_rows(XT, 0, x)
        r = rows[e]
        moved[e] = repair(flat[r], xref[r], ref_delay[r], ref_use[r], ref_fac[r], x, xt, left[e], R, use, fac, grid,
                          delay, wdc, nums[e], viol[e], work)
        nums[e, N_NUMBERS] = penalty(viol[e], pen[r])
    return -1


@nb.njit(**_JIT)
def _put(o, at: int, value: float, scale: float, lo: float, hi: float) -> None:
    v = value / scale
    o[at] = np.float32(lo if v < lo else (hi if v > hi else v))


@nb.njit(**_JIT)
def _observe_range(e0: int, e1: int, flat, lam, delta, budget, price_w, start, slot, t, left, T: int, R: int, H: int,
                   offs, sc_opt, sc_dc, sc_area, sc_glob, sc_fc, bound: float, obs) -> None:
    N, J = lam.shape[1], delta.shape[1]
    o_qt, o_d, o_rho, o_dcap, o_j, o_cap, o_sd, _ = layout(R, N, J)
    F, G = R + 4, R + 8
    need = np.empty(R)
    i_opt = 1.0 / sc_opt
    f_kw = np.empty(J)
    f_w = np.empty(J)
    f_c = np.empty(J)
    icap = np.empty((R, J))
    for e in range(e0, e1):
        o = obs[e]
        s, te = slot[e], t[e]
        if te < T:
            tb = flat[s * T + te]
            sd = tb[o_sd]
            for j in range(J):  # per-DC factors of the option features, scales folded in
                pj = tb[o_j + 7 * J + j]
                f_kw[j] = pj * i_opt[R + 1]
                f_w[j] = pj * tb[o_j + 3 * J + j] * i_opt[R + 2]
                f_c[j] = pj * tb[o_j + 4 * J + j] * i_opt[R + 3]
                for r in range(R):
                    c = tb[o_cap + r * J + j]
                    icap[r, j] = i_opt[1 + r] / c if c > 0.0 else np.inf
            for n in range(N):
                cap_n = tb[o_dcap + n]
                i_d = i_opt[0] / cap_n if cap_n > 0.0 else np.inf
                a_n = sd * tb[o_rho + n] * i_opt[R + 3]
                it = tb[o_qt + n]
                base = offs[0] + n * J * F
                for j in range(J):
                    at = base + j * F
                    dl = tb[o_d + j * N + n]
                    v = dl * i_d if dl != 0.0 else 0.0
                    o[at] = np.float32(min(max(v, -bound), bound))
                    for r in range(R):
                        q = tb[o_qt + (1 + r) * N + n]
                        v = q * icap[r, j] if q != 0.0 else 0.0
                        o[at + 1 + r] = np.float32(min(max(v, -bound), bound))
                    o[at + R + 1] = np.float32(min(max(it * f_kw[j], -bound), bound))
                    o[at + R + 2] = np.float32(min(max(it * f_w[j], -bound), bound))
                    o[at + R + 3] = np.float32(min(max(it * f_c[j] + a_n * dl, -bound), bound))
            for r in range(R):
                need[r] = 0.0
                for n in range(N):
                    need[r] += tb[o_qt + (1 + r) * N + n]
            for j in range(J):
                at = offs[1] + j * G
                _put(o, at, tb[o_j + j], sc_dc[0], -bound, bound)
                _put(o, at + 1, tb[o_j + 2 * J + j], sc_dc[1], -bound, bound)
                _put(o, at + 2, delta[s, j], sc_dc[2], -bound, bound)
                _put(o, at + 3, tb[o_j + 4 * J + j], sc_dc[3], -bound, bound)
                _put(o, at + 4, tb[o_j + 5 * J + j], sc_dc[4], -bound, bound)
                _put(o, at + 5, tb[o_j + 6 * J + j], sc_dc[5], -bound, bound)
                _put(o, at + 6, tb[o_j + 7 * J + j], sc_dc[6], -bound, bound)
                _put(o, at + 7, tb[o_j + 3 * J + j], sc_dc[7], -bound, bound)
                for r in range(R):
                    c = tb[o_cap + r * J + j]
                    _put(o, at + 8 + r, c / need[r] if need[r] > 0.0 else 10.0, sc_dc[8 + r], 0.0, 10.0)
            for n in range(N):
                at = offs[2] + n * 3
                _put(o, at, lam[s * T + te, n], sc_area[0], -bound, bound)
                _put(o, at + 1, tb[o_dcap + n], sc_area[1], -bound, bound)
                _put(o, at + 2, tb[o_rho + n], sc_area[2], -bound, bound)
        else:
            for q in range(offs[0], offs[3]):
                o[q] = np.float32(0.0)
        g = offs[3]
        Z = budget[s]
        frac = left[e] / Z if Z > 0.0 else 0.0
        _put(o, g, frac, sc_glob[0], 0.0, 1.0)
        _put(o, g + 1, -frac, sc_glob[1], 0.0, bound)
        pace = frac * T / (T - te) if te < T else 0.0
        _put(o, g + 2, pace, sc_glob[2], 0.0, bound)
        _put(o, g + 3, price_w[s], sc_glob[3], 0.0, bound)
        ang = 2.0 * math.pi * ((start[s] + te) % 24) / 24.0
        _put(o, g + 4, math.sin(ang), sc_glob[4], -1.0, 1.0)
        _put(o, g + 5, math.cos(ang), sc_glob[5], -1.0, 1.0)
        _put(o, g + 6, (T - te) / T, sc_glob[6], 0.0, 1.0)
        if H > 0:
            for h in range(H):
                tt = te + 1 + h
                ok = tt < T
                tf = flat[s * T + tt] if ok else flat[s * T]
                for j in range(J):
                    _put(o, offs[4] + h * J + j, tf[o_j + j] if ok else 0.0, sc_fc[0], -bound, bound)
                    _put(o, offs[5] + h * J + j, tf[o_j + 5 * J + j] if ok else 0.0, sc_fc[1], -bound, bound)
                    _put(o, offs[6] + h * J + j, tf[o_j + 2 * J + j] if ok else 0.0, sc_fc[2], -bound, bound)
                    _put(o, offs[7] + h * J + j, tf[o_j + 3 * J + j] if ok else 0.0, sc_fc[3], -bound, bound)
                for n in range(N):
                    _put(o, offs[8] + h * N + n, lam[s * T + tt, n] if ok else 0.0, sc_fc[4], -bound, bound)


@nb.njit(**_JIT)
def observe(flat, lam, delta, budget, price_w, start, slot, t, left, T: int, R: int, H: int, offs, sc_opt, sc_dc,
            sc_area, sc_glob, sc_fc, bound: float, obs) -> None:
    """Write the observation of each element e (its scenario ``slot[e]`` at hour ``t[e]`` with ``left[e]`` litres
    left) into ``obs[e]`` (float32), in the order and scales of `green_llm_env.core.features.FeatureLayout`
    (``offs`` its part offsets, ``sc_*`` its scales). ``flat`` (S*T, W) hour rows, ``lam`` (S*T, N) demand,
    ``delta`` (S, J), ``budget``/``price_w``/``start`` (S,)."""
    _observe_range(0, obs.shape[0], flat, lam, delta, budget, price_w, start, slot, t, left, T, R, H, offs, sc_opt,
                   sc_dc, sc_area, sc_glob, sc_fc, bound, obs)


@nb.njit(parallel=True, **_JIT)
def observe_parallel(threads: int, flat, lam, delta, budget, price_w, start, slot, t, left, T: int, R: int, H: int,
                     offs, sc_opt, sc_dc, sc_area, sc_glob, sc_fc, bound: float, obs) -> None:
    """`observe` on numba's threads (the same bytes)."""
    E = obs.shape[0]
    per = -(-E // max(threads, 1))
    blocks = -(-E // per)
    for b in nb.prange(blocks):
        _observe_range(b * per, min(E, (b + 1) * per), flat, lam, delta, budget, price_w, start, slot, t, left, T, R,
                       H, offs, sc_opt, sc_dc, sc_area, sc_glob, sc_fc, bound, obs)


@nb.njit(**_JIT)
def _advance_range(e0: int, e1: int, flat, xref, ref_delay, ref_use, ref_fac, pen, lam, delta, budget, price_w, start,
                   slot, t, water, ep, a, mode: int, temperature: float, net, R: int, T: int, H: int, offs, sc_opt,
                   sc_dc, sc_area, sc_glob, sc_fc, bound: float, x_out, nums, viol, dist, moved, obs, rows) -> int:
    for e in range(e0, e1):
        if t[e] >= T:
            return -2 - e
        rows[e] = slot[e] * T + t[e]
    bad = _step_range(e0, e1, flat, xref, ref_delay, ref_use, ref_fac, pen, rows, water, a, mode == MAP_SOFTMAX,
                      temperature, net, R, x_out, nums, viol, dist, moved)
    if bad >= 0:
        return bad
    for e in range(e0, e1):
        water[e] -= nums[e, 6]
        t[e] += 1
        ep[e, 0] += nums[e, 0]
        ep[e, 1] += nums[e, N_NUMBERS]
    _observe_range(e0, e1, flat, lam, delta, budget, price_w, start, slot, t, water, T, R, H, offs, sc_opt, sc_dc,
                   sc_area, sc_glob, sc_fc, bound, obs)
    return -1


@nb.njit(**_JIT)
def advance(flat, xref, ref_delay, ref_use, ref_fac, pen, lam, delta, budget, price_w, start, slot, t, water, ep, a,
            mode: int, temperature: float, net, R: int, T: int, H: int, offs, sc_opt, sc_dc, sc_area, sc_glob, sc_fc,
            bound: float, x_out, nums, viol, dist, moved, obs, rows) -> int:
    """`step` then `observe`, fused (one call per env step): each element's table row is ``slot*T + t``; its
    state (``t``, ``water`` left, ``ep`` = running weighted cost and penalty) is advanced in place, then its next
    observation written into ``obs[e]``. Actions are clipped to the Box [-1, 1] as they are read. Returns -1; an
    element e whose action holds NaN or inf (e >= 0), or ``-2 - e`` for an element past its horizon (the state of
    the elements is then unchanged, except with the parallel version)."""
    E = x_out.shape[0]
    return _advance_range(0, E, flat, xref, ref_delay, ref_use, ref_fac, pen, lam, delta, budget, price_w, start,
                          slot, t, water, ep, a, mode, temperature, net, R, T, H, offs, sc_opt, sc_dc, sc_area,
                          sc_glob, sc_fc, bound, x_out, nums, viol, dist, moved, obs, rows)


@nb.njit(parallel=True, **_JIT)
def advance_parallel(threads: int, flat, xref, ref_delay, ref_use, ref_fac, pen, lam, delta, budget, price_w, start,
                     slot, t, water, ep, a, mode: int, temperature: float, net, R: int, T: int, H: int, offs, sc_opt,
                     sc_dc, sc_area, sc_glob, sc_fc, bound: float, x_out, nums, viol, dist, moved, obs, rows) -> int:
    """`advance` with the elements split into ``threads`` blocks (the same numbers, bit for bit)."""
    E = x_out.shape[0]
    per = -(-E // max(threads, 1))
    blocks = -(-E // per)
    bad = np.full(blocks, -1, np.int64)
    for b in nb.prange(blocks):
        bad[b] = _advance_range(b * per, min(E, (b + 1) * per), flat, xref, ref_delay, ref_use, ref_fac, pen, lam,
                                delta, budget, price_w, start, slot, t, water, ep, a, mode, temperature, net, R, T, H,
                                offs, sc_opt, sc_dc, sc_area, sc_glob, sc_fc, bound, x_out, nums, viol, dist, moved,
                                obs, rows)
    for b in range(blocks):
        if bad[b] >= 0:
            return bad[b]
    return -1
