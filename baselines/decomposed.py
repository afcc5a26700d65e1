"""The oracle by Lagrangian decomposition on the water row: T hourly LPs and a 1-D search on the water price.

The water budget ``Σ_t W_t(x_t) <= Z`` is the only row coupling hours. For a price λ ($/L) on water the
full-horizon LP splits into T independent hourly LPs (`green_llm_env.hourly.HourlyLP`, priced water), whose
optimal water ``W(λ)`` is a non-increasing step function and whose dual function
``g(λ) = Σ_t min_x [f_t(x) + λ W_t(x)] - λ Z`` is concave and piecewise linear. The search (Kelley's cutting
plane in one dimension, which is the secant step on the two Lagrangian lines):

1. λ = 0: if ``W(0) <= Z`` the budget does not bind (dual 0) and that plan is optimal.
2. The least-water plan of each hour gives the least total water; above Z the scenario is infeasible (the
   monolithic solve's error). Otherwise it is a plan with water <= Z.
3. Keep a plan ``lo`` with water > Z and a plan ``hi`` with water <= Z; their Lagrangian lines
   ``f + λ (W - Z)`` cross at λ_c. Solve the hours at λ_c (warm: each hour keeps its own HiGHS instance and
   basis). If ``g(λ_c)`` equals the lines' value (within ``GAP_TOL`` relative) λ_c is the optimal price and the
   convex mix of ``lo`` and ``hi`` with water exactly Z is optimal (its objective is that value, and
   ``g(λ_c)`` is a lower bound on every feasible plan); else the new plan replaces ``lo`` or ``hi``.

Hours are split into contiguous blocks solved in parallel (threads: HiGHS releases the GIL while it solves) or
on Ray actors (``engine="ray"``). The result is an `OracleResult` like the monolithic solve's, with
``method="decomposed"`` and ``water_dual`` = λ_c.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

import numpy as np

from green_llm_env import cost
from green_llm_env.constraints import objective_vector
from green_llm_env.cost import Coefficients
from green_llm_env.hourly import HourlyLP

from .result import OBJECTIVES, InfeasibleScenarioError, OracleResult, infeasible_error, package_result

__all__ = ["GAP_TOL", "HourBlock", "MAX_ROUNDS", "SAMPLE_HOURS", "default_workers", "solve_decomposed"]

GAP_TOL = 1e-11
"""Stop when the duality gap (the mixed plan's objective minus ``g(λ)``) is below this fraction of the
objective's magnitude."""

MAX_ROUNDS = 200
"""At most this many prices are tried after the first two passes (each a pass over all hours)."""


class HourBlock:
    """The hourly LPs of a block of hours, one HiGHS instance per hour (so a re-solve at a new price only changes
    costs and starts from that hour's last basis); keeps the plans of the last passes for `plan`.

    Args:
        coef: the scenario's `cost.Coefficients`.
        hours: the hours of this block.
        weights, tie_break, time_limit_s: as `HourlyLP`.
    """

    def __init__(self, coef: Coefficients, hours: Sequence[int], weights: Sequence[float],
                 tie_break: float = 1e-6, time_limit_s: float = 600.0) -> None:
        self.hours = [int(t) for t in hours]
        first = HourlyLP(coef, weights, tie_break, time_limit_s)
        self.lps = [first] + [first.sibling() for _ in self.hours[1:]]
        self._kept: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}

    def solve(self, key: int | None, price: float, objective: str = "cost", stride: int = 1,
              between: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray, str | None]:
        """Solve the hours at water price ``price`` ($/L) (``objective="water"``: least water): every
        ``stride``-th hour of the horizon (1: all); keep the plan under ``key`` (None: not kept). Returns
        (weighted cost $, water L) per hour solved, and an error text (None if every hour solved).

        ``between``: the keys of two kept passes at prices on either side of ``price``; an hour whose cost and
        water are equal in both keeps that plan (optimal at both prices, it is optimal between them: the hour's
        optimal value is concave in the price), without a solve."""
        picked = [q for q, t in enumerate(self.hours) if t % stride == 0]
        f = np.empty(len(picked))
        w = np.empty(len(picked))
        xs, gs = [], []
        prev = None
        ends = None if between is None else (self._kept[between[0]], self._kept[between[1]])
        for m, q in enumerate(picked):
            if ends is not None and _same(ends[0][2][q], ends[1][2][q]) and _same(ends[0][3][q], ends[1][3][q]):
                f[m], w[m] = ends[0][2][q], ends[0][3][q]
                xs.append(ends[0][0][q])
                gs.append(ends[0][1][q])
                continue
            lp = self.lps[q]
            if prev is not None:
                lp.start_from(prev)
            prev = lp
            try:
                s = lp.solve(self.hours[q], water_price=price, objective=objective)
            except RuntimeError as exc:
                return f, w, str(exc)
            f[m], w[m] = s.cost_weighted, s.water_l
            xs.append(s.x)
            gs.append(s.grid_kw)
        if key is not None:
            self._kept[key] = (np.stack(xs), np.stack(gs), f, w)
        return f, w, None

    def plan(self, key: int) -> tuple[np.ndarray, np.ndarray]:
        """The shares (H, N, J) and grid power (H, J) kW of the pass kept under ``key``."""
        return self._kept[key][:2]

    def keep(self, keys: Sequence[int]) -> None:
        """Forget the plans of every pass but ``keys``."""
        self._kept = {k: v for k, v in self._kept.items() if k in keys}


