"""Compiled kernels (numba) behind the cost model's hourly kernel and the action maps.

Each kernel is a loop over batch elements running the same code per element, so one env, a batch of envs and
`cost.evaluate` get bit-identical numbers for the same inputs. The formulas are those of MODEL.md section 3,
read from the per-hour tables of `cost.HourTables` (one flat float64 row per hour, laid out by `layout`).
The (N, J) rows of one element are worked on transposed, (J, N), so that the loops over the N = I*K rows
are SIMD loops (the simplex projection sorts with a sorting network, column by column).

- `hour_element`: the hourly numbers and constraint violations of one element (the only copy of the formulas).
- `map_rows`: an action map (projection or softmax) over many rows (`green_llm_env.actions`).
- `terms_batch`: `hour_element` over a batch (what `cost.hour_terms` calls).
- `penalty`: the constraint penalty of one element; `step_batch`: action map, `hour_element` and penalty
  fused, what both environments' step calls.

Each kernel compiles on first use and is cached on disk (``cache=True``): about 40 s for all of them on a
2-core machine (`warm_up`, which ``./run.sh`` calls first), then later processes load them in under a second.
"""

from __future__ import annotations

import functools
import math

import numba as nb
import numpy as np

__all__ = ["CHUNK", "FIELDS", "MAP_GIVEN", "MAP_PROJECT", "MAP_SOFTMAX", "N_FAMILIES", "N_NUMBERS", "exchange_rates",
           "field_slices", "hour_buffers", "hour_element", "layout", "load_transposed", "map_columns", "map_rows",
           "penalty", "penalty_batch", "scratch", "step_batch", "step_batch_parallel", "store_rows", "terms_batch",
           "warm_up"]

_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}

N_FAMILIES = 5  # allocation, resource, delay, grid, water (cost.FAMILIES)
N_NUMBERS = 8  # cost.NUMBERS
J_VECTORS = 8  # price, carbon $/kWh, kg/kWh, L/kWh, weighted grid price, renewables kW, grid cap kW, PUE


FIELDS = ("QT", "DT", "rho", "dcap", "price", "carbon", "theta", "wlpk", "gp", "ren", "cap", "pue", "capacity",
          "sd")
"""The fields of one hour's flat table row, in order (`field_slices` gives their places and shapes)."""


@nb.njit(**_JIT)
def layout(R: int, N: int, J: int) -> tuple:
    """Offsets in one hour's flat table row (`FIELDS`) of ``(QT (1+R, N), DT (J, N), rho (N), dcap (N), the
    J-vectors price..pue (8, J), capacity (R, J), sd (1))``, then the row width."""
    o_qt = 0
    o_d = o_qt + (R + 1) * N
    o_rho = o_d + J * N
    o_dcap = o_rho + N
    o_j = o_dcap + N
    o_cap = o_j + J_VECTORS * J
    o_sd = o_cap + R * J
    return o_qt, o_d, o_rho, o_dcap, o_j, o_cap, o_sd, o_sd + 1


@functools.lru_cache(maxsize=64)
def field_slices(R: int, N: int, J: int) -> dict[str, tuple[slice, tuple[int, ...]]]:
    """``{field: (slice of the flat row, shape)}`` for `FIELDS`, from `layout` (cached: do not modify)."""
    o_qt, o_d, o_rho, o_dcap, o_j, o_cap, o_sd, width = layout(R, N, J)
    places = [(o_qt, (R + 1, N)), (o_d, (J, N)), (o_rho, (N,)), (o_dcap, (N,))]
    places += [(o_j + q * J, (J,)) for q in range(J_VECTORS)]
    places += [(o_cap, (R, J)), (o_sd, (1,))]
    return {f: (slice(at, at + math.prod(shape)), shape) for f, (at, shape) in zip(FIELDS, places)}


# --------------------------------------------------------------------------------------- action maps
@nb.njit(**_JIT)
def _load_transposed(a, U, off: int) -> bool:
    """``U[j, off + n] = a[n, j]`` as float64 for rows ``a`` (M, J) (actions, or shares); False if any entry
    is NaN or inf."""
    M, J = a.shape
    ok = True
    for n in range(M):
        for j in range(J):
            v = np.float64(a[n, j])
            U[j, off + n] = v
            if not math.isfinite(v):
                ok = False
    return ok


