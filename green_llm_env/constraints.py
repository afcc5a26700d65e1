"""The constraint rows of MODEL.md section 4, written once: one function per family, rows named as in the maths.

Every LP and QP of the project builds from here: the full-horizon oracle (`baselines.oracle`, through
`build_lp`), the MPC and myopic windows, the hourly LP of the hybrid agent (`green_llm_env.hourly`) and the
safety layer's QP (`green_llm_env.safety`). The coefficients come from `green_llm_env.cost`; nothing here
writes a cost formula of its own.

Columns of a block of hours ``t0 .. t1-1`` (``H = t1 - t0`` slots): ``x[h, n, j]`` (n = i*K + k) at
``(h*N + n)*J + j``, then ``P_g[h, j]`` at ``n_x + h*J + j``. Row families, in this order (`ROW_FAMILIES`):

| family | rows | row | unit |
|---|---|---|---|
| ``allocation`` | (h, n) | Σ_j x = 1 | share |
| ``power_balance`` | (h, j) | P_d - P_g <= P_w | kW |
| ``grid_load`` | (h, j) | P_g - P_d <= 0 (never buy beyond the load) | kW |
| ``water_budget`` | 1 | Σ W <= Z (the block's budget; callers re-bound it) | L |
| ``resources`` | (h, r, j) | U <= C | units |
| ``delay_cap`` | (h, n) | D <= Δ | s |

The grid cap ``P_g <= P_max`` is a column bound. Each row is scaled by the inverse of its largest coefficient
(`LinearProgram.row_scale`, to undo it for duals and activities). The environments' violations
(`cost.FAMILIES`: allocation, resource, delay, grid, water) are the same rows with ``P_g`` eliminated
(``grid``: P_d - P_w - P_max, what power balance and the cap leave), computed by the compiled step kernel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import cost
from .cost import Coefficients

__all__ = ["FAMILY_ROWS", "LinearProgram", "ROW_FAMILIES", "RowBlock", "allocation_rows", "build_lp", "delay_cap_rows",
           "grid_load_rows", "hour_lp", "objective_vector", "power_balance_rows", "resources_rows", "water_budget_rows"]

ROW_FAMILIES = ("allocation", "power_balance", "grid_load", "water_budget", "resources", "delay_cap")
"""Row families of the LP, in row order."""


@dataclass
class RowBlock:
    """One family's rows over a block of H hours: entries of the x columns and of the P_g columns.

    ``x_rows`` / ``x_vals`` have shape (H, N, J, m) (m entries per x column, rows local to the family),
    ``pg_rows`` / ``pg_vals`` (H*J, q) or None; ``lower`` / ``upper`` the unscaled bounds; ``scale`` the row
    scale (1 / largest coefficient)."""

    size: int
    x_rows: np.ndarray
    x_vals: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    scale: np.ndarray
    pg_rows: np.ndarray | None = None
    pg_vals: np.ndarray | None = None


@dataclass
class LinearProgram:
    """A column-wise LP ``min c·v  s.t.  row_lower <= A v <= row_upper, col_lower <= v <= col_upper``."""

    num_col: int
    num_row: int
    n_x: int
    col_lower: np.ndarray
    col_upper: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    a_start: np.ndarray  # int32, length num_col + 1
    a_index: np.ndarray  # int32
    a_value: np.ndarray
    row_scale: np.ndarray  # scaled row = row_scale * original row
    families: dict[str, slice] = field(default_factory=dict)
    hours: tuple[int, int] = (0, 0)  # the block t0, t1

    @property
    def nnz(self) -> int:
        return int(self.a_value.size)

    def row(self, family: str) -> int:
        """Index of the first row of ``family``."""
        return self.families[family].start


def _safe_inv(a: np.ndarray) -> np.ndarray:
    return 1.0 / np.where(a > 0, a, 1.0)


def _idx(H: int, N: int, J: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.arange(H)[:, None, None], np.arange(N)[None, :, None], np.arange(J)[None, None, :]


def allocation_rows(coef: Coefficients, hs: slice) -> RowBlock:
    """Σ_j x[h, n, j] = 1 for every (h, n)."""
    H, N, J = hs.stop - hs.start, coef.N, coef.J
    h, n, _ = _idx(H, N, J)
    rows = np.broadcast_to(h * N + n, (H, N, J))[..., None]
    size = H * N
    return RowBlock(size, rows, np.ones((H, N, J, 1)), np.ones(size), np.ones(size), np.ones(size))


def _power_rows(coef: Coefficients, hs: slice, fkw: np.ndarray, sign: float, upper: np.ndarray) -> RowBlock:
    """sign·(P_d - P_g)[h, j] <= upper[h, j], scaled by the largest facility kW per share (at least 1)."""
    H, N, J = hs.stop - hs.start, coef.N, coef.J
    h, _, j = _idx(H, N, J)
    rows = np.broadcast_to(h * J + j, (H, N, J))[..., None]
    scale = _safe_inv(np.maximum(fkw.max(axis=1), 1.0)).reshape(-1)
    return RowBlock(H * J, rows, sign * fkw[..., None], np.full(H * J, -np.inf), upper.reshape(-1), scale,
                    np.arange(H * J)[:, None], np.full((H * J, 1), -sign))


def power_balance_rows(coef: Coefficients, hs: slice, fkw: np.ndarray) -> RowBlock:
    """P_d[h, j] - P_g[h, j] <= P_w[h, j] (surplus renewables may be curtailed)."""
    return _power_rows(coef, hs, fkw, 1.0, coef.renewable_kw[hs])


def grid_load_rows(coef: Coefficients, hs: slice, fkw: np.ndarray) -> RowBlock:
    """P_g[h, j] - P_d[h, j] <= 0: never buy more than the load (same scale as power balance)."""
    return _power_rows(coef, hs, fkw, -1.0, np.zeros((hs.stop - hs.start, coef.J)))


def water_budget_rows(coef: Coefficients, hs: slice, wl: np.ndarray) -> RowBlock:
    """Σ_{h, n, j} W[h, n, j]·x[h, n, j] <= Z (one row; the block's budget is re-bounded by callers)."""
    H, N, J = hs.stop - hs.start, coef.N, coef.J
    return RowBlock(1, np.zeros((H, N, J, 1), np.int64), wl[..., None], np.array([-np.inf]),
                    np.array([coef.water_budget_l]), _safe_inv(np.array([wl.max()])))


def resources_rows(coef: Coefficients, hs: slice) -> RowBlock:
    """Σ_n resource[h, n, r]·x[h, n, j] <= C[r, j] for every (h, r, j)."""
    H, N, J, R = hs.stop - hs.start, coef.N, coef.J, coef.R
    h, _, j = _idx(H, N, J)
    res = coef.resource[hs]  # (H, N, R)
    rows = ((h * R)[..., None] + np.arange(R)) * J + j[..., None]  # (H, 1, J, R)
    rows = np.broadcast_to(rows, (H, N, J, R))
    vals = np.broadcast_to(res[:, :, None, :], (H, N, J, R))
    size = H * R * J
    scale = np.repeat(_safe_inv(res.max(axis=1)), J, axis=-1).reshape(-1)
    return RowBlock(size, rows, vals, np.full(size, -np.inf),
                    np.broadcast_to(coef.capacity, (H, R, J)).reshape(-1), scale)


def delay_cap_rows(coef: Coefficients, hs: slice) -> RowBlock:
    """Σ_j D[h, n, j]·x[h, n, j] <= Δ[n] for every (h, n)."""
    H, N, J = hs.stop - hs.start, coef.N, coef.J
    h, n, _ = _idx(H, N, J)
    d = coef.delay_s[hs]
    rows = np.broadcast_to(h * N + n, (H, N, J))[..., None]
    size = H * N
    return RowBlock(size, rows, d[..., None], np.full(size, -np.inf),
                    np.broadcast_to(coef.delay_cap_s, (H, N)).reshape(-1), _safe_inv(d.max(axis=2)).reshape(-1))


FAMILY_ROWS: dict[str, Callable[..., RowBlock]] = {
    "allocation": allocation_rows, "power_balance": power_balance_rows, "grid_load": grid_load_rows,
    "water_budget": water_budget_rows, "resources": resources_rows, "delay_cap": delay_cap_rows}
"""Family name -> the function writing its rows (in the order of `ROW_FAMILIES`)."""


def build_lp(coef: Coefficients, t0: int = 0, t1: int | None = None) -> LinearProgram:
    """Constraint matrix and bounds of the LP over hours ``t0 .. t1-1`` (default: the whole horizon), from the
    family functions above; no Python loop over variables or rows."""
    t1 = coef.T if t1 is None else t1
    if not 0 <= t0 < t1 <= coef.T:
        raise ValueError(f"build_lp needs 0 <= t0 < t1 <= T = {coef.T}; got t0 = {t0}, t1 = {t1}")
    hs = slice(t0, t1)
    H, N, J = t1 - t0, coef.N, coef.J
    n_x = H * N * J
    fkw = cost.facility_kw_per_share(coef)[hs]  # (H, N, J)
    wl = cost.water_l_per_share(coef)[hs]
    extra = {"power_balance": (fkw,), "grid_load": (fkw,), "water_budget": (wl,)}
    blocks = [FAMILY_ROWS[name](coef, hs, *extra.get(name, ())) for name in ROW_FAMILIES]
    offsets = np.concatenate([[0], np.cumsum([b.size for b in blocks])])
    fam = {name: slice(int(offsets[q]), int(offsets[q + 1])) for q, name in enumerate(ROW_FAMILIES)}
    num_row = int(offsets[-1])

    # x columns: each family's entries side by side, in family order; P_g columns likewise.
    rows = np.concatenate([np.broadcast_to(b.x_rows + offsets[q], b.x_vals.shape)
                           for q, b in enumerate(blocks)], axis=-1)
    vals = np.concatenate([b.x_vals for b in blocks], axis=-1)
    per_col = vals.shape[-1]
    with_pg = [(q, b) for q, b in enumerate(blocks) if b.pg_rows is not None]
    pg_rows = np.concatenate([b.pg_rows + offsets[q] for q, b in with_pg], axis=1)
    pg_vals = np.concatenate([b.pg_vals for _, b in with_pg], axis=1)
    scale = np.concatenate([b.scale for b in blocks])

    a_index = np.concatenate([rows.reshape(-1), pg_rows.reshape(-1)])
    a_value = np.concatenate([vals.reshape(-1), pg_vals.reshape(-1)]) * scale[a_index]
    counts = np.concatenate([np.full(n_x, per_col), np.full(H * J, pg_rows.shape[1])])
    if np.any(a_value == 0.0):  # drop explicit zeros (zero demand, zero resource need)
        keep = a_value != 0.0
        col_of = np.repeat(np.arange(counts.size), counts)
        counts = np.bincount(col_of[keep], minlength=counts.size)
        a_index, a_value = a_index[keep], a_value[keep]
    a_start = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(counts, out=a_start[1:])
    row_lower = np.concatenate([b.lower for b in blocks]) * scale
    row_upper = np.concatenate([b.upper for b in blocks]) * scale
    return LinearProgram(
        num_col=n_x + H * J, num_row=num_row, n_x=n_x,
        col_lower=np.zeros(n_x + H * J),
        col_upper=np.concatenate([np.ones(n_x), coef.grid_cap_kw[hs].reshape(-1)]),
        row_lower=row_lower, row_upper=row_upper,
        a_start=a_start.astype(np.int32), a_index=a_index.astype(np.int32), a_value=a_value,
        row_scale=scale, families=fam, hours=(t0, t1),
    )


def hour_lp(coef: Coefficients, t: int) -> LinearProgram:
    """The LP of hour t alone (`build_lp` over t..t+1), built once per scenario and kept on ``coef``, read-only:
    the hourly LP and the safety layer share it and bound their water row on copies."""
    cache = coef.__dict__.setdefault("_hour_lps", {})
    hit = cache.get(t)
    if hit is None:
        hit = cache[t] = build_lp(coef, t, t + 1)
        for value in vars(hit).values():
            if isinstance(value, np.ndarray):
                value.setflags(write=False)
    return hit


def objective_vector(coef: Coefficients, weights, t0: int = 0, t1: int | None = None) -> np.ndarray:
    """The weighted objective (`cost.objective_coefficients`) over the columns of `build_lp` (hours t0..t1-1)."""
    t1 = coef.T if t1 is None else t1
    x_cost, grid_cost = cost.objective_coefficients(coef, weights)
    return np.concatenate([np.broadcast_to(x_cost, (coef.T, coef.N, coef.J))[t0:t1].reshape(-1),
                           grid_cost[t0:t1].reshape(-1)])
