"""The one cost model (MODEL.md section 3): pure, batch-first functions of a scenario and an allocation.

Everything else reads its numbers from here: the environment's reward (`evaluate`), and the LP's objective
and constraint coefficients (`objective_coefficients`, `facility_kw_per_share`, `water_l_per_share`, ...).

Axes: an allocation ``x`` has shape ``(..., I, K, J)``: the share of area i's type-k demand sent to DC j.
Internally (i, k) is flattened to one axis of length ``N = I*K`` (row-major, ``n = i*K + k``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .scenario import Scenario

__all__ = [
    "FAMILIES",
    "HOUR_FIELDS",
    "NUMBERS",
    "Coefficients",
    "HourTables",
    "DEFAULT_WEIGHTS",
    "check_weights",
    "coefficients",
    "delay_usd_per_share",
    "evaluate",
    "facility_kw_per_share",
    "grid_price",
    "hour_tables",
    "hour_terms",
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


# ------------------------------------------------------------------------ the hourly kernel
NUMBERS = ("cost_weighted", "energy_usd", "carbon_usd", "delay_usd", "total_usd", "emissions_kg", "water_l",
           "grid_kwh")
"""Columns of the numbers `hour_terms` returns, in that order (weighted $, $, $, $, $, kg, L, kWh)."""

HOUR_FIELDS = ("QT", "D", "rho", "C", "ren", "cap", "bound", "gp", "pue")
"""The fields of `HourTables`, each with a leading axis (hours, or batch elements once gathered)."""


@dataclass(frozen=True, eq=False)
class HourTables:
    """The per-hour inputs of `hour_terms` for one weight vector, laid out so that an hour is a dozen numpy calls.

    Every field has a leading axis: the T hours of a scenario (`hour_tables`), or E batch elements once
    gathered at each element's hour (`take`, or stacked across scenarios by a batched env). Per element:

    - ``QT`` (1+R, N): IT kW (row 0) and resource units (rows 1..R) per unit share, so ``QT @ x`` (1+R, J) is IT
      power and resource use per DC;
    - ``D`` (N, J): delay s per unit share; ``rho`` (N): $ per s of delay;
    - ``C`` (7J + 3): unit values of the segments of ``[grid, d | grid | grid | d | grid, d | grid | facility |
      grid]`` (kW, d = delay $ = ρ·delay): ``[weighted grid price $/kWh, σd | price | carbon $/kWh | 1 |
      price + carbon $/kWh, 1 | kg/kWh | litres per kWh | 1]``, so the segment sums of the products are the
      numbers of `NUMBERS`, in order (weighted $, energy $, carbon $, delay $, total $, emissions kg, water L,
      grid kWh);
    - ``ren``, ``cap``, ``pue`` (J): renewable kW, grid cap kW, PUE;
    - ``bound`` (2N + R*J + N + J + 1): right-hand sides of the rows of `FAMILIES`, in order: allocation
      (Σ_j x <= 1, -Σ_j x <= -1), resource (capacity), delay (cap, s), grid (facility - renewables <= cap, kW),
      water (water - what is left <= 0);
    - ``gp`` (J): weighted grid price $/kWh (`grid_price`), for the grid rule.

    ``negative_price`` is set on construction: whether any weighted grid price is < 0 (the grid rule then buys
    what the cap allows).
    """

    QT: np.ndarray
    D: np.ndarray
    rho: np.ndarray
    C: np.ndarray
    ren: np.ndarray
    cap: np.ndarray
    bound: np.ndarray
    gp: np.ndarray
    pue: np.ndarray

    def __post_init__(self) -> None:
        R1, N = self.QT.shape[-2:]
        J = self.D.shape[-1]
        object.__setattr__(self, "negative_price", bool((self.gp < 0).any()))
        object.__setattr__(self, "_layout", _layout(R1 - 1, N, J))

    def take(self, index: np.ndarray | slice) -> "HourTables":
        """The tables gathered along the leading axis (an int array of hours, or a slice)."""
        return HourTables(**{f: getattr(self, f)[index] for f in HOUR_FIELDS})


@functools.lru_cache(maxsize=64)
def _layout(R: int, N: int, J: int) -> tuple:
    """Static layout of `hour_terms`: (segment starts of ``C`` (8,), family starts of ``bound`` (5,), R*J,
    start of the water segment of ``C``, ones (J,))."""
    numbers = np.cumsum([0, J + 1, J, J, 1, J + 1, J, J], dtype=np.intp)
    families = np.cumsum([0, 2 * N, R * J, N, J], dtype=np.intp)
    return numbers, families, R * J, int(numbers[6]), np.ones(J)


def hour_tables(coef: Coefficients, weights: Sequence[float] = DEFAULT_WEIGHTS) -> HourTables:
    """`HourTables` of every hour of ``coef`` (leading axis T) for ``weights`` (not re-checked)."""
    T, J, N, R = coef.T, coef.J, coef.N, coef.R
    w = np.asarray(weights, np.float64).reshape(3)
    f64 = lambda a: np.ascontiguousarray(a, dtype=np.float64)  # noqa: E731
    per_t = lambda a, n: np.broadcast_to(a, (T, n))  # noqa: E731
    gp = grid_price(coef, w)
    one = np.ones((T, 1))
    return HourTables(
        QT=f64(np.concatenate([coef.it_kw[:, None, :], np.swapaxes(coef.resource, 1, 2)], axis=1)),
        D=f64(coef.delay_s), rho=f64(per_t(coef.rho, N)),
        C=f64(np.concatenate([gp, w[2] * one, coef.price, coef.carbon_usd_per_kwh, one,
                              coef.price + coef.carbon_usd_per_kwh, one, coef.theta, coef.water_l_per_kwh,
                              np.ones((T, J))], axis=1)),
        ren=f64(coef.renewable_kw), cap=f64(coef.grid_cap_kw),
        bound=f64(np.concatenate([np.ones((T, N)), -np.ones((T, N)), per_t(coef.capacity.reshape(-1), R * J),
                                  per_t(coef.delay_cap_s, N), coef.grid_cap_kw, np.zeros((T, 1))], axis=1)),
        gp=f64(gp), pue=f64(per_t(coef.pue, J)))


_SMALL = 4096  # below this many products a row-wise dot is one gufunc call, above it einsum (faster in bulk)


def _row_dot(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Σ_j a[..., j]·x[..., j] (per-share quantity times shares, summed over DCs)."""
    return np.vecdot(a, x) if x.size < _SMALL else np.einsum("...j,...j->...", a, x)