SAMPLE_GAP_TOL = 1e-5
"""The starting price's search stops at this relative gap (it is only a start)."""

KELLEY_WIDTH = 1e-3
"""Secant steps on the water while the price bracket is wider than this fraction of its top; Kelley's steps
(exact at the last breakpoint) inside it."""

SAMPLE_HOURS = 24
"""Horizons of at least twice this many hours first find a starting price on every ``T // SAMPLE_HOURS``-th hour
(their far-off prices are the expensive re-solves), then refine it on all hours."""


def _search(run: Callable[..., tuple[Any, float, float, float]], Z: float, lo: tuple[Any, float, float, float],
            hi: tuple[Any, float, float, float], keep: Callable[[list], None] | None = None,
            tol: float = GAP_TOL) -> tuple[tuple, tuple, float]:
    """The price search from ``lo`` (water > Z) and ``hi`` (water <= Z), each (key, weighted cost $, water L,
    price $/L; price inf for the least-water plan); ``run(price)`` solves every hour at a price.

    Steps alternate between the secant on the water (where the line through lo's and hi's water meets Z)
    and Kelley's cutting plane (where the Lagrangian lines ``f + λ (W - Z)`` of lo and hi cross; once one
    breakpoint of the water is left between them, that is the optimal price). It stops when the mix of lo and
    hi with water Z costs at most ``tol`` (relative) above the best lower bound ``g(λ)`` seen, and returns
    lo, hi and that bound's price. ``run(price, between)`` gets the keys of lo and hi (both solved at finite prices)
    or None."""
    best_g, best_lam = -np.inf, 0.0
    for q, (_, f, wl, lam) in enumerate((lo, hi)):
        if np.isfinite(lam) and f + lam * (wl - Z) > best_g:
            best_g, best_lam = f + lam * (wl - Z), lam
    side, weight = 0, [1.0, 1.0]  # Illinois: halve the weight of an end kept twice in a row
    for _ in range(MAX_ROUNDS):
        (_, flo, wlo, llo), (_, fhi, whi, lhi) = lo, hi
        if wlo <= whi:
            return lo, hi, best_lam
        theta = (wlo - Z) / (wlo - whi)
        f_mix = (1.0 - theta) * flo + theta * fhi
        if f_mix - best_g <= tol * max(abs(f_mix), 1.0):
            return lo, hi, best_lam
        lam = (fhi - flo) / (wlo - whi)  # Kelley: where lo's and hi's Lagrangian lines cross
        if np.isfinite(lhi) and lhi - llo > KELLEY_WIDTH * lhi:  # secant on the water, weighted
            a, b = weight[0] * (wlo - Z), weight[1] * (Z - whi)
            secant = llo + a / (a + b) * (lhi - llo)
            if llo < secant < lhi:
                lam = secant
        new = run(lam, (lo[0], hi[0]) if np.isfinite(lhi) and lo[0] is not None else None)
        g = new[1] + lam * (new[2] - Z)
        if g > best_g:
            best_g, best_lam = g, lam
        now = 1 if new[2] > Z else 2
        weight = [1.0, 1.0] if now != side else ([1.0, 0.5 * weight[1]] if now == 1 else [0.5 * weight[0], 1.0])
        side = now
        if now == 1:
            lo = new
        else:
            hi = new
        if keep is not None:
            keep([lo[0], hi[0]])
    raise InfeasibleScenarioError(f"the decomposed oracle did not converge in {MAX_ROUNDS} prices (MAX_ROUNDS); "
                                  f"solve with method='monolithic'")


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-12 * max(abs(a), abs(b), 1e-300)


