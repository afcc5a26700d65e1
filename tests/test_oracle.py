"""The oracle LP: hand-solved optimum, the letter's tables, an independent formulation, bounds, errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from baselines import InfeasibleScenarioError, solve, solve_lexicographic
from baselines.oracle import LETTER_TABLE_I, LETTER_TABLE_II, OBJECTIVES, tables
from green_llm_env import cost, make_scenario

from .conftest import REFERENCE_JSON, tiny_scenario

WEIGHTS = [(1 / 3, 1 / 3, 1 / 3), (0.6, 0.2, 0.2), (0.1, 0.1, 0.8), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0)]


# ------------------------------------------------------------------------ hand-solved
def test_tiny_scenario_hand_solved(tiny):
    """DC0 is cheaper but holds only 1.5 areas of load. Area 0 sits at DC0 and half of area 1 joins it
    (saving 0.1 $/kW for 0.01 $ of extra delay). Hour 0: energy 1.5*0.1 + 0.5*0.2 = 0.25 $. Hour 1: DC1's
    0.5 kW is free renewable power, so energy is 1.5*0.1 = 0.15 $. Delay: 0.5 share * 1 s * 0.01 $/s per hour.
    """
    res = solve(tiny)
    assert res.energy == pytest.approx(0.40, abs=1e-9)
    assert res.delay == pytest.approx(0.01, abs=1e-9)
    assert res.carbon == pytest.approx(0.0, abs=1e-12)
    assert res.objective == pytest.approx(0.41 / 3, abs=1e-9)
    expected = np.array([[[1.0, 0.0]], [[0.5, 0.5]]])  # (I, K, J), both hours
    assert np.allclose(res.plan, expected[None], atol=1e-9)
    assert np.allclose(res.grid_kw, [[1.5, 0.5], [1.5, 0.0]], atol=1e-9)
    assert res.water_l == pytest.approx(4.0)  # 2 kWh per hour, WUE 1 L/kWh, PUE 1
    assert res.water_dual == 0.0
    # Energy only (M1): delay no longer matters beyond the tie-break, energy still 0.40.
    assert solve(tiny, (1.0, 0.0, 0.0)).energy == pytest.approx(0.40, abs=1e-9)


def test_tiny_water_budget_binds_with_its_dual():
    """With WUE 2 L/kWh at DC0 and 1 at DC1, water depends on the allocation: the free optimum uses
    2*1.5 + 0.5 = 3.5 L per hour."""
    s = tiny_scenario(WUE=np.array([[2.0, 1.0], [2.0, 1.0]]), Z=10.0)
    free = solve(s)
    assert free.water_l == pytest.approx(7.0)
    tight = solve(s.replace(Z=free.water_l - 0.2))
    assert free.water_dual == 0.0
    assert tight.water_l == pytest.approx(free.water_l - 0.2, abs=1e-7)
    assert tight.water_dual > 0
    # The dual is the objective's marginal value of a litre of budget.
    looser = solve(s.replace(Z=free.water_l - 0.19))
    assert (tight.objective - looser.objective) / 0.01 == pytest.approx(tight.water_dual, rel=1e-5)


# ------------------------------------------------------------------------------ tables
def test_letter_tables_reproduced(reference_scenario):
    rows = tables(reference_scenario)
    assert len(rows) == 12
    for row in rows:
        key = tuple(row["weights"]) if row["method"] == "weighted" else tuple(row["order"])
        letter = (LETTER_TABLE_II if row["method"] == "weighted" else LETTER_TABLE_I)[key]
        ours = (row["total"], row["energy"], row["carbon"], row["delay"])
        assert np.allclose(ours, letter, atol=0.01), (key, ours, letter)


def test_reference_facts(reference_scenario):
    res = solve(reference_scenario)
    assert res.emissions_kg == pytest.approx(337, abs=1)
    assert res.water_l / reference_scenario.Z == pytest.approx(0.83, abs=0.01)
    assert res.water_dual == 0.0


# ------------------------------------------------------------ independent formulation
def _independent_lp(s, weights):
    """MODEL.md section 4 written again with explicit loops and scipy's linprog (tests only)."""
    from scipy.optimize import linprog
    from scipy.sparse import lil_matrix

    T, I, K = s.lam.shape
    R, J = s.C.shape
    nx = T * I * K * J
    X = lambda t, i, k, j: ((t * I + i) * K + k) * J + j  # noqa: E731
    G = lambda t, j: nx + t * J + j  # noqa: E731
    w = [max(x, 1e-6) for x in weights]
    c = np.zeros(nx + T * J)
    L = s.h + s.f
    e = s.tau_in * s.h + s.tau_out * s.f
    A_ub, b_ub, A_eq, b_eq = [], [], [], []

    def row(entries):
        r = np.zeros(nx + T * J)
        for idx, val in entries:
            r[idx] += val
        return r

    for t in range(T):
        for j in range(J):
            c[G(t, j)] = w[0] * s.c[t, j] + w[1] * s.delta[j] * s.theta[t, j]
            pd = [(X(t, i, k, j), s.PUE[j] * e[k] * s.lam[t, i, k]) for i in range(I) for k in range(K)]
            A_ub.append(row(pd + [(G(t, j), -1.0)]))
            b_ub.append(s.P_w[t, j])
            A_ub.append(row([(q, -v) for q, v in pd] + [(G(t, j), 1.0)]))
            b_ub.append(0.0)
            for r in range(R):
                A_ub.append(row([(X(t, i, k, j), s.alpha[k, r] * L[k] * s.lam[t, i, k])
                                 for i in range(I) for k in range(K)]))
                b_ub.append(s.C[r, j])
        for i in range(I):
            for k in range(K):
                A_eq.append(row([(X(t, i, k, j), 1.0) for j in range(J)]))
                b_eq.append(1.0)
                dl = []
                for j in range(J):
                    delay = (s.beta[t, i, k] * s.lam[t, i, k] * L[k] / s.B[i, j] + s.d[i, j]
                             + s.v[j, k] * L[k] * s.lam[t, i, k])
                    dl.append((X(t, i, k, j), delay))
                    c[X(t, i, k, j)] = w[2] * s.rho[k] * delay
                A_ub.append(row(dl))
                b_ub.append(s.Delta[i, k])
    A_ub.append(row([(X(t, i, k, j), (s.WUE[t, j] / s.PUE[j] + s.EWIF[t, j]) * s.PUE[j] * e[k] * s.lam[t, i, k])
                     for t in range(T) for i in range(I) for k in range(K) for j in range(J)]))
    b_ub.append(s.Z)
    bounds = [(0, 1)] * nx + [(0, s.P_max[t, j]) for t in range(T) for j in range(J)]
    out = linprog(c, A_ub=lil_matrix(np.array(A_ub)).tocsr(), b_ub=b_ub, A_eq=np.array(A_eq), b_eq=b_eq,
                  bounds=bounds, method="highs")
    assert out.status == 0, out.message
    pg = out.x[nx:].reshape(T, J)
    x = out.x[:nx].reshape(T, I, K, J)
    energy = float((s.c * pg).sum())
    carbon = float((s.delta * s.theta * pg).sum())
    delay = sum(s.rho[k] * c[X(t, i, k, j)] / (w[2] * s.rho[k]) * x[t, i, k, j]
                for t in range(T) for i in range(I) for k in range(K) for j in range(J))
    return weights[0] * energy + weights[1] * carbon + weights[2] * delay


