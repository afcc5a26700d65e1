"""The full-horizon LP of MODEL.md section 4, built as sparse column-wise arrays from `green_llm_env.cost`.

Columns: ``x[t, n, j]`` (n = i*K + k) at ``(t*N + n)*J + j``, then ``P_g[t, j]`` at ``n_x + t*J + j``.
Row families, in this order (named as in the maths): ``allocation`` (t, n), ``power_balance`` (t, j),
``grid_load`` (t, j), ``water_budget`` (1), ``resources`` (t, r, j), ``delay_cap`` (t, n).
Every row is scaled by the inverse of its largest coefficient; `LinearProgram.row_scale` undoes that
for duals and activities, so callers see the model's units.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from green_llm_env import cost
from green_llm_env.cost import Coefficients

__all__ = ["LinearProgram", "build_lp", "objective_vector", "pass_lp", "ROW_FAMILIES"]

ROW_FAMILIES = ("allocation", "power_balance", "grid_load", "water_budget", "resources", "delay_cap")


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

    @property
    def nnz(self) -> int:
        return int(self.a_value.size)


def objective_vector(coef: Coefficients, weights) -> np.ndarray:
    """The weighted objective (`cost.objective_coefficients`) as one vector over the LP's columns."""
    x_cost, grid_cost = cost.objective_coefficients(coef, weights)
    return np.concatenate([np.broadcast_to(x_cost, (coef.T, coef.N, coef.J)).reshape(-1), grid_cost.reshape(-1)])


def _safe_inv(a: np.ndarray) -> np.ndarray:
    return 1.0 / np.where(a > 0, a, 1.0)


def build_lp(coef: Coefficients) -> LinearProgram:
    """Constraint matrix and bounds of the full-horizon LP; no Python loop over variables or rows."""
    T, N, J, R = coef.T, coef.N, coef.J, coef.R
    n_x = T * N * J
    # Row offsets per family.
    sizes = (T * N, T * J, T * J, 1, T * R * J, T * N)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    fam = {name: slice(int(offsets[q]), int(offsets[q + 1])) for q, name in enumerate(ROW_FAMILIES)}
    num_row = int(offsets[-1])

    fkw = cost.facility_kw_per_share(coef)  # (T, N, J)
    wl = cost.water_l_per_share(coef)  # (T, N, J)
    t_idx = np.arange(T)[:, None, None]
    n_idx = np.arange(N)[None, :, None]
    j_idx = np.arange(J)[None, None, :]
    shape = (T, N, J)
    per_col = 5 + R
    rows = np.empty(shape + (per_col,), dtype=np.int64)
    vals = np.empty(shape + (per_col,))
    rows[..., 0] = offsets[0] + t_idx * N + n_idx
    vals[..., 0] = 1.0
    rows[..., 1] = offsets[1] + t_idx * J + j_idx
    vals[..., 1] = fkw
    rows[..., 2] = offsets[2] + t_idx * J + j_idx
    vals[..., 2] = -fkw
    rows[..., 3] = offsets[3]
    vals[..., 3] = wl
    rows[..., 4:4 + R] = offsets[4] + ((t_idx * R)[..., None] + np.arange(R)) * J + j_idx[..., None]
    vals[..., 4:4 + R] = coef.resource[:, :, None, :]
    rows[..., 4 + R] = offsets[5] + t_idx * N + n_idx
    vals[..., 4 + R] = coef.delay_s

    # P_g columns: -1 in power_balance (t, j), +1 in grid_load (t, j).
    pg_rows = np.stack([offsets[1] + np.arange(T * J), offsets[2] + np.arange(T * J)], axis=1)
    pg_vals = np.broadcast_to(np.array([-1.0, 1.0]), (T * J, 2))

    # Row scaling: inverse of the largest coefficient of each row (P_g's unit entries included).
    scale = np.ones(num_row)
    scale[fam["power_balance"]] = _safe_inv(np.maximum(fkw.max(axis=1), 1.0)).reshape(-1)
    scale[fam["grid_load"]] = scale[fam["power_balance"]]
    scale[fam["water_budget"]] = _safe_inv(np.array([wl.max()]))
    scale[fam["resources"]] = np.repeat(_safe_inv(coef.resource.max(axis=1)), J, axis=-1).reshape(-1)
    scale[fam["delay_cap"]] = _safe_inv(coef.delay_s.max(axis=2)).reshape(-1)

    a_index = np.concatenate([rows.reshape(-1), pg_rows.reshape(-1)])
    a_value = np.concatenate([vals.reshape(-1), pg_vals.reshape(-1)]) * scale[a_index]
    counts = np.concatenate([np.full(n_x, per_col), np.full(T * J, 2)])
    if np.any(a_value == 0.0):  # drop explicit zeros (zero demand, zero resource need)
        keep = a_value != 0.0
        col_of = np.repeat(np.arange(counts.size), counts)
        counts = np.bincount(col_of[keep], minlength=counts.size)
        a_index, a_value = a_index[keep], a_value[keep]
    a_start = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(counts, out=a_start[1:])

    inf = np.inf
    row_lower = np.full(num_row, -inf)
    row_upper = np.empty(num_row)
    row_lower[fam["allocation"]] = 1.0
    row_upper[fam["allocation"]] = 1.0
    row_upper[fam["power_balance"]] = coef.renewable_kw.reshape(-1)
    row_upper[fam["grid_load"]] = 0.0
    row_upper[fam["water_budget"]] = coef.water_budget_l
    row_upper[fam["resources"]] = np.broadcast_to(coef.capacity, (T, R, J)).reshape(-1)
    row_upper[fam["delay_cap"]] = np.broadcast_to(coef.delay_cap_s, (T, N)).reshape(-1)
    row_upper *= scale
    row_lower[fam["allocation"]] *= scale[fam["allocation"]]
    return LinearProgram(
        num_col=n_x + T * J, num_row=num_row, n_x=n_x,
        col_lower=np.zeros(n_x + T * J),
        col_upper=np.concatenate([np.ones(n_x), coef.grid_cap_kw.reshape(-1)]),
        row_lower=row_lower, row_upper=row_upper,
        a_start=a_start.astype(np.int32), a_index=a_index.astype(np.int32), a_value=a_value,
        row_scale=scale, families=fam,
    )


def pass_lp(highs, lp: LinearProgram, col_cost: np.ndarray) -> None:
    """Hand ``lp`` with objective ``col_cost`` to a HiGHS instance in one call (continuous columns)."""
    import highspy

    status = highs.passModel(lp.num_col, lp.num_row, lp.nnz, 1, 1, 0.0, col_cost, lp.col_lower, lp.col_upper,
                             lp.row_lower, lp.row_upper, lp.a_start, lp.a_index, lp.a_value,
                             np.zeros(lp.num_col, np.int32))
    if status != highspy.HighsStatus.kOk:
        raise RuntimeError(f"HiGHS rejected the LP ({status}); this is a bug in baselines.lp")