def _blocks(T: int, n: int) -> list[list[int]]:
    """Split hours 0..T-1 into ``n`` contiguous blocks of nearly equal size."""
    n = max(1, min(int(n), T))
    edges = np.linspace(0, T, n + 1).round().astype(int)
    return [list(range(edges[q], edges[q + 1])) for q in range(n)]


class _LocalEngine:
    """Hour blocks in this process, solved side by side on threads."""

    def __init__(self, coef: Coefficients, blocks: list[list[int]], weights, tie_break, time_limit_s) -> None:
        self.blocks = [HourBlock(coef, b, weights, tie_break, time_limit_s) for b in blocks]
        self.pool = ThreadPoolExecutor(len(self.blocks)) if len(self.blocks) > 1 else None

    def map(self, method: str, *args: Any) -> list[Any]:
        if self.pool is None:
            return [getattr(self.blocks[0], method)(*args)]
        return list(self.pool.map(lambda b: getattr(b, method)(*args), self.blocks))

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


class _RayEngine:
    """Hour blocks on Ray actors (Ray started by `baselines.backends.init_ray` unless already running)."""

    def __init__(self, coef: Coefficients, blocks: list[list[int]], weights, tie_break, time_limit_s) -> None:
        from .backends import init_ray

        self.ray = ray = init_ray()
        actor = ray.remote(num_cpus=1)(HourBlock)
        ref = ray.put(coef)
        self.blocks = [actor.remote(ref, b, weights, tie_break, time_limit_s) for b in blocks]

    def map(self, method: str, *args: Any) -> list[Any]:
        return self.ray.get([getattr(b, method).remote(*args) for b in self.blocks])

    def close(self) -> None:
        for b in self.blocks:
            self.ray.kill(b)


