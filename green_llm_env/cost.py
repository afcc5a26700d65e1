"""The one cost model (MODEL.md section 3): pure, batch-first functions of a scenario and an allocation.

Everything else reads its numbers from here: the environment's reward (`evaluate`), and the LP's objective
and constraint coefficients (`objective_coefficients`, `facility_kw_per_share`, `water_l_per_share`, ...).

Axes: an allocation ``x`` has shape ``(..., I, K, J)``: the share of area i's type-k demand sent to DC j.
Internally (i, k) is flattened to one axis of length ``N = I*K`` (row-major, ``n = i*K + k``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .scenario import Scenario

__all__ = [
    "FAMILIES",
    "Coefficients",
    "DEFAULT_WEIGHTS",
    "check_weights",
    "coefficients",
    "delay_usd_per_share",
    "evaluate",
    "facility_kw_per_share",
    "grid_price",
    "objective_coefficients",
    "water_l_per_share",
]

DEFAULT_WEIGHTS = (1 / 3, 1 / 3, 1 / 3)
"""Default (σe, σc, σd): equal weights, whose optimum is the minimum-total-cost plan."""

FAMILIES = ("allocation", "resource", "delay", "grid", "water")
"""Constraint families reported by `evaluate`, with units: allocation (share), resource (units), delay (s),
grid (kW), water (L)."""


def check_weights(weights: Sequence[float], name: str = "weights") -> np.ndarray:
    """(σe, σc, σd) as a float array; ``ValueError`` unless three finite values >= 0 summing to 1."""
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.shape != (3,):
        raise ValueError(f"{name} must be three numbers (energy, carbon, delay); got {list(w)}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"{name} must be finite and >= 0; got {tuple(float(v) for v in w)}")
    if abs(w.sum() - 1.0) > 1e-6:
        raise ValueError(f"{name} must sum to 1; got {tuple(float(v) for v in w)} (sum {w.sum():.6g})")
    return w


@dataclass(frozen=True, eq=False)
class Coefficients:
    """Per-share coefficients of one scenario, time-first, (i, k) flattened to N = I*K.

    "Per share" means: the value when the whole of (i, k)'s demand in slot t goes to DC j (x = 1).
    """

    I: int
    J: int
    K: int
    T: int
    R: int
    it_kw: np.ndarray  # (T, N) kW of IT power per unit share: e[k]·λ
    pue: np.ndarray  # (J,)
    water_l_per_kwh: np.ndarray  # (T, J) litres per kWh of facility energy: WUE/PUE + EWIF
    resource: np.ndarray  # (T, N, R) resource units per unit share: α[k,r]·L[k]·λ
    delay_tran_s: np.ndarray  # (T, N, J) s per unit share: β·λ·L / B
    delay_prop_s: np.ndarray  # (T, N, J) s per unit share: d[i,j] (no λ)
    delay_proc_s: np.ndarray  # (T, N, J) s per unit share: v[j,k]·L·λ
    delay_s: np.ndarray  # (T, N, J) sum of the three
    rho: np.ndarray  # (N,) $/s
    price: np.ndarray  # (T, J) $/kWh
    carbon_usd_per_kwh: np.ndarray  # (T, J) δ·θ
    theta: np.ndarray  # (T, J) kgCO2/kWh
    renewable_kw: np.ndarray  # (T, J)
    grid_cap_kw: np.ndarray  # (T, J)
    capacity: np.ndarray  # (R, J)
    delay_cap_s: np.ndarray  # (N,)
    water_budget_l: float

    @property
    def N(self) -> int:
        return self.I * self.K


def coefficients(s: Scenario) -> Coefficients:
    """Precompute the per-share coefficients of scenario ``s`` (O(T·I·K·J))."""
    T, I, K = s.lam.shape
    R, J = s.C.shape
    N = I * K
    L = s.h + s.f  # tokens per query
    e = s.tau_in * s.h + s.tau_out * s.f  # kWh per query
    lam = s.lam.reshape(T, N)
    k_of = np.tile(np.arange(K), I)
    i_of = np.repeat(np.arange(I), K)
    lam_tokens = lam * L[k_of]  # (T, N) tokens per slot
    tran = (s.beta.reshape(T, N) * lam_tokens)[..., None] / s.B[i_of][None]
    prop = np.broadcast_to(s.d[i_of][None], (T, N, J))
    proc = lam_tokens[..., None] * s.v.T[k_of][None]
    return Coefficients(
        I=I, J=J, K=K, T=T, R=R,
        it_kw=lam * e[k_of],
        pue=s.PUE,
        water_l_per_kwh=s.WUE / s.PUE + s.EWIF,
        resource=lam_tokens[..., None] * s.alpha[k_of][None],
        delay_tran_s=tran, delay_prop_s=prop, delay_proc_s=proc, delay_s=tran + prop + proc,
        rho=s.rho[k_of],
        price=s.c, carbon_usd_per_kwh=s.delta * s.theta, theta=s.theta,
        renewable_kw=s.P_w, grid_cap_kw=s.P_max, capacity=s.C,
        delay_cap_s=s.Delta.reshape(N), water_budget_l=s.Z,
    )


# ----------------------------------------------------------------- LP coefficients
def grid_price(coef: Coefficients, weights: Sequence[float]) -> np.ndarray:
    """Weighted price of grid energy, (T, J) $/kWh: σe·c + σc·δ·θ."""
    return weights[0] * coef.price + weights[1] * coef.carbon_usd_per_kwh


def facility_kw_per_share(coef: Coefficients) -> np.ndarray:
    """(T, N, J) facility power (kW) per unit share: PUE[j]·e[k]·λ."""
    return coef.it_kw[..., None] * coef.pue


def water_l_per_share(coef: Coefficients) -> np.ndarray:
    """(T, N, J) litres per unit share: (WUE/PUE + EWIF)·P_d."""
    return facility_kw_per_share(coef) * coef.water_l_per_kwh[:, None, :]


def delay_usd_per_share(coef: Coefficients) -> np.ndarray:
    """(T, N, J) delay cost ($) per unit share: ρ[k]·D."""
    return coef.rho[:, None] * coef.delay_s


def objective_coefficients(coef: Coefficients, weights: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """The weighted objective as linear costs: ((T, N, J) $ per unit share x, (T, J) $ per kW of P_g)."""
    return weights[2] * delay_usd_per_share(coef), grid_price(coef, weights)


# -------------------------------------------------------------------- evaluation
def _at(a: np.ndarray, hours: np.ndarray | int | None) -> np.ndarray:
    return a if hours is None else a[hours]


def evaluate(coef: Coefficients, x: np.ndarray, weights: Sequence[float] = DEFAULT_WEIGHTS,
             hours: np.ndarray | int | None = None, water_left_l: np.ndarray | float | None = None,
             detail: bool = False) -> dict[str, np.ndarray]:
    """Every hourly quantity of MODEL.md section 3 for allocation ``x``.

    Args:
        coef: from `coefficients`.
        x: shares, shape ``lead + (I, K, J)`` (or ``lead + (N, J)``).
        weights: (σe, σc, σd), not re-checked here (see `check_weights`).
        hours: slot index per leading element: None means ``lead == (T,)`` (a whole plan); an int or an
            integer array of shape ``lead`` selects those slots (batched environments).
        water_left_l: remaining water budget before this slot (L), broadcast to ``lead``; with it the water
            family of ``violations`` is the water used beyond what is left.
        detail: also return the three delay components per (i, k).

    Returns a dict of arrays with leading shape ``lead``: ``it_kw``, ``facility_kw``, ``grid_kw``,
    ``curtailed_kw``, ``water_l_dc`` (…, J); ``resource_use`` (…, R, J); ``delay_s`` (…, I, K);
    ``water_l``, ``energy_usd``, ``carbon_usd``, ``delay_usd``, ``total_usd``, ``cost_weighted``,
    ``emissions_kg``, ``grid_kwh`` (…); ``violations`` (…, 5) in the order of `FAMILIES`.
    """
    J, N = coef.J, coef.N
    xf = x.reshape(*x.shape[:-3], N, J) if x.shape[-2] != N else x
    lead = xf.shape[:-2]
    it = np.matmul(_at(coef.it_kw, hours)[..., None, :], xf)[..., 0, :]
    facility = it * coef.pue
    ren = _at(coef.renewable_kw, hours)
    cap = _at(coef.grid_cap_kw, hours)
    price = _at(coef.price, hours)
    carbon = _at(coef.carbon_usd_per_kwh, hours)
    need = facility - ren
    grid = np.maximum(need, 0.0)
    gp = weights[0] * price + weights[1] * carbon
    if np.any(gp < 0):  # buying is paid for: take as much as the load and the cap allow
        grid = np.where(gp < 0, np.minimum(facility, cap), grid)
    water_dc = _at(coef.water_l_per_kwh, hours) * facility
    water = water_dc.sum(-1)
    use = np.matmul(np.swapaxes(_at(coef.resource, hours), -1, -2), xf)
    delay = (_at(coef.delay_s, hours) * xf).sum(-1)
    energy_usd = (price * grid).sum(-1)
    carbon_usd = (carbon * grid).sum(-1)
    delay_usd = delay @ coef.rho
    viol = np.empty(lead + (5,))
    viol[..., 0] = np.abs(xf.sum(-1) - 1.0).sum(-1) + np.maximum(-xf, 0.0).sum((-2, -1))
    viol[..., 1] = np.maximum(use - coef.capacity, 0.0).sum((-2, -1))
    viol[..., 2] = np.maximum(delay - coef.delay_cap_s, 0.0).sum(-1)
    viol[..., 3] = np.maximum(need - cap, 0.0).sum(-1)
    viol[..., 4] = 0.0 if water_left_l is None else np.maximum(water - np.maximum(water_left_l, 0.0), 0.0)
    out = {
        "it_kw": it, "facility_kw": facility, "grid_kw": grid, "curtailed_kw": grid + ren - facility,
        "water_l_dc": water_dc, "resource_use": use,
        "delay_s": delay.reshape(lead + (coef.I, coef.K)),
        "water_l": water, "grid_kwh": grid.sum(-1),
        "energy_usd": energy_usd, "carbon_usd": carbon_usd, "delay_usd": delay_usd,
        "total_usd": energy_usd + carbon_usd + delay_usd,
        "cost_weighted": weights[0] * energy_usd + weights[1] * carbon_usd + weights[2] * delay_usd,
        "emissions_kg": (_at(coef.theta, hours) * grid).sum(-1),
        "violations": viol,
    }
    if detail:
        for name in ("delay_tran_s", "delay_prop_s", "delay_proc_s"):
            out[name] = (_at(getattr(coef, name), hours) * xf).sum(-1).reshape(lead + (coef.I, coef.K))
    return out