@nb.njit(**_JIT)
def _store_rows(XT, off: int, x) -> None:
    """``x[n, j] = XT[j, off + n]`` for the rows of ``x`` (M, J): columns back to rows."""
    M, J = x.shape
    for n in range(M):
        for j in range(J):
            x[n, j] = XT[j, off + n]


@nb.njit(**_JIT)
def _project_columns(U, net, S, XT, theta, top, d2) -> None:
    """Euclidean projection onto the simplex of each column ``U[:, n]`` (J entries), into ``XT`` (J, M);
    ``d2[n]`` = squared distance. ``S`` (J, M), ``theta``, ``top`` (M,) are scratch; ``net`` (C, 2) a
    sorting network for J wires (`green_llm_env.sorting.sorting_network`).

    Closed form (Held, Wolfe and Crowder 1974; Duchi et al. 2008): with u the column sorted, ``theta =
    max_k ((sum of the k largest of u) - 1) / k`` and ``x = max(u - theta, 0)``.
    """
    J, M = U.shape
    for j in range(J):
        for n in range(M):
            S[j, n] = U[j, n]
    for c in range(net.shape[0]):
        lo = S[net[c, 0]]
        hi = S[net[c, 1]]
        for n in range(M):
            p = lo[n]
            q = hi[n]
            lo[n] = p if p < q else q
            hi[n] = q if p < q else p
    last = S[J - 1]
    for n in range(M):
        top[n] = last[n] - 1.0
        theta[n] = top[n]
        d2[n] = 0.0
    for k in range(2, J + 1):
        sk = S[J - k]
        for n in range(M):
            top[n] += sk[n]
            c = top[n] / k
            theta[n] = c if c > theta[n] else theta[n]
    for j in range(J):
        uj = U[j]
        xj = XT[j]
        for n in range(M):
            v = uj[n] - theta[n]
            v = v if v > 0.0 else 0.0
            xj[n] = v
            d = v - uj[n]
            d2[n] += d * d


@nb.njit(**_JIT)
def _softmax_columns(U, temperature: float, XT, m, s, d2) -> None:
    """``XT[:, n] = softmax(U[:, n] / temperature)``; ``d2[n]`` = squared distance (``m``, ``s`` scratch)."""
    J, M = U.shape
    for n in range(M):
        m[n] = -np.inf
        s[n] = 0.0
        d2[n] = 0.0
    for j in range(J):
        for n in range(M):
            z = U[j, n] / temperature
            XT[j, n] = z
            m[n] = z if z > m[n] else m[n]
    for j in range(J):
        for n in range(M):
            e = math.exp(XT[j, n] - m[n])
            XT[j, n] = e
            s[n] += e
    for j in range(J):
        for n in range(M):
            v = XT[j, n] / s[n]
            XT[j, n] = v
            d = v - U[j, n]
            d2[n] += d * d


@nb.njit(**_JIT)
def _map_columns(U, softmax: bool, temperature: float, net, S, XT, v1, v2, d2) -> None:
    if softmax:
        _softmax_columns(U, temperature, XT, v1, v2, d2)
    else:
        _project_columns(U, net, S, XT, v1, v2, d2)


_BLOCK = 64  # rows per block of `map_rows`


@nb.njit(**_JIT)
def _buffers(J: int, B: int) -> tuple:
    """Scratch of `_map_columns` for B columns: U, S, XT (J, B) and three (B,) vectors."""
    return np.empty((J, B)), np.empty((J, B)), np.empty((J, B)), np.empty(B), np.empty(B), np.empty(B)


