"""The oracle: the full-horizon HiGHS LP with perfect foresight (weighted, M1/M2, lexicographic).

Python::

    from baselines import solve, solve_lexicographic
    res = solve(scenario, weights=(1/3, 1/3, 1/3))
    res.plan        # (T, I, K, J) shares
    res.objective   # weighted objective, $
    solve(scenario, method="decomposed")   # the same optimum by T hourly LPs and a water price (large instances)

Command line::

    python -m baselines.oracle --scenario s.json [--weights e,c,d | --lexicographic energy,delay,carbon] [--json]
        [--method monolithic|decomposed|auto]
    python -m baselines.oracle tables [--scenario FILE] [--json]   # default: the letter's scenario via $GREEN_LLM_DATA
"""

from __future__ import annotations

import json
import math
import sys
import time
from typing import Any, Sequence

import highspy
import numpy as np

from green_llm_env import cost
from green_llm_env.cli import CliError, OneLineParser, run_cli
from green_llm_env.cost import Coefficients
from green_llm_env.highs import PRIMAL_FEASIBILITY_TOL, silent_highs
from green_llm_env.scenario import ARRAY_FIELDS, Scenario, ScenarioFileError, extreme_field

from .lp import LinearProgram, build_lp, objective_vector, pass_lp
from .result import (OBJECTIVES, InfeasibleScenarioError, OracleResult, diagnose, infeasible_error,  # noqa: F401
                     package_result)

__all__ = ["AUTO_DECOMPOSED_COLUMNS", "METHODS", "OBJECTIVES", "InfeasibleScenarioError", "OracleResult", "LPSolver",
           "TIME_LIMIT_S", "diagnose", "infeasible_error", "package_result", "solve", "solve_lexicographic",
           "TABLE_I_ORDERS", "TABLE_II_WEIGHTS"]

TABLE_II_WEIGHTS = ((1 / 3, 1 / 3, 1 / 3), (0.6, 0.2, 0.2), (0.2, 0.6, 0.2), (0.2, 0.2, 0.6), (0.45, 0.45, 0.1),
                    (0.45, 0.1, 0.45))
TABLE_I_ORDERS = (("energy", "delay", "carbon"), ("energy", "carbon", "delay"), ("delay", "energy", "carbon"),
                  ("delay", "carbon", "energy"), ("carbon", "energy", "delay"), ("carbon", "delay", "energy"))

TIME_LIMIT_S = 600.0
"""Default HiGHS time limit (s) of one LP solve; the default scenario solves in about 0.05 s."""

_STATUS_OK = highspy.HighsModelStatus.kOptimal


