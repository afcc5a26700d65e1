"""What the oracle returns, and its errors: `OracleResult`, `InfeasibleScenarioError` and the helpers that fill
them, shared by the monolithic (`baselines.oracle`) and decomposed (`baselines.decomposed`) solves."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from green_llm_env import cost
from green_llm_env.cost import Coefficients

__all__ = ["OBJECTIVES", "InfeasibleScenarioError", "OracleResult", "diagnose", "infeasible_error", "package_result"]

OBJECTIVES = {"energy": (1.0, 0.0, 0.0), "carbon": (0.0, 1.0, 0.0), "delay": (0.0, 0.0, 1.0)}
"""Each single objective as a weight vector (σe, σc, σd)."""


class InfeasibleScenarioError(ValueError):
    """The scenario admits no feasible allocation, the LP is unbounded, or HiGHS cannot solve it (time limit,
    numbers out of its range); the message says why."""


@dataclass
class OracleResult:
    """A solved plan and its costs, in the model's units ($, kg, L, s)."""

    plan: np.ndarray  # (T, I, K, J) share of (i, k) demand sent to j in slot t
    grid_kw: np.ndarray  # (T, J) grid power bought
    objective: float  # weighted objective (final phase's objective for lexicographic), $
    total: float  # energy + carbon + delay, $
    energy: float  # C1, $
    carbon: float  # C2, $
    delay: float  # C3, $
    emissions_kg: float
    water_l: float
    water_dual: float  # $ of objective saved per extra litre of water budget (>= 0; > 0 when it binds)
    status: str
    build_s: float  # building the LP's arrays (numpy)
    solve_s: float  # HiGHS run(s)
    pass_s: float = 0.0  # handing the arrays to HiGHS (instance and passModel)
    method: str = "weighted"
    weights: tuple[float, float, float] | None = None
    order: tuple[str, ...] | None = None
    phases: list[dict[str, float]] = field(default_factory=list)
    water_price: float | None = None  # $/L of the elastic water row (GreenLLM-v2), None: a hard budget
    water_overrun_l: float = 0.0  # litres beyond the budget the elastic row bought (objective includes its $)

    def to_dict(self) -> dict[str, Any]:
        """Every field except the arrays ``plan`` and ``grid_kw`` (JSON-ready)."""
        out = asdict(self)
        for key in ("plan", "grid_kw"):
            out.pop(key)
        for key in ("weights", "order"):
            if out[key] is None:
                out.pop(key)
            else:
                out[key] = list(out[key])
        return out


# ----------------------------------------------------------------------------- diagnosis
def diagnose(coef: Coefficients) -> str | None:
    """A reason the scenario is infeasible that can be told cheaply, or None if no single family explains it."""
    fastest = coef.delay_s.min(axis=2)  # (T, N)
    bad = fastest > coef.delay_cap_s
    if bad.any():
        t, n = np.argwhere(bad)[0]
        i, k = divmod(int(n), coef.K)
        return (f"the delay cap of (area {i}, type {k}) is unreachable at hour {t}: the fastest DC gives "
                f"{fastest[t, n]:.3f} s > Delta = {coef.delay_cap_s[n]:.3f} s")
    need = coef.resource.sum(axis=1)  # (T, R)
    have = coef.capacity.sum(axis=1)  # (R,)
    bad = need > have
    if bad.any():
        t, r = np.argwhere(bad)[0]
        return (f"demand at hour {t} needs {need[t, r]:.1f} units of resource {r}, more than the total "
                f"capacity {have[r]:.1f} of all DCs")
    fkw = cost.facility_kw_per_share(coef)
    least_kw = fkw.min(axis=2).sum(axis=1)  # (T,)
    supply = (coef.grid_cap_kw + coef.renewable_kw).sum(axis=1)
    bad = least_kw > supply
    if bad.any():
        t = int(np.argmax(bad))
        return (f"hour {t} needs at least {least_kw[t]:.1f} kW of facility power; grid caps plus renewables "
                f"give {supply[t]:.1f} kW")
    least_water = cost.least_water_bound_l(coef)
    if least_water > coef.water_budget_l:
        return (f"the water budget Z = {coef.water_budget_l:.1f} L is below the least water any plan needs "
                f"({least_water:.1f} L)")
    return None


def package_result(coef: Coefficients, objectives: dict[str, np.ndarray], v: np.ndarray, objective_c: np.ndarray,
                   water_dual: float, status: str, **extra: Any) -> OracleResult:
    """An `OracleResult` from the column values ``v`` of the full-horizon LP (`build_lp`'s layout), its costs read
    from the objective vectors ``objectives`` (`OBJECTIVES` over the columns) and ``objective_c``."""
    n_x = coef.T * coef.N * coef.J
    energy, carbon, delay = (float(objectives[n] @ v) for n in OBJECTIVES)
    grid = v[n_x:].reshape(coef.T, coef.J)
    plan = np.clip(v[:n_x], 0.0, 1.0).reshape(coef.T, coef.I, coef.K, coef.J)
    water = float((cost.water_l_per_share(coef).reshape(-1) @ v[:n_x]))
    return OracleResult(
        plan=plan, grid_kw=grid, objective=float(objective_c @ v), total=energy + carbon + delay,
        energy=energy, carbon=carbon, delay=delay, emissions_kg=float((coef.theta * grid).sum()),
        water_l=water, water_dual=water_dual, status=status, **extra)


def infeasible_error(coef: Coefficients) -> InfeasibleScenarioError:
    """The error of an infeasible scenario: the cheap reason `diagnose` finds, or a generic one."""
    reason = diagnose(coef) or ("no allocation satisfies every constraint at once, although each constraint "
                                "family is satisfiable alone")
    return InfeasibleScenarioError(f"infeasible scenario: {reason}")