@nb.njit(**_JIT)
def map_rows(a, softmax: bool, temperature: float, net):
    """An action map over the rows of ``a`` (M, J), any float dtype: the simplex projection (``softmax``
    False; ``net`` a sorting network for J wires) or ``softmax(a / temperature)``. Returns ``(x (M, J)
    float64, squared distance |x - a|² per row (M,), ok)``; ok is False (and x undefined) if ``a`` holds
    NaN or inf."""
    M, J = a.shape
    x = np.empty((M, J))
    d2 = np.empty(M)
    ok = True
    for b0 in range(0, M, _BLOCK):
        b1 = min(b0 + _BLOCK, M)
        B = b1 - b0
        U, S, XT, v1, v2, dd = _buffers(J, B)
        if not _load_transposed(a[b0:b1], U, 0):
            ok = False
            continue
        _map_columns(U, softmax, temperature, net, S, XT, v1, v2, dd)
        d2[b0:b1] = dd
        _store_rows(XT, 0, x[b0:b1])
    return x, d2, ok


# ------------------------------------------------------------------------------------ the cost model
@nb.njit(**_JIT)
def hour_buffers(R: int, N: int, J: int) -> tuple:
    """The outputs and scratch of `hour_element` for one element: use (1+R, J), fac, grid, wdc (J), delay (N),
    work (2, N)."""
    return (np.empty((R + 1, J)), np.empty(J), np.empty(J), np.empty(J), np.empty(N), np.empty((2, N)))


@nb.njit(**_JIT)
def hour_element(tb, x, xt, off: int, left: float, nonnegative: bool, R: int, use, fac, grid, delay, wdc, nums,
                 viol, work) -> None:
    """The hourly cost model (MODEL.md section 3) of one element: the one implementation of its formulas.

    Args:
        tb: the hour's flat table row (`layout`); x: shares (N, J), the same transposed in columns
            ``off..off+N`` of xt (J, >= off+N);
        left: water budget left before the hour (L; inf: no water family); nonnegative: the caller knows
        x >= 0 (negative shares are then not counted); R: resource types; work: (2, N) scratch.
    Writes: ``use`` (1+R, J) IT kW and resource units per DC, ``fac`` (J) facility kW, ``grid`` (J) grid kW,
    ``delay`` (N) average delay s, ``wdc`` (J) water L per DC, ``nums`` (8: ``cost.NUMBERS``), ``viol``
    (5: ``cost.FAMILIES``).
    Grid rule: grid = max(facility - renewables, 0) (surplus renewables are curtailed), except where the
    weighted grid price is < 0: there min(facility, cap) (buying is paid for).
    """
    N, J = x.shape
    o_qt, o_d, o_rho, o_dcap, o_j, o_cap, o_sd, _ = layout(R, N, J)
    for q in range(R + 1):
        u = use[q]
        for j in range(J):
            u[j] = 0.0
    for n in range(N):  # IT kW and resource units per DC: QT @ x
        xn = x[n]
        for q in range(R + 1):
            c = tb[o_qt + q * N + n]
            u = use[q]
            for j in range(J):
                u[j] += c * xn[j]
    rs = work[0]
    neg = work[1]
    for n in range(N):
        delay[n] = 0.0
        rs[n] = 0.0
        neg[n] = 0.0
    for j in range(J):  # delay s and row sums per (i, k)
        xj = xt[j]
        o = o_d + j * N
        for n in range(N):
            v = xj[off + n]
            delay[n] += tb[o + n] * v
            rs[n] += v
            neg[n] += -v if v < 0.0 else 0.0
    d_usd = 0.0
    v_alloc = 0.0
    v_delay = 0.0
    for n in range(N):
        d_usd += tb[o_rho + n] * delay[n]
        s = rs[n]
        v_alloc += max(s - 1.0, 0.0) + max(1.0 - s, 0.0)
        if not nonnegative:
            v_alloc += neg[n]
        v_delay += max(delay[n] - tb[o_dcap + n], 0.0)
    weighted = 0.0
    energy = 0.0
    carbon = 0.0
    total = 0.0
    emissions = 0.0
    water = 0.0
    grid_kwh = 0.0
    v_res = 0.0
    v_grid = 0.0
    for j in range(J):
        price = tb[o_j + j]
        c_usd = tb[o_j + J + j]
        theta = tb[o_j + 2 * J + j]
        wlpk = tb[o_j + 3 * J + j]
        gp = tb[o_j + 4 * J + j]
        ren = tb[o_j + 5 * J + j]
        cap = tb[o_j + 6 * J + j]
        f = use[0, j] * tb[o_j + 7 * J + j]
        need = f - ren
        g = need if need > 0.0 else 0.0
        if gp < 0.0:
            g = min(f, cap)
        fac[j] = f
        grid[j] = g
        w = wlpk * f
        wdc[j] = w
        weighted += gp * g
        energy += price * g
        carbon += c_usd * g
        total += (price + c_usd) * g
        emissions += theta * g
        water += w
        grid_kwh += g
        v_grid += max(need - cap, 0.0)
        for r in range(R):
            v_res += max(use[1 + r, j] - tb[o_cap + r * J + j], 0.0)
    nums[0] = weighted + tb[o_sd] * d_usd
    nums[1] = energy
    nums[2] = carbon
    nums[3] = d_usd
    nums[4] = total + d_usd
    nums[5] = emissions
    nums[6] = water
    nums[7] = grid_kwh
    viol[0] = v_alloc
    viol[1] = v_res
    viol[2] = v_delay
    viol[3] = v_grid
    viol[4] = max(water - max(left, 0.0), 0.0)