# ---------------------------------------------------------------------------- solver
class LPSolver:
    """One HiGHS instance holding the LP of a scenario; re-solves warm after cost or bound changes."""

    def __init__(self, scenario_or_coef: Scenario | Coefficients, weights: Sequence[float] | None = None,
                 threads: int | None = None, time_limit: float = TIME_LIMIT_S) -> None:
        if not (isinstance(time_limit, (int, float)) and time_limit > 0):
            raise ValueError(f"time_limit must be a number of seconds > 0; got {time_limit!r}")
        t0 = time.perf_counter()
        coef = scenario_or_coef if isinstance(scenario_or_coef, Coefficients) else cost.coefficients(
            scenario_or_coef)
        self.coef = coef
        self.scenario = scenario_or_coef if isinstance(scenario_or_coef, Scenario) else None
        self.time_limit = float(time_limit)
        self.lp: LinearProgram = build_lp(coef)
        self.objectives = {name: objective_vector(coef, w) for name, w in OBJECTIVES.items()}
        col_cost = self.cost_vector(weights) if weights is not None else np.zeros(self.lp.num_col)
        t1 = time.perf_counter()
        lp = self.lp
        h = silent_highs()
        if threads:
            h.setOptionValue("threads", int(threads))
        h.setOptionValue("time_limit", self.time_limit)
        h.setOptionValue("primal_feasibility_tolerance", PRIMAL_FEASIBILITY_TOL)
        try:
            pass_lp(h, lp, col_cost)
        except RuntimeError as exc:
            raise InfeasibleScenarioError(self._refused(str(exc))) from None
        self.highs = h
        self.build_s = t1 - t0  # numpy: coefficients, sparse arrays, objective vectors
        self.pass_s = time.perf_counter() - t1  # HiGHS: instance and passModel
        self.solve_s = 0.0
        self._all_cols = np.arange(lp.num_col, dtype=np.int32)

    def _refused(self, why: str) -> str:
        """The message for an LP that HiGHS refuses: numbers too far apart for the solver's tolerances."""
        lp = self.lp
        text = (f"HiGHS refused the LP of this scenario ({why.split(';')[0]}): its numbers span too many orders "
                f"of magnitude (scaled matrix entries {np.abs(lp.a_value[lp.a_value != 0]).min():.3g} .. "
                f"{np.abs(lp.a_value).max():.3g}; HiGHS drops entries below 1e-9 and costs above 1e20)")
        if self.scenario is not None:
            name, value = extreme_field(self.scenario, tuple(ARRAY_FIELDS))
            text += f"; the most extreme field is Scenario.{name} (an entry {name} = {value:g})"
        return text

    def cost_vector(self, weights: Sequence[float]) -> np.ndarray:
        """The weighted objective over the LP's columns."""
        return sum(float(w) * self.objectives[name] for w, name in zip(weights, OBJECTIVES))

    def set_cost(self, weights: Sequence[float]) -> np.ndarray:
        """Set the solver's objective to the weighted costs; returns the cost vector."""
        c = self.cost_vector(weights)
        self.highs.changeColsCost(self.lp.num_col, self._all_cols, c)
        return c

    def add_bound_row(self, c: np.ndarray, upper: float) -> None:
        """Add ``c·v <= upper`` (scaled by the largest |c|)."""
        nz = np.nonzero(c)[0].astype(np.int32)
        s = 1.0 / max(np.abs(c).max(), 1e-300)
        self.highs.addRow(-np.inf, upper * s, nz.size, nz, c[nz] * s)

    def run(self) -> np.ndarray:
        """Solve; return the column values or raise `InfeasibleScenarioError`."""
        t0 = time.perf_counter()
        self.highs.run()
        self.solve_s += time.perf_counter() - t0
        status = self.highs.getModelStatus()
        if status != _STATUS_OK:
            text = self.highs.modelStatusToString(status)
            if status in (highspy.HighsModelStatus.kInfeasible, highspy.HighsModelStatus.kUnboundedOrInfeasible):
                raise infeasible_error(self.coef)
            if status == highspy.HighsModelStatus.kTimeLimit:
                raise InfeasibleScenarioError(f"the LP solver reached its time limit of {self.time_limit:g} s "
                                              f"(time_limit) without an optimum")
            if status == highspy.HighsModelStatus.kUnbounded:
                raise InfeasibleScenarioError("unbounded scenario: the weighted grid price is negative with no "
                                              "grid cap")
            raise InfeasibleScenarioError(f"the LP solver stopped without an optimum ({text})")
        return np.asarray(self.highs.getSolution().col_value)

    def solve_elastic(self, weights: np.ndarray, water_price: float) -> OracleResult:
        """Solve with the water row made elastic: one more column, litres beyond the budget at ``water_price``
        $/L (GreenLLM-v2's objective)."""
        lp = self.lp
        row = lp.families["water_budget"].start
        price = float(water_price)
        self.highs.addCol(price, 0.0, np.inf, 1, np.array([row], np.int32), np.array([-lp.row_scale[row]]))
        v_all = self.run()
        v, over = v_all[:lp.num_col], float(max(v_all[lp.num_col], 0.0))
        res = self.result(v, self.cost_vector(weights), method="weighted", weights=tuple(float(x) for x in weights))
        res.objective += price * over
        res.water_price, res.water_overrun_l = price, over
        return res

    def result(self, v: np.ndarray, objective_c: np.ndarray, **extra: Any) -> OracleResult:
        """Package column values ``v`` as an `OracleResult` (costs read from the objective vectors)."""
        lp = self.lp
        row = lp.families["water_budget"].start
        dual = np.asarray(self.highs.getSolution().row_dual)[row] * lp.row_scale[row]
        return package_result(self.coef, self.objectives, v, objective_c, max(0.0, -float(dual)),
                              self.highs.modelStatusToString(self.highs.getModelStatus()), build_s=self.build_s,
                              solve_s=self.solve_s, pass_s=self.pass_s, **extra)