def default_workers() -> int:
    """Worker threads of a local decomposed solve: the cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover (not Linux)
        return os.cpu_count() or 1


def solve_decomposed(coef: Coefficients, weights: Sequence[float] = cost.DEFAULT_WEIGHTS, tie_break: float = 1e-6,
                     time_limit: float = 600.0, workers: int | None = None, engine: str = "local") -> OracleResult:
    """The full-horizon optimum by decomposition on the water price (module docstring).

    Args:
        coef: the scenario's coefficients.
        weights: (σe, σc, σd); a zero weight is raised to ``tie_break`` inside the LPs, as in `solve`.
        time_limit: HiGHS time limit of each hourly solve (s).
        workers: hour blocks solved in parallel (default: the usable cores, at most T; with Ray, the cluster's
            CPUs).
        engine: ``"local"`` (threads) or ``"ray"`` (one Ray actor per block).

    Raises `InfeasibleScenarioError` (the monolithic solve's message) if no plan meets every row.
    """
    w = cost.check_weights(weights)
    if engine not in ("local", "ray"):
        raise ValueError(f"engine must be 'local' or 'ray'; got {engine!r}")
    if workers is not None and (isinstance(workers, bool) or int(workers) != workers or workers < 1):
        raise ValueError(f"workers must be an integer >= 1 or None; got {workers!r}")
    t0 = time.perf_counter()
    objectives = {name: objective_vector(coef, ow) for name, ow in OBJECTIVES.items()}
    if workers is None:
        if engine == "ray":
            from .backends import ray_cpus

            workers = ray_cpus()
        else:
            workers = default_workers()
    make = _RayEngine if engine == "ray" else _LocalEngine
    eng = make(coef, _blocks(coef.T, workers), w, tie_break, time_limit)
    build_s = time.perf_counter() - t0
    Z = float(coef.water_budget_l)
    tol = 1e-10 * max(float(cost.water_l_per_share(coef).max()), 1.0)  # the water row's feasibility slack, L
    passes: list[dict[str, float]] = []
    keys = iter(range(1, 1 << 62))

    def run(key: int | None, price: float, objective: str = "cost", stride: int = 1,
            between: tuple[int, int] | None = None) -> tuple[float, float]:
        price = 0.0 if objective == "water" else price
        out = eng.map("solve", key, price, objective, stride, between)
        if any(err is not None for _, _, err in out):
            raise infeasible_error(coef)
        f, wl = float(sum(o[0].sum() for o in out)), float(sum(o[1].sum() for o in out))
        passes.append({"water_price": price, "stride": stride, "water_l": wl})
        return f, wl

    def full(price: float, between: tuple[int, int] | None = None, objective: str = "cost"
             ) -> tuple[int, float, float, float]:
        key = next(keys)
        return (key, *run(key, price, objective, 1, between), price)

    def assemble(mix: dict[int, float]) -> np.ndarray:
        xs, gs = [], []
        for parts in zip(*(eng.map("plan", key) for key in mix)):  # per block: the kept plans
            xs.append(sum(a * p[0] for a, p in zip(mix.values(), parts)))
            gs.append(sum(a * p[1] for a, p in zip(mix.values(), parts)))
        return np.concatenate([np.concatenate(xs).reshape(-1), np.concatenate(gs).reshape(-1)])

    t1 = time.perf_counter()
    try:
        lo = full(0.0)
        if lo[2] <= Z:
            v, dual = assemble({lo[0]: 1.0}), 0.0
        else:
            hi = None
            stride = coef.T // SAMPLE_HOURS
            if stride > 1:  # a starting price from every stride-th hour, with the budget scaled alike
                sub = lambda price, between=None, objective="cost": (None, *run(None, price, objective, stride), price)  # noqa
                s_lo = sub(0.0)
                s_hi = sub(np.inf, None, "water")
                z_sub = Z * s_lo[2] / lo[2]
                if s_hi[2] <= z_sub:
                    price = _search(sub, z_sub, s_lo, s_hi, tol=SAMPLE_GAP_TOL)[2]
                    for factor in (1.0, 1.25, 2.0):  # a plan within the budget near that price
                        cand = full(price * factor)
                        if cand[2] <= Z:
                            hi = cand
                            break
                        lo = cand
                        eng.map("keep", [lo[0]])
            if hi is None:
                hi = full(np.inf, None, "water")
                if hi[2] > Z + tol:
                    raise infeasible_error(coef)
            lo, hi, dual = _search(full, Z, lo, hi, lambda keys: eng.map("keep", keys))
            (klo, _, wlo, _), (khi, _, whi, _) = lo, hi
            theta = min(max((wlo - Z) / (wlo - whi), 0.0), 1.0) if wlo > whi else 1.0
            v = assemble({klo: 1.0 - theta, khi: theta})
    finally:
        eng.close()
    solve_s = time.perf_counter() - t1
    return package_result(coef, objectives, v, sum(float(x) * objectives[n] for x, n in zip(w, OBJECTIVES)),
                          float(dual), "Optimal", build_s=build_s, solve_s=solve_s, pass_s=0.0, method="decomposed",
                          weights=tuple(float(x) for x in w), phases=passes)