def hour_terms(tab: HourTables, x: np.ndarray, water_left_l: np.ndarray | float | None = None,
               row_sums: np.ndarray | None = None, nonnegative: bool = False) -> tuple[np.ndarray, ...]:
    """The hourly cost model (MODEL.md section 3), batch-first: the one implementation of its formulas.

    Args:
        tab: `HourTables` gathered at each element's hour (leading axis E).
        x: shares, (E, N, J).
        water_left_l: remaining water budget before the hour (L), (E,) or a float; with it the water family
            is the water used beyond what is left (None: 0).
        row_sums: Σ_j x, (E, N), when the caller has it already.
        nonnegative: the caller knows x >= 0 (skips the negative-share term of the allocation family, then 0).

    Returns ``(numbers (E, 8) in the order of NUMBERS, violations (E, 5) in the order of FAMILIES,
    use (E, 1+R, J) = IT kW (row 0) and resource units, facility kW (E, J), grid kW (E, J), delay s (E, N),
    water L per DC (E, J))``. Grid rule: grid = max(facility - renewables, 0) (surplus renewables are
    curtailed), except where the weighted grid price is < 0: there min(facility, cap) (buying is paid for).
    Sums are ufunc reductions, not matrix products with the batch as one big dimension (multithreaded BLAS
    stalls when the cores are busy); with the single env's E = 1 a call is about 20 µs.
    """
    E = x.shape[0]
    seg, fam, RJ, wat, ones_j = tab._layout
    use = np.matmul(tab.QT, x)
    fac = use[:, 0] * tab.pue
    need = fac - tab.ren
    grid = np.maximum(need, 0.0)
    if tab.negative_price:
        grid = np.where(tab.gp < 0, np.minimum(fac, tab.cap), grid)
    delay = _row_dot(tab.D, x)
    d = np.vecdot(delay, tab.rho)[:, None]
    parts = np.concatenate((grid, d, grid, grid, d, grid, d, grid, fac, grid), axis=1)
    parts *= tab.C
    numbers = np.add.reduceat(parts, seg, axis=1)
    s = x @ ones_j if row_sums is None else row_sums
    if water_left_l is None:
        left = np.inf
    elif isinstance(water_left_l, float):  # one env (np.float64 too)
        left = water_left_l if water_left_l > 0.0 else 0.0
    else:
        left = np.maximum(water_left_l, 0.0).reshape(-1, 1)
    v = np.concatenate((s, -s, use[:, 1:].reshape(E, RJ), delay, need, numbers[:, 6:7] - left), axis=1)
    v -= tab.bound
    np.maximum(v, 0.0, out=v)
    viol = np.add.reduceat(v, fam, axis=1)
    if not nonnegative:
        viol[:, 0] += np.maximum(-x, 0.0).sum((-2, -1))
    return numbers, viol, use, fac, grid, delay, parts[:, wat:wat + grid.shape[1]]