@nb.njit(**_JIT)
def terms_batch(flat, rows, x, left, nonnegative: bool, R: int, nums, viol, use, fac, grid, delay, wdc) -> None:
    """`hour_element` for each element e of ``x`` (E, N, J) on table row ``flat[rows[e]]`` with ``left[e]``
    litres left, into the e-th entries of the outputs (shapes as in `hour_element`, with a leading E)."""
    E, N, J = x.shape
    xt = np.empty((J, N))
    work = np.empty((2, N))
    for e in range(E):
        xe = x[e]
        _load_transposed(xe, xt, 0)
        hour_element(flat[rows[e]], xe, xt, 0, left[e], nonnegative, R, use[e], fac[e], grid[e], delay[e], wdc[e],
                     nums[e], viol[e], work)


@nb.njit(**_JIT)
def penalty(viol, pen) -> float:
    """Penalty ($) of one element: ``Σ_f mu_f·max(v_f - tol_f, 0)`` with ``pen`` = (mu (5), tol (5))."""
    charge = 0.0
    for f in range(N_FAMILIES):
        excess = viol[f] - pen[N_FAMILIES + f]
        if excess > 0.0:
            charge += pen[f] * excess
    return charge


@nb.njit(**_JIT)
def penalty_batch(viol, pen, out) -> None:
    """`penalty` of each row of ``viol`` (E, 5) with ``pen`` (E, 10), into ``out`` (E,)."""
    for e in range(viol.shape[0]):
        out[e] = penalty(viol[e], pen[e])


# Public names of the building blocks other compiled modules reuse (GreenLLM-v2's step, `green_llm_env.core`).
load_transposed = _load_transposed
store_rows = _store_rows
map_columns = _map_columns
scratch = _buffers

MAP_PROJECT, MAP_SOFTMAX, MAP_GIVEN = 0, 1, 2
"""``mode`` of `step_batch`: project the action, softmax it, or take the shares already in ``x_out``."""

CHUNK = 8
"""Elements whose rows are mapped together by `step_batch` (C*N columns: long SIMD loops)."""