def _scenario_coef(scenario: Scenario | Coefficients) -> Coefficients:
    return scenario if isinstance(scenario, Coefficients) else cost.coefficients(scenario)


METHODS = ("monolithic", "decomposed", "auto")
"""How `solve` solves: the full-horizon LP at once, by decomposition on the water price (`baselines.decomposed`),
or ``auto`` (decomposed from ``AUTO_DECOMPOSED_COLUMNS`` columns on)."""

AUTO_DECOMPOSED_COLUMNS = 200_000
"""``method="auto"`` decomposes LPs with at least this many columns (T·(N·J + J)); below, the monolithic LP is
as fast or faster (0.12 s against 0.25 s at the letter's 9,936 columns, even at 30x30x5x24's 108,720; the
decomposition wins 1.5x at 30x30x5x48, 3.3x at 30x30x5x168 on 2 loaded cores)."""


def solve(scenario: Scenario | Coefficients, weights: Sequence[float] = cost.DEFAULT_WEIGHTS,
          tie_break: float = 1e-6, time_limit: float = TIME_LIMIT_S, method: str = "monolithic",
          workers: int | None = None, engine: str = "local", water_price: float | None = None) -> OracleResult:
    """Minimise σe·C1 + σc·C2 + σd·C3 over the whole horizon.

    ``water_price`` ($/L, GreenLLM-v2's ``info["water_price"]``): the water budget is elastic, each litre beyond
    it costs that much (the objective GreenLLM-v2 scores; where the price is at least the budget's dual the
    plan and objective are those of the hard budget). Monolithic only.

    A zero weight is raised to ``tie_break`` inside the solver (MODEL.md section 5: M1 and M2 leave delay
    degenerate); the reported ``objective`` uses the weights as given. HiGHS stops after ``time_limit``
    seconds (`InfeasibleScenarioError` then says so). ``method`` is one of `METHODS`; ``workers`` and
    ``engine`` (``"local"`` threads or ``"ray"``) apply to the decomposed solve (`baselines.decomposed`).
    """
    w = cost.check_weights(weights)
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    t0 = time.perf_counter()
    coef = _scenario_coef(scenario)
    coef_s = time.perf_counter() - t0
    if water_price is not None:
        if isinstance(water_price, bool) or not np.isfinite(float(water_price)) or float(water_price) < 0:
            raise ValueError(f"water_price must be a finite number of $/L >= 0 or None; got {water_price!r}")
        if method == "decomposed":
            raise ValueError("water_price needs method='monolithic' (or 'auto'); got method='decomposed'")
        method = "monolithic"
    if method == "auto":
        method = "decomposed" if coef.T * (coef.N + 1) * coef.J >= AUTO_DECOMPOSED_COLUMNS else "monolithic"
    if method == "decomposed":
        from .decomposed import solve_decomposed

        res = solve_decomposed(coef, w, tie_break, time_limit, workers=workers, engine=engine)
        res.build_s += coef_s
        return res
    solver = LPSolver(scenario if isinstance(scenario, Scenario) else coef, weights=np.where(w == 0, tie_break, w),
                      time_limit=time_limit)
    solver.build_s += coef_s
    if water_price is not None:
        return solver.solve_elastic(w, water_price)
    v = solver.run()
    return solver.result(v, solver.cost_vector(w), method="weighted", weights=tuple(float(x) for x in w))


