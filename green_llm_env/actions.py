"""Action -> allocation maps of GreenLLM-v0: pure, batch-first functions of a raw action.

An action is read as shares ``a[..., i, k, j]`` (or any ``(..., J)`` array of rows); each function maps
every row (one (i, k) pair, J DCs) onto the probability simplex {x >= 0, sum_j x_j = 1}:

- `project_simplex`: the exact Euclidean projection (closed form via the sorted-threshold rule), so a point
  already on the simplex maps to itself (up to one rounding of the row sum) and the map is idempotent.
- `softmax`: ``exp(a / temperature)`` normalised per row; never exactly sparse.

Both accept any float dtype and return float64 arrays of the input's shape. They run the compiled kernels of
`green_llm_env.kernels` (rows are sorted with a sorting network, `sorting_network`), which the
environments' step runs too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import kernels
from .sorting import network, sorting_network

__all__ = ["ACTION_MODES", "box_action", "map_actions", "network", "project_simplex", "softmax",
           "sorting_network", "to_allocation"]

ACTION_MODES = ("project", "softmax")
"""Names accepted by `to_allocation` (and the env's ``action_mode``)."""

def box_action(action: Any, shapes: tuple[tuple[int, ...], ...], name: str = "action") -> np.ndarray:
    """``action`` as a C-contiguous float32 or float64 array of one of ``shapes``, clipped to the action Box
    [-1, 1] (entries outside it would otherwise change the map's meaning: about 1e16 rounds a projected row
    to all zeros). Points on the simplex are in the Box, so they pass unchanged; NaN and inf are left for the
    map to report. ``ValueError`` naming ``name`` for a complex, non-numeric or wrongly shaped action."""
    a = action
    if not (isinstance(a, np.ndarray) and (a.dtype == np.float32 or a.dtype == np.float64)):
        try:
            raw = np.asarray(action)
            complex_ = np.iscomplexobj(raw)
            a = None if complex_ else raw.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a numeric array of shape {shapes[0]}; got {action!r}") from None
        if complex_:
            raise ValueError(f"{name} must be real; got dtype {raw.dtype} (the imaginary part would be lost)")
    if a.shape not in shapes:
        raise ValueError(f"{name} must have shape {' or '.join(map(str, shapes))}; got shape {a.shape}")
    hi, lo = a.max(initial=-np.inf), a.min(initial=np.inf)
    if (hi > 1.0 or lo < -1.0) and not (hi == np.inf or lo == -np.inf):
        a = np.clip(a, -1.0, 1.0)
    return np.ascontiguousarray(a)


def _rows(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype != np.float32:
        a = a.astype(np.float64, copy=False)
    if a.ndim == 0:
        raise ValueError("an action map needs rows (an array with at least one axis)")
    return np.ascontiguousarray(a).reshape(-1, a.shape[-1])


def map_actions(a: np.ndarray, mode: str = "project", temperature: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Map the rows of ``a`` (..., J) to shares; returns ``(x (..., J) float64, squared distance |x - a|² per
    row (...))``. ``ValueError`` if ``a`` holds NaN or inf."""
    if mode not in ACTION_MODES:
        raise ValueError(f"mode must be one of {ACTION_MODES}; got {mode!r}")
    rows = _rows(a)
    J = rows.shape[1]
    x, d2, ok = kernels.map_rows(rows, mode == "softmax", float(temperature), network(J))
    if not ok:
        raise ValueError("action contains NaN or inf")
    shape = np.shape(a)
    return x.reshape(shape), d2.reshape(shape[:-1])


def project_simplex(a: np.ndarray) -> np.ndarray:
    """Euclidean projection of each row ``a[..., :]`` onto the probability simplex (float64, same shape).

    Closed form (Held, Wolfe and Crowder 1974; Duchi et al. 2008): with ``u`` the row sorted in decreasing
    order, ``theta = max_k (sum(u[:k]) - 1) / k`` and ``x = max(a - theta, 0)`` (the maximum over k picks
    the support size, since (sum(u[:k]) - 1) / k rises up to it and falls after). O(J log J) comparisons per
    row (a sorting network), no data-dependent branch.
    """
    return map_actions(a, "project")[0]


def softmax(a: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``a / temperature`` (float64, same shape); ``temperature`` > 0."""
    return map_actions(a, "softmax", temperature)[0]


def to_allocation(action: np.ndarray, mode: str = "project", temperature: float = 1.0) -> np.ndarray:
    """Map a raw action (rows of length J along the last axis) to shares on the simplex.

    Args:
        action: array ``(..., J)``; typically ``(..., I, K, J)`` or ``(..., I*K, J)``.
        mode: ``"project"`` (Euclidean projection) or ``"softmax"``.
        temperature: softmax temperature (> 0), ignored by ``"project"``.
    """
    return map_actions(action, mode, temperature)[0]
