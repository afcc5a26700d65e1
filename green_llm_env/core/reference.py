"""Each hour's interior reference allocation: a point with slack on every hourly row, found without an LP.

The repair of GreenLLM-v2 (`green_llm_env.core.kernels.repair`) blends an allocation toward this point just
enough to meet a violated row; because the point has slack ``σ`` (a fraction of the bound) on every row, the
blend fraction is at most ``excess / (excess + σ·bound)``, so the correction is proportional to the violation.

The point (batch-first over hour rows, numpy):

1. **proportional split**: the same split ``κ[j]`` for every (i, k), ``κ ∝ m[j]`` with ``m[j]`` the largest
   share of the hour's whole demand DC j can take on every DC row at once (``min(C[r, j] / Σ_n need[n, r],
   (renewables + grid cap)[j] / (PUE[j] · Σ_n IT kW[n]))``). With ``M = Σ_j m[j] > 1`` every resource and
   power row has relative slack ``1 - 1/M`` (``M`` is 2.2-2.7 on generated scenarios: 54-63% slack);
2. **delay caps**: each (i, k) whose average delay under ``κ`` exceeds ``(1 - DELAY_MARGIN)`` of its cap is
   blended toward its least-delay DC just enough to reach that level (no generated hour needed it: the split
   meets every cap with at least 29% slack on 40 seeds);
3. **fallback**: an hour whose point has less than ``MIN_SLACK`` relative slack on some row gets the LP point
   that maximises the least relative slack (HiGHS, once per such hour, rare; `lp_reference`). Where even that
   has no slack (an hour that is feasible only on its boundary), its best point is kept and the repair of
   that hour degenerates to a full blend on a violation (documented in GreenLLM-v2's docstring).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from .. import cost
from ..kernels import layout

__all__ = ["DELAY_MARGIN", "MIN_SLACK", "interior_reference", "lp_reference", "row_slack"]

DELAY_MARGIN = 0.05
"""Relative slack the reference keeps on every delay cap (step 2)."""
MIN_SLACK = 0.01
"""Below this relative slack on some row, the LP point is used instead (step 3)."""


def _fields(hour: cost.HourTables) -> dict[str, np.ndarray]:
    return {f: getattr(hour, f) for f in ("QT", "DT", "dcap", "pue", "ren", "cap", "capacity")}


def row_slack(hour: cost.HourTables, x: np.ndarray) -> np.ndarray:
    """(rows,) the least relative slack of ``x`` (rows, N, J) over the hour's resource, power and delay rows:
    ``min((bound - value) / bound)`` (1 for a row with a zero-or-less bound that holds with zero value)."""
    f = _fields(hour)
    load = np.einsum("eqn,enj->eqj", f["QT"], x)  # (rows, 1+R, J): IT kW, resource units
    room = np.concatenate([((f["ren"] + f["cap"]) / f["pue"])[:, None], f["capacity"]], axis=1)
    delay = np.einsum("ejn,enj->en", f["DT"], x)
    with np.errstate(divide="ignore", invalid="ignore"):
        s_dc = np.where(room > 0, (room - load) / room, np.where(load <= 0, 1.0, -np.inf))
        s_d = np.where(f["dcap"] > 0, (f["dcap"] - delay) / f["dcap"], np.where(delay <= 0, 1.0, -np.inf))
    return np.minimum(s_dc.min(axis=(1, 2)), s_d.min(axis=1))


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _reference_rows(r0: int, r1: int, flat, R: int, N: int, J: int, margin: float, x, slack) -> None:
    """Steps 1-2 for rows r0..r1-1 of ``flat`` (hour tables): the point into ``x[r]`` (N, J), its least relative
    slack into ``slack[r]``."""
    o_qt, o_d, o_rho, o_dcap, o_j, o_cap, o_sd, _ = layout(R, N, J)
    total = np.empty(R + 1)
    m = np.empty(J)
    room = np.empty((R + 1, J))
    load = np.empty((R + 1, J))
    for r in range(r0, r1):
        tb = flat[r]
        for q in range(R + 1):
            acc = 0.0
            for n in range(N):
                acc += tb[o_qt + q * N + n]
            total[q] = acc
        for j in range(J):
            room[0, j] = (tb[o_j + 5 * J + j] + tb[o_j + 6 * J + j]) / tb[o_j + 7 * J + j]
            for q in range(R):
                room[1 + q, j] = tb[o_cap + q * J + j]
        msum = 0.0
        finite = True
        for j in range(J):
            best = np.inf
            for q in range(R + 1):
                if total[q] > 0.0:
                    v = room[q, j] / total[q]
                    best = v if v < best else best
            best = best if best > 0.0 else 0.0
            m[j] = best
            if not np.isfinite(best):
                finite = False
            else:
                msum += best
        xr = x[r]
        for j in range(J):
            if finite and msum > 0.0:
                k = m[j] / msum
            elif finite:
                k = 1.0 / J
            else:
                k = 1.0 if not np.isfinite(m[j]) else 0.0
            for n in range(N):
                xr[n, j] = k
        if not finite:  # several DCs without any bound: spread evenly over them
            for n in range(N):
                c = 0.0
                for j in range(J):
                    c += xr[n, j]
                for j in range(J):
                    xr[n, j] /= c
        least = np.inf
        for n in range(N):  # 2. delay caps
            d = 0.0
            dmin = np.inf
            jbest = 0
            for j in range(J):
                dj = tb[o_d + j * N + n]
                d += dj * xr[n, j]
                if dj < dmin:
                    dmin = dj
                    jbest = j
            cap = tb[o_dcap + n]
            target = (1.0 - margin) * cap
            if d > target:
                a = (d - target) / (d - dmin) if d > dmin else 1.0
                a = 1.0 if a > 1.0 else a
                for j in range(J):
                    xr[n, j] += a * ((1.0 if j == jbest else 0.0) - xr[n, j])
                d = 0.0
                for j in range(J):
                    d += tb[o_d + j * N + n] * xr[n, j]
            if cap > 0.0:
                least = min(least, (cap - d) / cap)
            elif d > 0.0:
                least = -np.inf
        for q in range(R + 1):
            for j in range(J):
                load[q, j] = 0.0
        for n in range(N):
            for q in range(R + 1):
                c = tb[o_qt + q * N + n]
                for j in range(J):
                    load[q, j] += c * xr[n, j]
        for q in range(R + 1):
            for j in range(J):
                b = room[q, j]
                if b > 0.0:
                    least = min(least, (b - load[q, j]) / b)
                elif load[q, j] > 0.0:
                    least = -np.inf
        slack[r] = least


@nb.njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _reference_parallel(threads: int, flat, R: int, N: int, J: int, margin: float, x, slack) -> None:
    rows = flat.shape[0]
    per = -(-rows // max(threads, 1))
    blocks = -(-rows // per)
    for b in nb.prange(blocks):
        _reference_rows(b * per, min(rows, (b + 1) * per), flat, R, N, J, margin, x, slack)


def interior_reference(hour: cost.HourTables, threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(x (rows, N, J), slack (rows,)): the reference point of every hour row of ``hour`` (steps 1-3 of the
    module docstring, steps 1-2 compiled) and its least relative slack."""
    rows, R, N, J = hour.flat.shape[0], hour.R, hour.N, hour.J
    x = np.empty((rows, N, J))
    slack = np.empty(rows)
    if threads > 1 and rows >= 2 * threads:
        _reference_parallel(threads, hour.flat, R, N, J, DELAY_MARGIN, x, slack)
    else:
        _reference_rows(0, rows, hour.flat, R, N, J, DELAY_MARGIN, x, slack)
    for r in np.flatnonzero(slack < MIN_SLACK).tolist():  # 3. the rare LP fallback
        xr, sr = lp_reference(hour.take(np.array([r])))
        if sr > slack[r]:
            x[r], slack[r] = xr, sr
    return x, slack