def solve_lexicographic(scenario: Scenario | Coefficients, order: Sequence[str] = ("energy", "delay", "carbon"),
                        eps: float = 1e-3, time_limit: float = TIME_LIMIT_S) -> OracleResult:
    """Algorithm 1: phase l minimises ``order[l]`` with every earlier objective kept within (1 + eps) of its
    optimum. Phases re-solve the same HiGHS instance, warm (each within ``time_limit`` s). Returns the final
    phase's plan."""
    order = tuple(order)
    if not order or len(set(order)) != len(order) or not set(order) <= set(OBJECTIVES):
        raise ValueError(f"order must list distinct objectives from {list(OBJECTIVES)}; got {list(order)}")
    if not (np.isfinite(eps) and eps >= 0):
        raise ValueError(f"eps must be finite and >= 0; got {eps}")
    solver = LPSolver(scenario, time_limit=time_limit)
    phases = []
    v = None
    for q, name in enumerate(order):
        c = solver.set_cost(OBJECTIVES[name])
        v = solver.run()
        opt = float(c @ v)
        bound = opt + eps * abs(opt)
        phases.append({"objective": name, "optimum": opt, "bound": bound})
        if q + 1 < len(order):  # (after the last phase a new row would reset HiGHS's status and solution)
            solver.add_bound_row(c, bound)
    return solver.result(v, solver.objectives[order[-1]], method="lexicographic", order=order, phases=phases)


# ------------------------------------------------------------------------------- CLI
LETTER_TABLE_II = {  # (σe, σc, σd) -> (total, energy, carbon, delay), MODEL.md section 7
    (1 / 3, 1 / 3, 1 / 3): (392.08, 197.63, 5.46, 189.00),
    (0.6, 0.2, 0.2): (394.02, 194.32, 8.01, 191.69),
    (0.2, 0.6, 0.2): (393.89, 202.86, 2.96, 188.08),
    (0.2, 0.2, 0.6): (393.41, 201.64, 4.55, 187.23),
    (0.45, 0.45, 0.1): (393.42, 195.33, 6.29, 191.80),
    (0.45, 0.1, 0.45): (393.13, 195.64, 7.64, 189.85),
}
LETTER_TABLE_I = {
    ("energy", "delay", "carbon"): (394.46, 194.13, 8.14, 192.19),
    ("energy", "carbon", "delay"): (395.66, 194.13, 7.85, 193.68),
    ("delay", "energy", "carbon"): (628.24, 425.72, 22.51, 180.00),
    ("delay", "carbon", "energy"): (642.20, 443.58, 18.62, 180.00),
    ("carbon", "energy", "delay"): (404.72, 207.13, 2.09, 195.49),
    ("carbon", "delay", "energy"): (404.89, 207.11, 2.09, 195.69),
}


def tables(scenario: Scenario) -> list[dict[str, Any]]:
    """Table II (six weight vectors) then Table I (six orders), each row with the letter's values."""
    coef = cost.coefficients(scenario)
    rows = []
    for w in TABLE_II_WEIGHTS:
        r = solve(coef, w)
        rows.append({"method": "weighted", "weights": list(w), "total": r.total, "energy": r.energy,
                     "carbon": r.carbon, "delay": r.delay,
                     "letter": dict(zip(("total", "energy", "carbon", "delay"), LETTER_TABLE_II[w]))})
    for order in TABLE_I_ORDERS:
        r = solve_lexicographic(coef, order)
        rows.append({"method": "lexicographic", "order": list(order), "total": r.total, "energy": r.energy,
                     "carbon": r.carbon, "delay": r.delay,
                     "letter": dict(zip(("total", "energy", "carbon", "delay"), LETTER_TABLE_I[order]))})
    return rows


def format_tables(rows: list[dict[str, Any]]) -> str:
    """Plain-text tables: ours beside the letter's, with the largest absolute difference per row."""
    lines = []
    for method, title in (("weighted", "Table II: weighted method, $/day"),
                          ("lexicographic", "Table I: lexicographic method, $/day")):
        lines += ["", title, f"{'plan':<22}" + "".join(f"{n:>18}" for n in ("total", "energy", "carbon", "delay"))
                  + f"{'max |diff|':>12}"]
        for row in (r for r in rows if r["method"] == method):
            label = ("(" + ", ".join(f"{x:.2f}" for x in row["weights"]) + ")" if method == "weighted"
                     else " > ".join(o[0].upper() for o in row["order"]))
            cells = "".join(f"{row[n]:>9.2f} ({row['letter'][n]:>6.2f})" for n in ("total", "energy", "carbon", "delay"))
            diff = max(abs(row[n] - row["letter"][n]) for n in ("total", "energy", "carbon", "delay"))
            lines.append(f"{label:<22}{cells}{diff:>12.3f}")
    lines.append("\nours (letter's value in brackets)")
    return "\n".join(lines)


