"""Hardening: no action scores below the oracle, the round-off forgiveness cannot be farmed, and every
Scenario that reaches the env or the solver is valid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from baselines import solve
from baselines.oracle import LPSolver
from green_llm_env import Scenario, make_scenario
from green_llm_env.env import FEASIBILITY_TOL, GreenLLMEnv
from green_llm_env.vector import GreenLLMVectorEnv

SEED = 3
SHAPE = (9 * 5, 9)


def _actions(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """(T, N, J) action sequences of every kind the exploit search tries."""
    T = 24
    one_hot = np.zeros((T,) + SHAPE)
    one_hot[..., 4] = 1.0
    return {
        "random": rng.uniform(-1, 1, (T,) + SHAPE),
        "huge": rng.normal(size=(T,) + SHAPE) * 1e16,
        "huge_positive": rng.uniform(1e16, 1e300, (T,) + SHAPE),
        "huge_negative": -rng.uniform(1e16, 1e300, (T,) + SHAPE),
        "tiny": rng.uniform(-1, 1, (T,) + SHAPE) * 1e-300,
        "denormal": np.full((T,) + SHAPE, 5e-324),
        "all_equal": np.full((T,) + SHAPE, 0.37),
        "all_equal_huge": np.full((T,) + SHAPE, 1e20),
        "one_hot": one_hot,
        "one_hot_huge": one_hot * 1e18,
        "float32_max": np.full((T,) + SHAPE, np.finfo(np.float32).max, np.float32),
    }


@pytest.fixture(scope="module")
def oracle():
    scen = make_scenario(SEED)
    return scen, solve(scen).objective


@pytest.mark.parametrize("action_mode", ["project", "softmax"])
@pytest.mark.parametrize("constraint_mode", ["penalty", "project"])
def test_no_action_scores_below_the_oracle(oracle, action_mode, constraint_mode):
    scen, objective = oracle
    kinds = _actions(np.random.default_rng(0))
    env = GreenLLMEnv(scenario=scen, action_mode=action_mode, constraint_mode=constraint_mode)
    vec = GreenLLMVectorEnv(num_envs=len(kinds), scenario=scen, action_mode=action_mode,
                            constraint_mode=constraint_mode, threads=1)
    vec.reset(seed=0)
    batched = np.zeros(len(kinds))
    for q, (kind, a) in enumerate(kinds.items()):
        env.reset(seed=0)
        score = 0.0
        for t in range(scen.T):
            _, _, _, _, info = env.step(a[t].reshape(-1))
            score += info["cost_weighted"] + info["penalty"]
            assert np.allclose(env.allocation.sum(-1), 1.0), kind  # everything is served
        assert score >= objective * (1 - 1e-9), (kind, score, objective)
    stacked = np.stack([a.reshape(scen.T, -1) for a in kinds.values()], axis=1)  # (T, E, A)
    for t in range(scen.T):
        _, _, _, _, infos = vec.step(stacked[t])
        batched += infos["cost_weighted"] + infos["penalty"]
    assert np.all(batched >= objective * (1 - 1e-9)), dict(zip(kinds, batched))


def test_in_box_actions_are_not_clipped_and_simplex_points_replay_exactly(oracle):
    scen, _ = oracle
    res = solve(scen)
    env = GreenLLMEnv(scenario=scen)
    env.reset(seed=0)
    x, raw = env.action_to_allocation(res.plan[0].reshape(-1))
    np.testing.assert_array_equal(raw, res.plan[0].reshape(SHAPE))
    a = np.random.default_rng(1).uniform(-1, 1, 405).astype(np.float32)
    np.testing.assert_array_equal(env.action_to_allocation(a)[1], a.reshape(SHAPE))
    big = a * 1e16
    np.testing.assert_array_equal(env.action_to_allocation(big)[0], env.action_to_allocation(np.sign(big))[0])


@pytest.mark.parametrize("make_bad", [lambda a: a.astype(np.complex128), lambda a: a.astype(np.complex64),
                                      lambda a: [complex(v) for v in a]])
def test_complex_actions_are_refused(make_bad):
    env = GreenLLMEnv(scenario_pool=1)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action must be real.*complex"):
        env.step(make_bad(np.zeros(405)))
    vec = GreenLLMVectorEnv(num_envs=2, scenario_pool=1)
    vec.reset(seed=0)
    with pytest.raises(ValueError, match="actions must be real.*complex"):
        vec.step(np.zeros((2, 405), np.complex128))


# ------------------------------------------------------------------------------------------ tolerance
def _inside_tolerance_plan(scen: Scenario, fraction: float) -> np.ndarray:
    """(T, N*J) plan of the oracle's LP with each family's bounds relaxed so that its violation in every hour
    is ``fraction`` of the family's total bound (spread evenly over the family's rows)."""
    s = LPSolver(scen, weights=(1 / 3, 1 / 3, 1 / 3))
    lp, coef, h = s.lp, s.coef, s.highs
    fam, scale = lp.families, lp.row_scale
    up = lp.row_upper.copy()
    up[fam["resources"]] += scale[fam["resources"]] * fraction * coef.capacity.sum() / (coef.R * coef.J)
    up[fam["delay_cap"]] += scale[fam["delay_cap"]] * fraction * coef.delay_cap_s.sum() / coef.N
    up[fam["water_budget"]] += scale[fam["water_budget"]] * fraction * coef.water_budget_l
    h.changeRowsBounds(lp.num_row, np.arange(lp.num_row, dtype=np.int32), lp.row_lower, up)
    col_up = lp.col_upper.copy()
    col_up[lp.n_x:] += np.repeat(fraction * coef.grid_cap_kw.sum(-1) / coef.J, coef.J)
    h.changeColsBounds(lp.num_col, np.arange(lp.num_col, dtype=np.int32), lp.col_lower, col_up)
    v = s.run()
    return np.clip(v[:lp.n_x], 0.0, 1.0).reshape(coef.T, -1)


@pytest.mark.parametrize("seed", [0, 1, 3])
def test_plans_inside_the_tolerance_cannot_beat_the_oracle(seed):
    scen = make_scenario(seed)
    objective = solve(scen).objective
    env = GreenLLMEnv(scenario=scen)
    for fraction in (0.999 * FEASIBILITY_TOL, 1e-6):  # just inside the forgiveness, and the old one (1e-6)
        plan = _inside_tolerance_plan(scen, fraction)
        env.reset(seed=0)
        score = sum(info["cost_weighted"] + info["penalty"]
                    for info in (env.step(plan[t])[4] for t in range(scen.T)))
        assert (objective - score) / objective <= 1e-9, (fraction, score, objective)


def test_tolerance_is_tiny_but_covers_the_oracles_round_off():
    assert 0 < FEASIBILITY_TOL <= 1e-10
    env = GreenLLMEnv(scenario_pool=21)
    for seed in range(21):
        env.reset(options={"scenario_seed": seed})
        res = solve(env.scenario)
        for t in range(24):
            info = env.step(res.plan[t].reshape(-1))[4]
            assert info["penalty"] == 0.0, (seed, t, info["violations"])


# ------------------------------------------------------------------------------------------ scenarios
def test_replace_and_scale_validate_and_name_the_field():
    from green_llm_env import scale

    s = make_scenario(0)
    with pytest.raises(ValueError, match=r"Scenario.c must be finite; got c\[0, 3\] = nan"):
        s.replace(c=np.where(np.arange(9) == 3, np.nan, s.c))
    with pytest.raises(ValueError, match=r"Scenario.PUE must be >= 1; got PUE\[0\] = 0.5"):
        s.replace(PUE=np.full(9, 0.5))
    with pytest.raises(ValueError, match=r"Scenario.tau_in must keep the derived IT kW.*tau_in = 1e\+308"):
        s.replace(tau_in=np.full(5, 1e308))
    with pytest.raises(ValueError, match=r"Scenario.B must keep the derived delay s.*B = "):
        s.replace(B=s.B * 1e-308)
    with pytest.raises(ValueError, match=r"Scenario.tau_in must keep"):
        scale(s, tau=1e305)
    with pytest.raises(ValueError, match=r"Scenario.Z .* got inf"):
        s.replace(Z=np.inf)
    assert s.replace(Z=np.inf, infinite_Z=True).Z == np.inf  # the MPC's windows: no water budget


def test_window_allows_infinite_water_but_validates_forecasts():
    from baselines.mpc import window

    s = make_scenario(0)
    assert window(s, 0, 4, np.inf).Z == np.inf
    with pytest.raises(ValueError, match=r"Scenario.lam must be finite"):
        window(s, 0, 4, 1.0, lam=np.full((4, 9, 5), np.nan))


def test_solve_reports_time_limit_and_refused_lp():
    from baselines import InfeasibleScenarioError

    s = make_scenario(0)
    with pytest.raises(InfeasibleScenarioError, match=r"time limit of 1e-09 s \(time_limit\)"):
        solve(s, time_limit=1e-9)
    with pytest.raises(InfeasibleScenarioError, match=r"HiGHS refused.*Scenario.lam \(an entry lam = 1.2e\+300\)"):
        solve(s.replace(lam=s.lam * 1e297))


# ------------------------------------------------------------------------------ resume and evaluation
FINGERPRINT_PLUGIN = '''
from types import SimpleNamespace

from agents.registry import fingerprint
from baselines.policy import make_policy, register_policy_loader

# a fake trained agent (the nearest rule) whose fingerprint is the hash of the file it is given
register_policy_loader("fpagent", lambda path, name=None, **kw: (lambda inner: SimpleNamespace(
    name=name, kind="learned", fingerprint=fingerprint(path), reset=inner.reset, act=inner.act))(
    make_policy("nearest")))
'''


def test_evaluate_refuses_to_mix_rows_of_a_changed_model(capsys, tmp_path, monkeypatch):
    import json

    import evaluate

    (tmp_path / "fp_plugin.py").write_text(FINGERPRINT_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr("baselines.policy._LOADERS", {})
    model = tmp_path / "model.zip"
    model.write_bytes(b"first model")
    out = tmp_path / "e"
    args = ["--policies", f"uniform,fpagent={model}", "--seeds", "1000", "--gen-kwargs", "T:4", "--import",
            "fp_plugin", "--out", str(out), "--no-plots", "--no-progress"]
    assert evaluate.main(args) == 0, capsys.readouterr().err
    meta = json.loads((out / "policies.json").read_text())
    assert len(meta["fpagent"]["fingerprint"]) == 64 and meta["uniform"]["fingerprint"] is None
    assert evaluate.main(args) == 0  # same model: resumes
    assert "already in" in capsys.readouterr().err
    model.write_bytes(b"retrained model")
    assert evaluate.main(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "holds rows of policy 'fpagent' from another model" in lines[0], lines
    assert json.loads((out / "policies.json").read_text()) == meta  # nothing written


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="needs Linux /proc")
def test_evaluate_workers_do_not_outlive_a_killed_parent(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from .test_evaluate import PLUGIN, REPO

    (tmp_path / "sleepy_plugin.py").write_text(PLUGIN)
    cmd = [sys.executable, str(REPO / "evaluate.py"), "--policies", "sleepy", "--seeds", "0-40", "--workers", "2",
           "--import", "sleepy_plugin", "--gen-kwargs", "T:4", "--out", str(tmp_path / "w"), "--no-plots",
           "--no-progress"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            workers = _children(proc.pid)  # the two workers (and multiprocessing's resource tracker)
            if len(workers) >= 2 and (tmp_path / "w" / "results.csv").is_file():
                break
            time.sleep(0.1)
        assert proc.poll() is None and len(workers) >= 2, "the workers did not start"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    deadline = time.monotonic() + 15
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [p for p in workers if _alive(p)]
    for p in left:
        os.kill(p, signal.SIGKILL)
    assert not left, f"workers {left} outlived the killed parent"


@pytest.mark.slow
def test_train_resume_falls_back_past_a_damaged_model(tmp_path):
    """End to end: a truncated final model is reported in one line and the newest checkpoint resumed."""
    import subprocess
    import sys

    pytest.importorskip("stable_baselines3")
    from .test_train import ENV_KEY, ROOT, TRAIN, _cmd, _env, _summary

    first = subprocess.run(_cmd("ppo", tmp_path, n=256), capture_output=True, text=True, timeout=300, cwd=ROOT,
                           env=_env())
    assert first.returncode == 0, first.stderr[-3000:]
    run = Path(_summary(first.stdout)["run_dir"])
    model = run / f"{ENV_KEY}.zip"
    model.write_bytes(model.read_bytes()[:100])  # a copy cut short
    again = subprocess.run([sys.executable, TRAIN, "--resume", str(run), "-n", "384", "--no-progress-bar", "-v", "0"],
                           capture_output=True, text=True, timeout=300, cwd=ROOT, env=_env())
    assert again.returncode == 0, again.stderr[-3000:]
    damaged = [ln for ln in again.stdout.splitlines() if "is damaged" in ln]
    assert damaged == [f"[train] {ENV_KEY}.zip is damaged (not a readable SB3 model zip: BadZipFile: File is not a "
                       "zip file); falling back to the previous checkpoint"], again.stdout
    assert "from rl_model_256_steps.zip at step 256" in again.stdout
    assert _summary(again.stdout)["num_timesteps"] >= 384
