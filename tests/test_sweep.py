"""Sensitivity sweeps: tidy CSV, exactly the named parameter scaled, infeasible factors recorded, plots."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from baselines import solve
from baselines.sweep import MODELS, hourly_profiles, sweep
from green_llm_env import scale

from .conftest import REFERENCE_JSON, tiny_scenario


def test_sweep_rows_match_direct_solves(reference_scenario):
    frame = sweep(reference_scenario, psi=(0.5, 1.5), parameters=("theta", "rho"), progress=False)
    assert len(frame) == 2 * 2 * len(MODELS)
    assert set(frame["status"]) == {"optimal"}
    row = frame[(frame.parameter == "rho") & (frame.psi == 1.5) & (frame.model == "M0")].iloc[0]
    direct = solve(scale(reference_scenario, rho=1.5))
    assert row.total == pytest.approx(direct.total) and row.delay == pytest.approx(direct.delay)
    base = frame[(frame.parameter == "theta") & (frame.model == "M1")].set_index("psi")
    assert base.loc[1.5, "emissions_kg"] > base.loc[0.5, "emissions_kg"]


def test_infeasible_factor_is_recorded():
    # Tiny scenario: water is 4 L per day whatever the plan; Z = 5 L admits tau <= 1.25 only.
    frame = sweep(tiny_scenario(Z=5.0), psi=(1.0, 1.5), parameters=("tau",), progress=False)
    status = frame.set_index(["psi", "model"])["status"]
    assert (status.loc[1.0] == "optimal").all() and (status.loc[1.5] == "infeasible").all()
    assert frame[frame.status == "infeasible"]["total"].isna().all()


def test_hourly_profiles_sum_to_totals(reference_scenario):
    hourly = hourly_profiles(reference_scenario, psi_theta=1.2)
    m2 = hourly[hourly.model == "M2"]
    assert len(m2) == 24
    assert m2["carbon"].sum() == pytest.approx(solve(scale(reference_scenario, theta=1.2), (0, 1, 0)).carbon)


def test_cli(tmp_path):
    if not REFERENCE_JSON.is_file():
        pytest.skip("shared data not present")
    run = subprocess.run([sys.executable, "-m", "baselines.sweep", "--scenario", str(REFERENCE_JSON), "--psi",
                          "0.8:1.2:0.2", "--parameters", "theta,P_w", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    frame = pd.read_csv(tmp_path / "sweep.csv")
    assert list(frame.columns[:4]) == ["parameter", "psi", "model", "status"]
    assert np.allclose(sorted(frame.psi.unique()), [0.8, 1.0, 1.2])
    for name in ("sweep_theta.png", "sweep_P_w.png", "hourly_theta_1.2.png", "hourly.csv"):
        assert (tmp_path / name).stat().st_size > 1000, name
    bad = subprocess.run([sys.executable, "-m", "baselines.sweep", "--psi", "1:0:1", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and bad.stderr.strip().splitlines() == [
        "error: --psi needs 0 <= lo <= hi and step > 0; got '1:0:1'"]