def lp_reference(hour: cost.HourTables) -> tuple[np.ndarray, float]:
    """(x (N, J), s) for one hour row: the allocation maximising the least relative slack ``s`` of the hour's
    resource, power and delay rows (an LP, HiGHS), with ``s`` capped at 0.5. ``s < 0``: the hour is infeasible."""
    import highspy

    from ..highs import silent_highs

    f = {k: v[0] for k, v in _fields(hour).items()}
    QT, DT, dcap = f["QT"], f["DT"], f["dcap"]
    R1, N = QT.shape
    J = DT.shape[0]
    room = np.concatenate([((f["ren"] + f["cap"]) / f["pue"])[None], f["capacity"]], axis=0)  # (1+R, J)
    nx = N * J
    # rows: allocation (N), DC rows (1+R, J), delay (N); columns x[n, j] at n*J + j, then s
    A = np.zeros((N + R1 * J + N, nx + 1))
    lo = np.full(A.shape[0], -np.inf)
    up = np.zeros(A.shape[0])
    n_idx, j_idx = np.divmod(np.arange(nx), J)
    A[n_idx, np.arange(nx)] = 1.0
    lo[:N] = up[:N] = 1.0
    for q in range(R1):
        r0 = N + q * J
        A[r0 + j_idx, np.arange(nx)] = QT[q, n_idx]
        A[r0 + np.arange(J), nx] = room[q]
        up[r0:r0 + J] = room[q]
    r0 = N + R1 * J
    A[r0 + n_idx, np.arange(nx)] = DT[j_idx, n_idx]
    A[r0:r0 + N, nx] = dcap
    up[r0:] = dcap
    scale = 1.0 / np.maximum(np.abs(A).max(axis=1), 1e-300)
    A *= scale[:, None]
    lo, up = lo * scale, up * scale
    csc = [np.flatnonzero(A[:, c]) for c in range(nx + 1)]
    start = np.concatenate([[0], np.cumsum([c.size for c in csc])]).astype(np.int32)
    index = np.concatenate(csc).astype(np.int32)
    value = np.concatenate([A[c, k] for k, c in enumerate(csc)])
    h = silent_highs()
    h.setOptionValue("time_limit", 30.0)
    cost_vec = np.zeros(nx + 1)
    cost_vec[nx] = -1.0
    col_lo = np.concatenate([np.zeros(nx), [-1.0]])
    col_up = np.concatenate([np.ones(nx), [0.5]])
    h.passModel(nx + 1, A.shape[0], index.size, 1, 1, 0.0, cost_vec, col_lo, col_up, lo, up, start, index, value,
                np.zeros(nx + 1, np.int32))
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return np.full((N, J), 1.0 / J), -np.inf
    v = np.asarray(h.getSolution().col_value)
    x = np.clip(v[:nx].reshape(N, J), 0.0, None)
    x /= x.sum(axis=1, keepdims=True)
    return x, float(row_slack(hour, x[None])[0])