@pytest.mark.parametrize("seed, weights", [(1, WEIGHTS[0]), (2, WEIGHTS[1]), (3, WEIGHTS[2])])
def test_oracle_matches_independent_formulation(seed, weights):
    s = make_scenario(seed, I=3, J=3, K=2, T=4, R=2)
    assert solve(s, weights).objective == pytest.approx(_independent_lp(s, weights), rel=1e-6)


def test_cli_json_matches_independent_formulation(tmp_path):
    s = make_scenario(9, I=3, J=4, K=2, T=3, R=2)
    path = tmp_path / "s.json"
    s.to_json(path)
    run = subprocess.run([sys.executable, "-m", "baselines.oracle", "--scenario", str(path), "--json"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert {"objective", "total", "energy", "carbon", "delay", "emissions_kg", "water_l", "water_dual", "status",
            "build_s", "solve_s"} <= set(out)
    assert "plan" not in out and "grid_kw" not in out
    assert out["objective"] == pytest.approx(_independent_lp(s, cost.DEFAULT_WEIGHTS), rel=1e-6)


# ------------------------------------------------------------------- parity and bounds
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("weights", WEIGHTS)
def test_cost_model_on_plan_equals_lp_objective(seed, weights):
    s = make_scenario(seed)
    res = solve(s, weights)
    out = cost.evaluate(cost.coefficients(s), res.plan, weights)
    assert out["cost_weighted"].sum() == pytest.approx(res.objective, rel=1e-6)
    assert out["total_usd"].sum() == pytest.approx(res.total, rel=1e-6)
    assert out["water_l"].sum() == pytest.approx(res.water_l, rel=1e-6)
    assert np.abs(out["violations"]).max() < 1e-6
    assert out["water_l"].sum() <= s.Z * (1 + 1e-7)


def test_no_feasible_plan_beats_the_oracle():
    """Convex combinations of optimal plans for other weights are feasible (the feasible set is convex);
    none may cost less than the oracle under the weights being optimised."""
    rng = np.random.default_rng(0)
    s = make_scenario(21)
    coef = cost.coefficients(s)
    plans = [solve(coef, w).plan for w in WEIGHTS + [(0.0, 0.0, 1.0), (0.2, 0.5, 0.3)]]
    for weights in WEIGHTS[:3]:
        best = solve(coef, weights).objective
        for _ in range(30):
            mix = rng.dirichlet(np.ones(len(plans)) * 0.3)
            plan = np.tensordot(mix, np.array(plans), axes=1)
            out = cost.evaluate(coef, plan, weights)
            assert np.abs(out["violations"]).max() < 1e-6
            assert out["water_l"].sum() <= s.Z * (1 + 1e-7)
            assert out["cost_weighted"].sum() >= best * (1 - 1e-7)


def test_water_budget_binds_by_default():
    binding = [solve(make_scenario(seed)).water_dual > 1e-9 for seed in range(100, 110)]
    assert sum(binding) >= 8


@pytest.mark.parametrize("scenario", ["reference", "generated"])
def test_m0_m1_m2_ordering(scenario, reference_scenario):
    s = reference_scenario if scenario == "reference" else make_scenario(4)
    m0, m1, m2 = (solve(s, w) for w in ((1 / 3, 1 / 3, 1 / 3), (1, 0, 0), (0, 1, 0)))
    tol = 1e-6
    assert m2.carbon <= m0.carbon + tol <= m1.carbon + 2 * tol
    assert m1.energy <= m0.energy + tol
    assert m0.total <= min(m1.total, m2.total) + tol


@pytest.mark.parametrize("order", [("energy", "delay", "carbon"), ("carbon", "energy", "delay"),
                                   ("delay", "carbon", "energy")])
def test_lexicographic_phases_keep_their_bounds(order):
    s = make_scenario(6)
    eps = 1e-3
    res = solve_lexicographic(s, order, eps)
    assert [p["objective"] for p in res.phases] == list(order)
    values = {"energy": res.energy, "carbon": res.carbon, "delay": res.delay}
    for q, phase in enumerate(res.phases):
        alone = solve(s, OBJECTIVES[phase["objective"]], tie_break=0.0) if q == 0 else None
        if alone is not None:
            assert phase["optimum"] == pytest.approx(getattr(alone, phase["objective"]), rel=1e-7)
        assert values[phase["objective"]] <= phase["optimum"] * (1 + eps) + 1e-7
    assert values[order[-1]] == pytest.approx(res.phases[-1]["optimum"], rel=1e-7)
    assert res.objective == pytest.approx(values[order[-1]], rel=1e-9)
    assert res.status == "Optimal"  # the last phase's status (a bound row added after it used to read "Not Set")
    with pytest.raises(ValueError, match="order must list distinct objectives"):
        solve_lexicographic(s, ("energy", "energy"))


# -------------------------------------------------------------------------- infeasible
@pytest.mark.parametrize(
    "changes, match",
    [
        ({"d": np.array([[1.0, 2.0], [1.0, 0.0]]), "Delta": np.array([[0.5], [10.0]])},
         r"delay cap of \(area 0, type 0\) is unreachable at hour 0: the fastest DC gives 1.000 s > Delta = 0.500"),
        ({"C": np.array([[50.0, 50.0]])}, r"demand at hour 0 needs 200.0 units of resource 0, more than the total"),
        ({"P_max": np.full((2, 2), 0.5)}, r"hour 0 needs at least 2.0 kW of facility power"),
        ({"Z": 3.0}, r"water budget Z = 3.0 L is below the least water any plan needs \(4.0 L\)"),
    ],
)
def test_infeasible_scenarios_say_why(changes, match):
    with pytest.raises(InfeasibleScenarioError, match=match):
        solve(tiny_scenario(**changes))


def test_jointly_infeasible_scenario_has_a_clear_message():
    # Each family alone is satisfiable, but area 0's delay cap needs half its load (50 units) at DC0,
    # which holds 40.
    s = tiny_scenario(Delta=np.array([[0.5], [10.0]]), C=np.array([[40.0, 1000.0]]))
    with pytest.raises(InfeasibleScenarioError, match="no allocation satisfies every constraint at once"):
        solve(s)


def test_bad_weights():
    with pytest.raises(ValueError, match="weights must sum to 1"):
        solve(tiny_scenario(), (0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="weights must be finite and >= 0"):
        solve(tiny_scenario(), (1.5, -0.5, 0.0))


# ------------------------------------------------------------------------------- CLI
def _cli(*args):
    return subprocess.run([sys.executable, "-m", "baselines.oracle", *args], capture_output=True, text=True,
                          timeout=300)


def test_cli_tables_json(reference_scenario):
    run = _cli("tables", "--scenario", str(REFERENCE_JSON), "--json")
    assert run.returncode == 0, run.stderr
    rows = json.loads(run.stdout)
    assert [r["method"] for r in rows] == ["weighted"] * 6 + ["lexicographic"] * 6
    for r in rows:
        assert set(r) >= {"method", "total", "energy", "carbon", "delay"}
        assert ("weights" in r) != ("order" in r)
        for key in ("total", "energy", "carbon", "delay"):
            assert abs(r[key] - r["letter"][key]) <= 0.01


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "cannot read"),
        ("{oops", "not valid JSON"),
        ('{"arrays": {}}', "missing array 'lambda'"),
    ],
)
def test_cli_bad_file_one_line(tmp_path, content, message):
    path = tmp_path / "s.json"
    if content is not None:
        path.write_text(content)
    run = _cli("--scenario", str(path), "--json")
    assert run.returncode != 0
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], run.stderr


def test_cli_infeasible_one_line(tmp_path):
    path = tmp_path / "s.json"
    tiny_scenario(Z=3.0).to_json(path)
    run = _cli("--scenario", str(path))
    assert run.returncode != 0
    assert run.stderr.strip().splitlines() == [
        "python -m baselines.oracle: error: infeasible scenario: the water budget Z = 3.0 L is below the least water any plan needs (4.0 L)"]


def test_cli_weights_and_lexicographic(tmp_path):
    path = tmp_path / "s.json"
    tiny_scenario().to_json(path)
    run = _cli("--scenario", str(path), "--weights", "1,0,0", "--json")
    assert run.returncode == 0 and json.loads(run.stdout)["energy"] == pytest.approx(0.4)
    run = _cli("--scenario", str(path), "--lexicographic", "delay,energy,carbon", "--json")
    out = json.loads(run.stdout)
    assert out["order"] == ["delay", "energy", "carbon"] and out["delay"] <= 0.01
    run = _cli("--scenario", str(path), "--weights", "1,1,1")
    assert run.returncode != 0 and "--weights must sum to 1" in run.stderr
