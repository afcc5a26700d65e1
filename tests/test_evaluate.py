"""evaluate.py: CSV schema, smoke runs (subprocess, traces, workers), resume without lost or duplicated rows
after a kill, the summary and plots, and one-line errors for bad CLI values."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import evaluate
from evaluate import COLUMNS, HOURLY_COLUMNS, parse_kv, parse_seeds

from .conftest import REPO, SHARED_DATA

SCRIPT = REPO / "evaluate.py"


def rows_of(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def header_of(path: Path) -> tuple[str, ...]:
    with open(path, newline="") as fh:
        return tuple(next(csv.reader(fh)))


def run_main(capsys, *args: str) -> tuple[int, str]:
    rc = evaluate.main(list(args))
    return rc, capsys.readouterr().err


# ---------------------------------------------------------------------------- parsing
def test_parse_seeds():
    assert parse_seeds("1000-1003") == [1000, 1001, 1002, 1003]
    assert parse_seeds("5,1-2, 9") == [1, 2, 5, 9]
    assert parse_seeds("7,7") == [7]
    for bad in ("", "a", "3-1", "-1", "1-", "1.5"):
        with pytest.raises(evaluate.CliError, match="--seeds"):
            parse_seeds(bad)


def test_parse_kv():
    assert parse_kv(["forecast_hours:6", "forecast_noise:0.25", "action_mode:softmax"], "--env-kwargs") == {
        "forecast_hours": 6, "forecast_noise": 0.25, "action_mode": "softmax"}
    assert parse_kv(["T:6,water_fraction:none"], "--gen-kwargs") == {"T": 6, "water_fraction": None}
    with pytest.raises(evaluate.CliError, match="key:value"):
        parse_kv(["forecast_hours=6"], "--env-kwargs")


@pytest.mark.parametrize("args, needle", [
    (["--policies", "nope"], "unknown policy 'nope'"),
    (["--policies", "oracle,oracle"], "twice"),
    (["--seeds", "9-3"], "--seeds"),
    (["--weights", "0.5,0.6,0"], "--weights must sum to 1"),
    (["--weights", "a,b,c"], "--weights"),
    (["--workers", "0"], "--workers must be >= 1"),
    (["--env-kwargs", "bogus:1"], "bogus"),
    (["--env-kwargs", "forecast_noise:-1"], "forecast_noise"),
    (["--env-kwargs", "weights:1"], "may not set 'weights'"),
    (["--start", "2024-06-01T00"], "--start needs --traces"),
    (["--traces", "/no/such/folder"], "--traces folder not found"),
    (["--policies", "mpc:horizon=0"], "horizon"),
    (["--bogus-flag"], "unrecognized arguments"),
])
def test_bad_cli_values_exit_2_with_one_line(capsys, tmp_path, args, needle):
    rc, err = run_main(capsys, "--seeds", "1", "--out", str(tmp_path / "o"), "--no-progress", *args)
    assert rc == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("evaluate.py: error:") and needle in lines[0], err


def test_trace_window_outside_2024_is_a_clear_error(capsys, tmp_path):
    if not SHARED_DATA.is_dir():
        pytest.skip("shared data folder not found")
    rc, err = run_main(capsys, "--policies", "oracle", "--seeds", "1", "--traces", str(SHARED_DATA), "--start",
                       "2024-12-31T12", "--out", str(tmp_path / "o"), "--no-progress")
    assert rc == 2 and "runs past the data" in err and len(err.strip().splitlines()) == 1


# ---------------------------------------------------------------------------- smoke runs
def test_subprocess_smoke_run_on_three_seeds(tmp_path):
    out = tmp_path / "eval"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--policies", "oracle,mpc,uniform,cheapest", "--seeds",
                           "1000-1002", "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert header_of(out / "results.csv") == COLUMNS
    assert header_of(out / "hourly" / "seed_1000.csv") == HOURLY_COLUMNS
    rows = rows_of(out / "results.csv")
    assert sorted((r["policy"], int(r["seed"])) for r in rows) == sorted(
        (p, s) for p in ("oracle", "mpc", "uniform", "cheapest") for s in (1000, 1001, 1002))
    for r in rows:
        gap = float(r["gap_pct"])
        score = float(r["cost_weighted"]) + float(r["penalty"])
        oracle = float(r["oracle_cost_weighted"])
        assert gap == pytest.approx((score - oracle) / oracle * 100, rel=1e-9, abs=1e-12)
        assert gap >= -1e-6
        assert float(r["total"]) == pytest.approx(float(r["energy"]) + float(r["carbon"]) + float(r["delay"]))
        assert int(r["violations"]) >= 0
        if r["policy"] in ("oracle", "mpc"):
            assert abs(gap) < 1e-4
    assert sum(len(rows_of(out / "hourly" / f"seed_{s}.csv")) for s in (1000, 1001, 1002)) == len(rows) * 24
    for name in ("summary.md", "gaps.png", "costs.png", "hourly.png", "config.json", "policies.json"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    summary = (out / "summary.md").read_text()
    for p in ("oracle", "mpc", "uniform", "cheapest"):
        assert f"| {p} |" in summary
    assert "Where the gap comes from" in summary and "MPC, noisy forecasts | (not run)" in summary
    assert "seeds:" in proc.stderr  # the progress bar


@pytest.mark.parametrize("start", ["2024-03-10T07", "2024-12-31T00"])
def test_traces_with_any_start_hour_in_2024(capsys, tmp_path, start):
    if not SHARED_DATA.is_dir():
        pytest.skip("shared data folder not found (CI has it at ../shared/data)")
    out = tmp_path / "tr"
    rc, err = run_main(capsys, "--policies", "oracle,mpc,myopic", "--seeds", "3", "--traces", str(SHARED_DATA),
                       "--start", start, "--out", str(out), "--no-plots", "--no-progress")
    assert rc == 0, err
    rows = {r["policy"]: float(r["gap_pct"]) for r in rows_of(out / "results.csv")}
    assert abs(rows["oracle"]) < 1e-4 and abs(rows["mpc"]) < 1e-4 and rows["myopic"] >= -1e-6


def test_workers_give_the_same_rows_as_one_process(capsys, tmp_path):
    args = ["--policies", "oracle,myopic,nearest", "--seeds", "1000-1002", "--gen-kwargs", "T:8", "--no-plots",
            "--no-progress"]
    assert run_main(capsys, *args, "--out", str(tmp_path / "a"))[0] == 0
    assert run_main(capsys, *args, "--workers", "2", "--out", str(tmp_path / "b"))[0] == 0
    a, b = rows_of(tmp_path / "a" / "results.csv"), rows_of(tmp_path / "b" / "results.csv")
    assert len(a) == 9
    key = lambda r: (r["policy"], r["seed"])  # noqa: E731
    for ra, rb in zip(sorted(a, key=key), sorted(b, key=key)):
        assert key(ra) == key(rb)
        assert float(ra["gap_pct"]) == pytest.approx(float(rb["gap_pct"]), rel=1e-9, abs=1e-9)


def test_rerun_skips_finished_pairs_and_adds_new_policies(capsys, tmp_path):
    out = str(tmp_path / "r")
    base = ["--seeds", "1000-1001", "--gen-kwargs", "T:6", "--out", out, "--no-plots", "--no-progress"]
    assert run_main(capsys, "--policies", "oracle,uniform", *base)[0] == 0
    first = rows_of(Path(out) / "results.csv")
    rc, err = run_main(capsys, "--policies", "oracle,uniform", *base)
    assert rc == 0 and "4 (policy, seed) pairs already" in err
    assert rows_of(Path(out) / "results.csv") == first  # nothing re-run, nothing duplicated
    assert run_main(capsys, "--policies", "oracle,uniform,nearest", *base)[0] == 0
    rows = rows_of(Path(out) / "results.csv")
    assert len(rows) == 6 and sum(r["policy"] == "nearest" for r in rows) == 2
    # Another configuration may not write into the same folder.
    rc, err = run_main(capsys, "--policies", "oracle", "--weights", "0.5,0.25,0.25", *base)
    assert rc == 2 and "another configuration" in err


def test_summary_split_and_kinds(capsys, tmp_path):
    out = tmp_path / "s"
    rc, err = run_main(capsys, "--policies", "oracle,mpc:horizon=3,mpc_noisy,uniform", "--seeds", "1000-1001",
                       "--gen-kwargs", "T:6", "--env", "GreenLLM-v1", "--out", str(out), "--no-progress")
    assert rc == 0, err
    text = (out / "summary.md").read_text()
    assert "| oracle (perfect foresight, full horizon) | oracle |" in text
    assert "| MPC, perfect forecasts | mpc:horizon=3 |" in text
    assert "| MPC, noisy forecasts | mpc_noisy |" in text
    assert "| learned agents | (not run) |" in text
    assert "Other baselines (LP and rule-based): uniform" in text
    assert (out / "hourly.png").stat().st_size > 0


# ---------------------------------------------------------------------------- kill and resume
PLUGIN = textwrap.dedent('''
    """A slow policy for the kill test: nearest, with a pause in reset."""
    import time

    from baselines.policy import make_policy, register_policy


    class Sleepy:
        kind = "heuristic"

        def __init__(self, name="sleepy", seconds=0.4):
            self.name, self.seconds, self.inner = name, seconds, make_policy("nearest")

        def reset(self, env):
            time.sleep(self.seconds)
            self.inner.reset(env)

        def act(self, obs, env):
            return self.inner.act(obs, env)


    register_policy("sleepy", lambda name, **kw: Sleepy(name, **kw))
''')


def test_killed_run_resumes_without_lost_or_duplicated_rows(tmp_path):
    (tmp_path / "sleepy_plugin.py").write_text(PLUGIN)
    out = tmp_path / "k"
    seeds = list(range(12))
    cmd = [sys.executable, str(SCRIPT), "--policies", "oracle,sleepy", "--seeds", "0-11", "--import",
           "sleepy_plugin", "--gen-kwargs", "T:6", "--out", str(out), "--no-plots", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    seen = 0
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            path = out / "results.csv"
            if path.is_file():
                seen = len(rows_of(path))  # always a whole file: written via os.replace
                if seen >= 4:
                    break
            time.sleep(0.02)
        assert proc.poll() is None, f"run ended before it could be killed: {proc.stderr.read().decode()}"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    partial = rows_of(out / "results.csv")
    assert 4 <= len(partial) < 2 * len(seeds)
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "already in" in done.stderr
    rows = rows_of(out / "results.csv")
    pairs = [(r["policy"], int(r["seed"])) for r in rows]
    assert len(pairs) == len(set(pairs)) == 2 * len(seeds)  # nothing lost, nothing twice
    assert set(pairs) == {(p, s) for p in ("oracle", "sleepy") for s in seeds}
    for old in partial:  # finished rows were kept as they were
        assert old in rows
    hourly = [(h["policy"], int(h["seed"]), int(h["hour"]))
              for f in sorted((out / "hourly").glob("seed_*.csv")) for h in rows_of(f)]
    assert len(hourly) == len(set(hourly)) == 2 * len(seeds) * 6


LOADER_PLUGIN = textwrap.dedent('''
    """A fake trained-agent loader: 'fakeagent...=PATH' plays the nearest rule, kind "learned"."""
    from baselines.policy import make_policy, register_policy_loader


    def load(path, name=None, **kw):
        policy = make_policy("nearest")
        policy.name, policy.kind = name, "learned"
        policy.env_kwargs = {"forecast_hours": 2}  # as if trained with 2 h of forecasts
        return policy


    register_policy_loader("fakeagent", load)
''')


def test_loader_specs_are_scored_as_learned_agents(capsys, tmp_path, monkeypatch):
    (tmp_path / "fake_loader_plugin.py").write_text(LOADER_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr("baselines.policy._LOADERS", {})
    out = tmp_path / "l"
    rc, err = run_main(capsys, "--policies", "oracle,mpc,fakeagent_a=runs/a", "--seeds", "1000", "--gen-kwargs",
                       "T:6", "--import", "fake_loader_plugin", "--out", str(out), "--no-plots", "--no-progress")
    assert rc == 0, err
    assert {r["policy"] for r in rows_of(out / "results.csv")} == {"oracle", "mpc", "fakeagent_a"}
    text = (out / "summary.md").read_text()
    assert "| learned agents | fakeagent_a |" in text
    assert 'fakeagent_a plays with {"forecast_hours": 2}' in text


def test_mpc_noisy_on_v2_is_refused_in_one_line(capsys, tmp_path):
    """GreenLLM-v2's forecasts are exact: a policy that needs forecast noise is refused, naming it."""
    rc, err = run_main(capsys, "--policies", "oracle,mpc_noisy", "--seeds", "1000", "--out", str(tmp_path / "n"),
                       "--no-progress")
    assert rc == 2 and "mpc_noisy" in err and "forecast_noise" in err and "Traceback" not in err