@nb.njit(**_JIT)
def _step_range(e0: int, e1: int, flat, rows, pen, a, left, mode: int, temperature: float, net, R: int,
                keep_x: bool, x_out, nums, viol, dist) -> int:
    """`step_batch` for elements e0..e1-1, CHUNK elements at a time."""
    N, J = x_out.shape[1:] if mode == MAP_GIVEN else a.shape[1:]
    B = min(CHUNK, e1 - e0) * N
    U, S, XT, v1, v2, dd = _buffers(J, B)
    xs = np.empty((N, J))
    use, fac, grid, wdc, delay, work = hour_buffers(R, N, J)
    for c0 in range(e0, e1, CHUNK):
        c1 = min(c0 + CHUNK, e1)
        if (c1 - c0) * N != U.shape[1]:  # the last, shorter chunk: buffers of its size (contiguous)
            B = (c1 - c0) * N
            U, S, XT, v1, v2, dd = _buffers(J, B)
        if mode == MAP_GIVEN:
            for e in range(c0, c1):
                _load_transposed(x_out[e], XT, (e - c0) * N)
        else:
            for e in range(c0, c1):
                if not _load_transposed(a[e], U, (e - c0) * N):
                    return e
            _map_columns(U, mode == MAP_SOFTMAX, temperature, net, S, XT, v1, v2, dd)
        for e in range(c0, c1):
            off = (e - c0) * N
            if mode == MAP_GIVEN:
                x = x_out[e]
            else:
                d2 = 0.0
                for n in range(N):
                    d2 += dd[off + n]
                dist[e] = math.sqrt(d2)
                x = x_out[e] if keep_x else xs
                _store_rows(XT, off, x)
            r = rows[e]
            ne = nums[e]
            ve = viol[e]
            hour_element(flat[r], x, XT, off, left[e], True, R, use, fac, grid, delay, wdc, ne, ve, work)
            ne[N_NUMBERS] = penalty(ve, pen[r])
    return -1


@nb.njit(**_JIT)
def step_batch(flat, rows, pen, a, left, mode: int, temperature: float, net, R: int, keep_x: bool, x_out,
               nums, viol, dist) -> int:
    """One environment step for each element e: map the action ``a[e]`` (N, J) to shares (``mode``
    `MAP_PROJECT` or `MAP_SOFTMAX`; with `MAP_GIVEN` the shares are read from ``x_out[e]`` and ``a``, ``dist``
    are not used), run `hour_element` on ``flat[rows[e]]`` with ``left[e]`` litres left, and charge the
    `penalty` with ``pen[rows[e]]``.

    Writes ``nums[e]`` (9: ``cost.NUMBERS`` then the penalty $), ``viol[e]`` (5), ``dist[e]`` (Euclidean
    distance between action and shares) and, if ``keep_x``, the shares into ``x_out[e]`` (N, J). Returns -1,
    or an element whose action holds NaN or inf (then the outputs are incomplete).
    """
    E = x_out.shape[0] if mode == MAP_GIVEN else a.shape[0]
    return _step_range(0, E, flat, rows, pen, a, left, mode, temperature, net, R, keep_x, x_out, nums, viol, dist)


