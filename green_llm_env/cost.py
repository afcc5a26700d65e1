"""The one cost model (MODEL.md section 3): pure, batch-first functions of a scenario and an allocation.

Everything else reads its numbers from here: the environment's reward (`evaluate`, `hour_terms`), and the
LP's objective and constraint coefficients (`objective_coefficients`, `facility_kw_per_share`,
`water_l_per_share`, ...). The hourly formulas themselves are written once, in the compiled kernel
`green_llm_env.kernels.hour_element`, which reads the per-hour tables built here (`hour_tables`) and which
`hour_terms`, `evaluate` and both environments' step run. The per-share coefficient formulas are written once
as well (`query_tokens` ... `delay_usd`): elementwise functions that `coefficient_arrays` applies to numpy arrays
(with optional leading batch axes) and that `green_llm_env.batch_generator` compiles for its batch kernels.

Axes: an allocation ``x`` has shape ``(..., I, K, J)``: the share of area i's type-k demand sent to DC j.
Internally (i, k) is flattened to one axis of length ``N = I*K`` (row-major, ``n = i*K + k``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from . import kernels

if TYPE_CHECKING:  # the cost model reads a Scenario's fields; it never imports the module at run time
    from .scenario import Scenario

__all__ = [
    "FAMILIES",
    "HOUR_FIELDS",
    "NUMBERS",
    "Coefficients",
    "HourTables",
    "DEFAULT_WEIGHTS",
    "check_weights",
    "coefficient_arrays",
    "coefficients",
    "delay_usd_per_share",
    "derived_bounds",
    "evaluate",
    "facility_kw_per_share",
    "grid_price",
    "hour_fields",
    "hour_tables",
    "hour_terms",
    "least_water_bound_l",
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
        raise ValueError(f"{name} must be three numbers (energy, carbon, delay); got {[float(v) for v in w]}")
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
    """Precompute the per-share coefficients of scenario ``s`` (O(T·I·K·J)).

    Memoised on the scenario object (scenarios are immutable; the arrays returned are read-only)."""
    hit = s.__dict__.get("_coefficients")
    if hit is not None:
        return hit
    coef = _coefficients(s)
    for name, value in vars(coef).items():
        if isinstance(value, np.ndarray):
            value.setflags(write=False)
    object.__setattr__(s, "_coefficients", coef)
    return coef


def _coefficients(s: Scenario) -> Coefficients:
    T, I, K = s.lam.shape
    R, J = s.C.shape
    arrays = coefficient_arrays(**{name: getattr(s, name) for name in COEFFICIENT_INPUTS})
    return Coefficients(I=I, J=J, K=K, T=T, R=R, **arrays, water_budget_l=s.Z)


# ----------------------------------------------------------------- the per-share formulas, written once
# Elementwise functions of their arguments: numpy arrays (broadcast by `coefficient_arrays`, with any leading
# batch axes) or scalars inside compiled loops (`green_llm_env.batch_generator` compiles these very functions
# with numba), so that every path computes each number with the same floating-point operations.
def query_tokens(h, f):
    """L[k] = h + f: tokens per query."""
    return h + f


def query_kwh(tau_in, h, tau_out, f):
    """e[k] = τin·h + τout·f: kWh of IT energy per query."""
    return tau_in * h + tau_out * f


def share_load(lam, L, e):
    """(tokens per slot λ·L, IT kW λ·e) per unit share."""
    return lam * L, lam * e


def share_resource(lam_tokens, alpha):
    """Resource units per unit share: α[k,r]·L[k]·λ."""
    return lam_tokens * alpha


def share_delays(beta, lam_tokens, bandwidth, d, v):
    """(transmission β·λ·L/B, propagation d, processing v·L·λ, their sum) in s per unit share."""
    tran = beta * lam_tokens / bandwidth
    proc = lam_tokens * v
    return tran, d, proc, tran + d + proc


def water_per_kwh(WUE, PUE, EWIF):
    """Litres per kWh of facility energy: WUE/PUE + EWIF."""
    return WUE / PUE + EWIF


def carbon_per_kwh(delta, theta):
    """Carbon cost $/kWh: δ·θ."""
    return delta * theta


def weighted_grid_price(w_energy, w_carbon, price, carbon):
    """Weighted price of grid energy $/kWh: σe·c + σc·δ·θ (``carbon`` = δ·θ)."""
    return w_energy * price + w_carbon * carbon


def facility_kw(it_kw, pue):
    """Facility kW per unit share: PUE·(IT kW)."""
    return it_kw * pue


def water_l(facility, wlpk):
    """Litres per unit share: facility kW·(WUE/PUE + EWIF)."""
    return facility * wlpk


def delay_usd(rho, delay):
    """Delay $ per unit share: ρ[k]·D."""
    return rho * delay


COEFFICIENT_INPUTS = ("lam", "h", "f", "tau_in", "tau_out", "PUE", "c", "theta", "delta", "P_w", "P_max", "WUE",
                      "EWIF", "C", "alpha", "beta", "B", "d", "v", "rho", "Delta")
"""The scenario fields `coefficient_arrays` reads (every array field; Z enters nothing per share)."""


def coefficient_arrays(lam, h, f, tau_in, tau_out, PUE, c, theta, delta, P_w, P_max, WUE, EWIF, C, alpha, beta, B,
                       d, v, rho, Delta) -> dict[str, np.ndarray]:
    """The array fields of `Coefficients` (``it_kw`` ... ``delay_cap_s``) from plain arrays shaped like the
    `Scenario` fields, each with the same optional leading batch axes ``lead`` (``lam`` (*lead, T, I, K),
    ``PUE`` (*lead, J), ...); every output gains those leading axes. Entries are computed elementwise by the
    per-share formulas above, so a batch gives bit for bit the numbers of its scenarios one at a time."""
    lam = np.asarray(lam)
    *lead, T, I, K = lam.shape
    lead = tuple(lead)
    J = np.shape(PUE)[-1]
    N = I * K
    k_of = np.tile(np.arange(K), I)
    i_of = np.repeat(np.arange(I), K)
    L = query_tokens(h, f)  # tokens per query
    e = query_kwh(tau_in, h, tau_out, f)  # kWh per query
    lam = lam.reshape(lead + (T, N))
    lam_tokens, it_kw = share_load(lam, L[..., None, k_of], e[..., None, k_of])  # (..., T, N)
    d_n = d[..., None, i_of, :]  # (..., 1, N, J)
    tran, _, proc, delay = share_delays(np.reshape(beta, lead + (T, N, 1)), lam_tokens[..., None],
                                        B[..., None, i_of, :], d_n, np.swapaxes(v, -1, -2)[..., None, k_of, :])
    return dict(
        it_kw=it_kw,
        pue=PUE,
        water_l_per_kwh=water_per_kwh(WUE, PUE[..., None, :], EWIF),
        resource=share_resource(lam_tokens[..., None], alpha[..., None, k_of, :]),
        delay_tran_s=tran, delay_prop_s=np.broadcast_to(d_n, lead + (T, N, J)),
        delay_proc_s=proc, delay_s=delay,
        rho=rho[..., k_of],
        price=c, carbon_usd_per_kwh=carbon_per_kwh(delta[..., None, :], theta), theta=theta,
        renewable_kw=P_w, grid_cap_kw=P_max, capacity=C,
        delay_cap_s=np.reshape(Delta, lead + (N,)),
    )


# ----------------------------------------------------------------- LP coefficients
def grid_price(coef: Coefficients, weights: Sequence[float]) -> np.ndarray:
    """Weighted price of grid energy, (T, J) $/kWh: σe·c + σc·δ·θ."""
    return weighted_grid_price(weights[0], weights[1], coef.price, coef.carbon_usd_per_kwh)


def _memo(coef: Coefficients, name: str, build) -> np.ndarray:
    """``build()`` computed once per coefficients object and kept on it, read-only (coefficients are
    immutable; the hourly LPs of a long horizon read the same arrays once per hour)."""
    hit = coef.__dict__.get(name)
    if hit is None:
        hit = build()
        hit.setflags(write=False)
        coef.__dict__[name] = hit
    return hit


def facility_kw_per_share(coef: Coefficients) -> np.ndarray:
    """(T, N, J) facility power (kW) per unit share: PUE[j]·e[k]·λ (memoised on ``coef``, read-only)."""
    return _memo(coef, "_facility_kw", lambda: facility_kw(coef.it_kw[..., None], coef.pue))


def water_l_per_share(coef: Coefficients) -> np.ndarray:
    """(T, N, J) litres per unit share: (WUE/PUE + EWIF)·P_d (memoised on ``coef``, read-only)."""
    return _memo(coef, "_water_l", lambda: water_l(facility_kw_per_share(coef), coef.water_l_per_kwh[:, None, :]))


def least_water_bound_l(coef: Coefficients) -> float:
    """A lower bound (L) on the water of any plan: every (t, i, k) at its least-water DC, capacities ignored;
    a water budget below it makes the scenario infeasible."""
    return float(water_l_per_share(coef).min(axis=2).sum())


def delay_usd_per_share(coef: Coefficients) -> np.ndarray:
    """(T, N, J) delay cost ($) per unit share: ρ[k]·D."""
    return delay_usd(coef.rho[:, None], coef.delay_s)


def objective_coefficients(coef: Coefficients, weights: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """The weighted objective as linear costs: ((T, N, J) $ per unit share x, (T, J) $ per kW of P_g)."""
    return weights[2] * delay_usd_per_share(coef), grid_price(coef, weights)


# ------------------------------------------------------------------ derived magnitudes
_ENERGY = ("lam", "tau_in", "h", "tau_out", "f")
_DELAY = ("lam", "h", "f", "beta", "B", "d", "v")


def derived_bounds(c: Coefficients) -> tuple[tuple[str, float, tuple[str, ...]], ...]:
    """(meaning, a bound on its sum over every (t, n, j), scenario fields it is made of) of each derived
    per-share quantity; the terms are >= 0, so a finite bound means every entry is finite."""
    it = float(c.it_kw.sum())
    fac = it * float(c.pue.max())
    delay = float(c.delay_s.sum())
    return (
        ("IT kW per share lam·(tau_in·h + tau_out·f)", it, _ENERGY),
        ("facility kW per share (IT kW·PUE)", fac, _ENERGY + ("PUE",)),
        ("water L per share (facility kW·(WUE/PUE + EWIF))", fac * float(c.water_l_per_kwh.max()),
         _ENERGY + ("PUE", "WUE", "EWIF")),
        ("resource units per share alpha·(h + f)·lam", float(c.resource.sum()), ("lam", "h", "f", "alpha")),
        ("delay s per share beta·lam·(h + f)/B + d + v·(h + f)·lam", delay, _DELAY),
        ("delay $ per share (rho·delay)", delay * float(c.rho.max()), _DELAY + ("rho",)),
        ("grid $ per share (facility kW·(|c| + delta·theta))",
         fac * float(np.abs(c.price).max() + c.carbon_usd_per_kwh.max()), _ENERGY + ("PUE", "c", "delta", "theta")),
    )


# ------------------------------------------------------------------------ the hourly kernel
NUMBERS = ("cost_weighted", "energy_usd", "carbon_usd", "delay_usd", "total_usd", "emissions_kg", "water_l",
           "grid_kwh")
"""Columns of the numbers `hour_terms` returns, in that order (weighted $, $, $, $, $, kg, L, kWh)."""

HOUR_FIELDS = kernels.FIELDS
"""The fields of `HourTables`, in the order of their flat row (each with a leading axis: hours, or batch
elements once gathered)."""


@dataclass(frozen=True, eq=False)
class HourTables:
    """The per-hour inputs of the hourly kernel for one weight vector: one flat float64 row per hour.

    ``flat`` has shape (rows, W): the T hours of a scenario (`hour_tables`), or batch elements once gathered
    (`take`, or stacked across scenarios by a batched env). A row holds, in this order (`HOUR_FIELDS`; the
    fields are also readable by name, as views of shape (rows, ...)):

    - ``QT`` (1+R, N): IT kW (row 0) and resource units (rows 1..R) per unit share;
    - ``DT`` (J, N): delay s per unit share (transposed); ``rho`` (N): $ per s of delay; ``dcap`` (N): delay
      cap s;
    - ``price``, ``carbon`` ($/kWh: δ·θ), ``theta`` (kg/kWh), ``wlpk`` (litres per kWh of facility energy),
      ``gp`` (weighted grid price $/kWh, `grid_price`), ``ren`` (renewable kW), ``cap`` (grid cap kW), ``pue``,
      each (J,);
    - ``capacity`` (R, J) resource units; ``sd`` (1,): σd.

    ``negative_price``: whether any weighted grid price is < 0 (the grid rule then buys what the cap allows).
    """

    flat: np.ndarray
    R: int
    N: int
    J: int

    def __post_init__(self) -> None:
        W = kernels.layout(self.R, self.N, self.J)[-1]
        if self.flat.ndim != 2 or self.flat.shape[1] != W:
            raise ValueError(f"HourTables.flat must have shape (rows, {W}) for (R, N, J) = "
                             f"{(self.R, self.N, self.J)}; got {self.flat.shape}")
        object.__setattr__(self, "flat", np.ascontiguousarray(self.flat, dtype=np.float64))

    def __getattr__(self, name: str) -> np.ndarray:
        if name not in HOUR_FIELDS:
            raise AttributeError(f"HourTables has no field {name!r}")
        where, shape = kernels.field_slices(self.R, self.N, self.J)[name]
        return self.flat[:, where].reshape((-1,) + shape)

    @property
    def negative_price(self) -> bool:
        return bool((self.gp < 0).any())

    @classmethod
    def from_fields(cls, **fields: np.ndarray) -> "HourTables":
        """Pack named fields (each with the same leading axis) into one `HourTables`."""
        missing = set(HOUR_FIELDS) - set(fields)
        if missing:
            raise ValueError(f"HourTables.from_fields: missing field(s) {sorted(missing)}")
        R1, N = fields["QT"].shape[-2:]
        J = fields["DT"].shape[-2]
        rows = fields["QT"].shape[0]
        flat = np.empty((rows, kernels.layout(R1 - 1, N, J)[-1]))
        for f, (where, shape) in kernels.field_slices(R1 - 1, N, J).items():
            flat[:, where] = np.broadcast_to(fields[f], (rows,) + shape).reshape(rows, -1)
        return cls(flat, R1 - 1, N, J)

    def take(self, index: np.ndarray | slice) -> "HourTables":
        """The tables gathered along the leading axis (an int array of hours, or a slice)."""
        return HourTables(self.flat[index], self.R, self.N, self.J)


def hour_fields(arrays, weights: Sequence[float] = DEFAULT_WEIGHTS) -> dict[str, np.ndarray]:
    """The fields of `HourTables` (`HOUR_FIELDS`), each shaped ``lead + (T,) + shape``, from the coefficient
    arrays ``arrays`` (a `Coefficients`' fields, or `coefficient_arrays`' dict, with optional leading batch
    axes ``lead``) for ``weights`` (not re-checked)."""
    a = arrays if isinstance(arrays, dict) else vars(arrays)
    it_kw = a["it_kw"]  # (*lead, T, N)
    lead_t, nlead = it_kw.shape[:-1], it_kw.ndim - 2
    w = np.asarray(weights, np.float64).reshape(3)
    per_t = lambda x: np.broadcast_to(np.expand_dims(x, nlead), lead_t + np.shape(x)[nlead:])  # noqa: E731
    return dict(
        QT=np.concatenate([it_kw[..., None, :], np.swapaxes(a["resource"], -1, -2)], axis=-2),
        DT=np.swapaxes(a["delay_s"], -1, -2), rho=per_t(a["rho"]), dcap=per_t(a["delay_cap_s"]),
        price=a["price"], carbon=a["carbon_usd_per_kwh"], theta=a["theta"], wlpk=a["water_l_per_kwh"],
        gp=weighted_grid_price(w[0], w[1], a["price"], a["carbon_usd_per_kwh"]), ren=a["renewable_kw"],
        cap=a["grid_cap_kw"], pue=per_t(a["pue"]), capacity=per_t(a["capacity"]), sd=np.full(lead_t + (1,), w[2]))


def hour_tables(coef: Coefficients, weights: Sequence[float] = DEFAULT_WEIGHTS) -> HourTables:
    """`HourTables` of every hour of ``coef`` (leading axis T) for ``weights`` (not re-checked)."""
    return HourTables.from_fields(**hour_fields(coef, weights))


def _left_array(water_left_l: np.ndarray | float | None, E: int) -> np.ndarray:
    if water_left_l is None:
        return np.full(E, np.inf)
    return np.ascontiguousarray(np.broadcast_to(np.asarray(water_left_l, np.float64).reshape(-1), (E,)))


def hour_terms(tab: HourTables, x: np.ndarray, water_left_l: np.ndarray | float | None = None,
               nonnegative: bool = False, rows: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """The hourly cost model (MODEL.md section 3), batch-first (compiled: `kernels.hour_element`, the one
    implementation of its formulas, which the environments' step runs too).

    Args:
        tab: `HourTables`; element e reads row ``rows[e]`` (default: row e, so ``tab`` has one row per element).
        x: shares, (E, N, J).
        water_left_l: remaining water budget before the hour (L), (E,) or a float; with it the water family
            is the water used beyond what is left (None: 0).
        nonnegative: the caller knows x >= 0 (skips the negative-share term of the allocation family).
        rows: (E,) int row of ``tab`` per element.

    Returns ``(numbers (E, 8) in the order of NUMBERS, violations (E, 5) in the order of FAMILIES,
    use (E, 1+R, J) = IT kW (row 0) and resource units, facility kW (E, J), grid kW (E, J), delay s (E, N),
    water L per DC (E, J))``. Grid rule: grid = max(facility - renewables, 0) (surplus renewables are
    curtailed), except where the weighted grid price is < 0: there min(facility, cap) (buying is paid for).
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    E, N, J = x.shape
    R = tab.R
    if (N, J) != (tab.N, tab.J):
        raise ValueError(f"x must have shape (E, {tab.N}, {tab.J}); got {x.shape}")
    if rows is None:
        if tab.flat.shape[0] != E:
            raise ValueError(f"without rows, tab needs one row per element: {tab.flat.shape[0]} rows, {E} elements")
        rows = np.arange(E)
    rows = np.ascontiguousarray(rows, dtype=np.int64).reshape(E)
    out = (np.empty((E, len(NUMBERS))), np.empty((E, len(FAMILIES))), np.empty((E, R + 1, J)), np.empty((E, J)),
           np.empty((E, J)), np.empty((E, N)), np.empty((E, J)))
    kernels.terms_batch(tab.flat, rows, x, _left_array(water_left_l, E), bool(nonnegative), R, *out)
    return out


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
    tab = hour_tables(coef, weights)
    left = None if water_left_l is None else np.broadcast_to(water_left_l, lead).reshape(-1)
    xe = xf.reshape(E, N, J)
    nums, viol, use, fac, grid, delay, water_dc = hour_terms(tab, xe, left, rows=h)
    out = {
        "it_kw": use[:, 0], "facility_kw": fac, "grid_kw": grid, "curtailed_kw": grid + coef.renewable_kw[h] - fac,
        "water_l_dc": water_dc, "resource_use": use[:, 1:], "delay_s": delay.reshape(E, coef.I, coef.K),
        **{name: nums[:, q] for q, name in enumerate(NUMBERS)},
        "violations": viol,
    }
    if detail:
        for name in ("delay_tran_s", "delay_prop_s", "delay_proc_s"):
            out[name] = np.einsum("enj,enj->en", getattr(coef, name)[h], xe).reshape(E, coef.I, coef.K)
    return {k: v.reshape(lead + v.shape[1:]) for k, v in out.items()}