def _parse_weights(text: str) -> tuple[float, float, float]:
    try:
        parts = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise ValueError(f"--weights must be three numbers e,c,d; got {text!r}") from None
    cost.check_weights(parts, "--weights")
    return parts  # type: ignore[return-value]


def _reference_scenario_path() -> str:
    """The letter's scenario file (`green_llm_env.assets.data_file`); one CLI line when it cannot be found."""
    from green_llm_env.assets import reference_scenario_path

    try:
        return str(reference_scenario_path())
    except FileNotFoundError as exc:
        raise CliError(str(exc)) from None


def _body(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    is_tables = bool(argv) and argv[0] == "tables"
    parser = OneLineParser(
        prog="python -m baselines.oracle" + (" tables" if is_tables else ""),
        description=("Reproduce the letter's Tables I and II." if is_tables else
                     "Solve the full-horizon LP of a scenario (perfect foresight)."))
    parser.add_argument("--scenario", required=not is_tables,
                        help="scenario JSON file" + (" (default: the letter's paper_reference_scenario.json, "
                                                     "see green_llm_env.assets.data_file)" if is_tables else ""))
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    if not is_tables:
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--weights", help="σe,σc,σd (default 1/3 each)")
        group.add_argument("--lexicographic", help="priority order, e.g. energy,delay,carbon")
        parser.add_argument("--eps", type=float, default=1e-3, help="lexicographic tolerance (default 1e-3)")
        parser.add_argument("--method", choices=METHODS, default=None,
                            help="weighted solve: the full LP at once, by decomposition on the water price, or "
                                 "auto (default monolithic; --lexicographic solves the monolithic LP)")
    args = parser.parse_args(argv[1:] if is_tables else argv)
    try:
        scenario = Scenario.from_json(args.scenario if args.scenario else _reference_scenario_path())
        if is_tables:
            rows = tables(scenario)
            print(json.dumps(rows, indent=1) if args.json else format_tables(rows))
            return 0
        if args.lexicographic is not None:
            if args.method not in (None, "monolithic"):
                raise CliError(f"--method {args.method} applies to weighted solves; --lexicographic re-solves the "
                               f"monolithic LP phase by phase (drop --method)")
            order = tuple(s.strip() for s in args.lexicographic.split(","))
            if not order or set(order) - set(OBJECTIVES) or len(set(order)) != len(order):
                raise CliError(f"--lexicographic must list distinct objectives from {', '.join(OBJECTIVES)}; "
                               f"got {args.lexicographic!r}")
            if not (math.isfinite(args.eps) and args.eps >= 0):
                raise CliError(f"--eps must be finite and >= 0; got {args.eps}")
            res = solve_lexicographic(scenario, order, args.eps)
        else:
            res = solve(scenario, cost.DEFAULT_WEIGHTS if args.weights is None else _parse_weights(args.weights),
                        method=args.method or "monolithic")
    except (ScenarioFileError, InfeasibleScenarioError) as exc:
        raise CliError(str(exc)) from None
    except CliError:
        raise
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print(json.dumps(res.to_dict()))
    else:
        print(f"{res.method} optimum ({res.status}): objective {res.objective:.4f} $; total {res.total:.2f} $ = "
              f"energy {res.energy:.2f} + carbon {res.carbon:.2f} + delay {res.delay:.2f}; "
              f"emissions {res.emissions_kg:.1f} kg; water {res.water_l:.1f} L (dual {res.water_dual:.4g} $/L); "
              f"build {res.build_s * 1e3:.1f} ms, solve {res.solve_s * 1e3:.1f} ms")
    return 0


def main(argv: list[str] | None = None) -> int:
    """The command line (module docstring); a bad value is one line on stderr and exit status 2."""
    return run_cli("python -m baselines.oracle", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