@nb.njit(parallel=True, **_JIT)
def step_batch_parallel(threads: int, flat, rows, pen, a, left, mode: int, temperature: float, net, R: int,
                        keep_x: bool, x_out, nums, viol, dist) -> int:
    """`step_batch` with the elements split into ``threads`` blocks of whole chunks, run on numba's threads
    (``numba.set_num_threads``); every element's numbers are the same as `step_batch`'s, bit for bit."""
    E = x_out.shape[0] if mode == MAP_GIVEN else a.shape[0]
    per = -(-E // (max(threads, 1) * CHUNK)) * CHUNK
    blocks = -(-E // per)
    bad = np.full(blocks, -1, np.int64)
    for b in nb.prange(blocks):
        bad[b] = _step_range(b * per, min(E, (b + 1) * per), flat, rows, pen, a, left, mode, temperature, net, R,
                             keep_x, x_out, nums, viol, dist)
    for b in range(blocks):
        if bad[b] >= 0:
            return bad[b]
    return -1


# ------------------------------------------------------------------------------ penalty coefficients
@nb.njit(**_JIT)
def _raise_to(m: float, num: float, den: float) -> float:
    """max(m, num / den) for num > 0, den > 0 (m >= 0); the division only where it may raise m."""
    if num > m * den * (1.0 - 1e-12):
        r = num / den
        if r > m:
            return r
    return m


@nb.njit(**_JIT)
def exchange_rates(c_hi, c_lo, resource, delay, fkw, water):
    """The largest exchange rates of `green_llm_env.env.penalty_coefficients`, (T, 5) (allocation column 0).

    Args: per-share costs ``c_hi``, ``c_lo`` (T, N, J) $, ``resource`` (T, N, R) units, ``delay`` (T, N, J) s,
    ``fkw`` (T, N, J) kW, ``water`` (T, N, J) L. With ``spread = max(max_j c_hi - min_j c_lo, 0)`` and
    ``gain(j <- j') = max(c_hi[j'] - c_lo[j], 0)``: resource ``max spread / resource``, delay ``max gain /
    (delay[j] - delay[j'])`` over delay[j] > delay[j'], grid ``max spread / fkw`` (per hour), and water the
    same as delay with litres, over the whole horizon (one value, in every row). Ratios with a zero or
    negative denominator count as 0.
    """
    T, N, J = c_hi.shape
    R = resource.shape[2]
    mu = np.zeros((T, 5))
    w_all = 0.0
    for t in range(T):
        m_res = 0.0
        m_delay = 0.0
        m_grid = 0.0
        for n in range(N):
            hi = c_hi[t, n, 0]
            lo = c_lo[t, n, 0]
            for j in range(1, J):
                hi = max(hi, c_hi[t, n, j])
                lo = min(lo, c_lo[t, n, j])
            sp = hi - lo
            if sp > 0.0:
                for r in range(R):
                    if resource[t, n, r] > 0.0:
                        m_res = _raise_to(m_res, sp, resource[t, n, r])
                for j in range(J):
                    if fkw[t, n, j] > 0.0:
                        m_grid = _raise_to(m_grid, sp, fkw[t, n, j])
            for j in range(J):
                cl = c_lo[t, n, j]
                dj = delay[t, n, j]
                wj = water[t, n, j]
                for k in range(J):
                    g = c_hi[t, n, k] - cl
                    if g <= 0.0:
                        continue
                    dd = dj - delay[t, n, k]
                    if dd > 0.0:
                        m_delay = _raise_to(m_delay, g, dd)
                    dw = wj - water[t, n, k]
                    if dw > 0.0:
                        w_all = _raise_to(w_all, g, dw)
        mu[t, 1] = m_res
        mu[t, 2] = m_delay
        mu[t, 3] = m_grid
    for t in range(T):
        mu[t, 4] = w_all
    return mu


def warm_up() -> float:
    """Compile (or load from the disk cache) every kernel for the argument types the package passes
    (float32 and float64 actions); returns the seconds it took: about 40 s on a 2-core machine the first
    time, under a second once cached. ``./run.sh`` calls it before anything else."""
    import time

    from .sorting import network

    t0 = time.perf_counter()
    R, N, J = 1, 2, 3
    flat = np.zeros((2, layout(R, N, J)[-1]))
    pen = np.zeros((2, 2 * N_FAMILIES))
    rows = np.zeros(1, np.int64)
    left = np.ones(1)
    net = network(J)
    outs = np.empty((1, N_NUMBERS + 1)), np.empty((1, N_FAMILIES)), np.empty(1)
    for dtype in (np.float32, np.float64):
        a = np.zeros((1, N, J), dtype)
        for mode in (MAP_PROJECT, MAP_SOFTMAX):
            step_batch(flat, rows, pen, a, left, mode, 1.0, net, R, True, np.empty((1, N, J)), *outs)
            step_batch_parallel(1, flat, rows, pen, a, left, mode, 1.0, net, R, False, np.empty((1, N, J)), *outs)
        map_rows(a[0], False, 1.0, net)
    x = np.full((1, N, J), 1.0 / J)
    terms_batch(flat, rows, x, left, False, R, np.empty((1, N_NUMBERS)), np.empty((1, N_FAMILIES)),
                np.empty((1, R + 1, J)), np.empty((1, J)), np.empty((1, J)), np.empty((1, N)), np.empty((1, J)))
    penalty_batch(np.zeros((1, N_FAMILIES)), pen[:1], np.empty(1))
    z = np.zeros((1, N, J))
    exchange_rates(z, z, np.zeros((1, N, R)), z, z, z)
    return time.perf_counter() - t0