# -------------------------------------------------------------------- evaluation
def evaluate(coef: Coefficients, x: np.ndarray, weights: Sequence[float] = DEFAULT_WEIGHTS,
             hours: np.ndarray | int | None = None, water_left_l: np.ndarray | float | None = None,
             detail: bool = False) -> dict[str, np.ndarray]:
    """Every hourly quantity of MODEL.md section 3 for allocation ``x`` (via `hour_terms`).

    Args:
        coef: from `coefficients`.
        x: shares, shape ``lead + (I, K, J)`` (or ``lead + (N, J)``).
        weights: (σe, σc, σd), not re-checked here (see `check_weights`).
        hours: slot index per leading element: None means ``lead`` ends with T (a whole plan, ``lead == (T,)``
            usually); an int or an integer array broadcast to ``lead`` selects those slots (batched environments).
        water_left_l: remaining water budget before this slot (L), broadcast to ``lead``; with it the water
            family of ``violations`` is the water used beyond what is left.
        detail: also return the three delay components per (i, k).

    Returns a dict of arrays with leading shape ``lead``: ``it_kw``, ``facility_kw``, ``grid_kw``,
    ``curtailed_kw``, ``water_l_dc`` (…, J); ``resource_use`` (…, R, J); ``delay_s`` (…, I, K);
    ``water_l``, ``energy_usd``, ``carbon_usd``, ``delay_usd``, ``total_usd``, ``cost_weighted``,
    ``emissions_kg``, ``grid_kwh`` (…); ``violations`` (…, 5) in the order of `FAMILIES`.
    """
    J, N = coef.J, coef.N
    x = np.asarray(x, dtype=np.float64)
    xf = x.reshape(*x.shape[:-3], N, J) if x.shape[-2] != N else x
    lead = xf.shape[:-2]
    if hours is None:
        if not lead or lead[-1] != coef.T:
            raise ValueError(f"hours=None needs x of shape (..., T={coef.T}, I, K, J); got x shape {x.shape}")
        hours = np.arange(coef.T)
    h = np.broadcast_to(np.asarray(hours), lead).reshape(-1)
    E = h.size
    tab = hour_tables(coef, weights).take(h)
    left = None if water_left_l is None else np.broadcast_to(water_left_l, lead).reshape(-1)
    xe = xf.reshape(E, N, J)
    nums, viol, use, fac, grid, delay, water_dc = hour_terms(tab, xe, left)
    out = {
        "it_kw": use[:, 0], "facility_kw": fac, "grid_kw": grid, "curtailed_kw": grid + tab.ren - fac,
        "water_l_dc": water_dc, "resource_use": use[:, 1:], "delay_s": delay.reshape(E, coef.I, coef.K),
        **{name: nums[:, q] for q, name in enumerate(NUMBERS)},
        "violations": viol,
    }
    if detail:
        for name in ("delay_tran_s", "delay_prop_s", "delay_proc_s"):
            out[name] = _row_dot(getattr(coef, name)[h], xe).reshape(E, coef.I, coef.K)
    return {k: v.reshape(lead + v.shape[1:]) for k, v in out.items()}
