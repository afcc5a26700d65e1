"""Scenario: validation paths, exact JSON round trip, seeded generator, real traces, CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from green_llm_env import Scenario, ScenarioFileError, make_scenario, scale, scenario_from_traces
from green_llm_env.scenario import ARRAY_FIELDS

from .conftest import REFERENCE_JSON, SHARED_DATA, tiny_scenario


def test_reference_scenario_loads_time_first(reference_scenario):
    s = reference_scenario
    assert s.sizes == {"I": 9, "J": 9, "K": 5, "T": 24, "R": 3}
    raw = json.loads(REFERENCE_JSON.read_text())["arrays"]
    # lambda is stored (i, k, t) in the file and (t, i, k) here; c is (j, t) there and (t, j) here.
    assert s.lam[5, 2, 3] == raw["lambda"]["values"][2][3][5]
    assert s.c[7, 4] == raw["c"]["values"][4][7]
    assert s.Z == pytest.approx(5820.012629119356)
    assert s.dc_names[0] == "us-central1" and s.query_types[-1] == "image"


def test_json_round_trip_is_exact(reference_scenario, tmp_path):
    path = tmp_path / "s.json"
    reference_scenario.to_json(path)
    again = Scenario.from_json(path)
    assert again == reference_scenario
    for name in ARRAY_FIELDS:
        assert np.array_equal(getattr(again, name), getattr(reference_scenario, name)), name
    # File -> Scenario -> dict reproduces every array of the original file bit for bit.
    original = json.loads(REFERENCE_JSON.read_text())
    written = json.loads(path.read_text())
    for key, entry in original["arrays"].items():
        assert written["arrays"][key]["dims"] == entry["dims"]
        assert written["arrays"][key]["values"] == entry["values"], key


def test_generated_round_trip_and_determinism(tmp_path):
    a = make_scenario(3)
    assert a == make_scenario(3)
    assert not np.array_equal(a.lam, make_scenario(4).lam)
    path = tmp_path / "g.json"
    a.to_json(path)
    assert Scenario.from_json(path) == a


def test_arrays_are_read_only(tiny):
    with pytest.raises(ValueError):
        tiny.lam[0, 0, 0] = 1.0
    with pytest.raises(AttributeError):
        tiny.Z = 3.0  # type: ignore[misc]


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"lam": np.ones((2, 2))}, r"Scenario.lam must have shape \(T, I, K\)"),
        ({"c": np.ones((3, 2))}, r"Scenario.c must have shape \(T, J\) = \(2, 2\); got \(3, 2\)"),
        ({"PUE": np.array([1.2, 0.9])}, r"Scenario.PUE must be >= 1; got PUE\[1\] = 0.9"),
        ({"lam": np.full((2, 2, 1), np.nan)}, r"Scenario.lam must be finite; got lam\[0, 0, 0\] = nan"),
        ({"P_w": np.array([[0.0, np.inf], [0.0, 0.0]])}, r"Scenario.P_w must be finite"),
        ({"C": np.array([[150.0, -1.0]])}, r"Scenario.C must be >= 0; got C\[0, 1\] = -1.0"),
        ({"lam": np.full((2, 2, 1), -5.0)}, r"Scenario.lam must be >= 0"),
        ({"B": np.array([[1.0, 0.0], [1.0, 1.0]])}, r"Scenario.B must be > 0; got B\[0, 1\] = 0.0"),
        ({"Delta": np.array([[10.0], [0.0]])}, r"Scenario.Delta must be > 0; got Delta\[1, 0\] = 0.0"),
        ({"Z": -1.0}, r"Scenario.Z .* must be finite and >= 0; got -1.0"),
        ({"Z": float("nan")}, r"Scenario.Z"),
        ({"dc_names": ("a",)}, r"Scenario.dc_names must have J = 2 names; got 1"),
        ({"query_types": ("a", "b")}, r"Scenario.query_types must have K = 1 names; got 2"),
        ({"start_hour": 24}, r"Scenario.start_hour must be in 0..23; got 24"),
        ({"alpha": np.ones((1, 2))}, r"Scenario.alpha must have shape \(K, R\) = \(1, 1\)"),
    ],
)
def test_validate_names_field_rule_and_value(changes, match):
    with pytest.raises(ValueError, match=match):
        tiny_scenario(**changes)


def test_negative_price_is_allowed():
    tiny_scenario(c=np.array([[-0.01, 0.2], [0.1, 0.2]]))


def test_from_json_errors(tmp_path):
    with pytest.raises(ScenarioFileError, match="cannot read"):
        Scenario.from_json(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ScenarioFileError, match="not valid JSON"):
        Scenario.from_json(bad)
    data = tiny_scenario().to_dict()
    del data["arrays"]["theta"]
    bad.write_text(json.dumps(data))
    with pytest.raises(ScenarioFileError, match="missing array 'theta'"):
        Scenario.from_json(bad)
    data = tiny_scenario().to_dict()
    data["arrays"]["PUE"]["values"] = [1.0, 0.5]
    bad.write_text(json.dumps(data))
    with pytest.raises(ScenarioFileError, match=r"bad.json: Scenario.PUE must be >= 1; got PUE\[1\] = 0.5"):
        Scenario.from_json(bad)
    data = tiny_scenario().to_dict()
    data["arrays"]["c"]["values"] = [["x", 1], [1, 1]]
    bad.write_text(json.dumps(data))
    with pytest.raises(ScenarioFileError, match="array 'c' is not numeric"):
        Scenario.from_json(bad)
    data = tiny_scenario().to_dict()
    data["sizes"]["T"] = 5
    bad.write_text(json.dumps(data))
    with pytest.raises(ScenarioFileError, match="sizes.T = 5 but the arrays have T = 2"):
        Scenario.from_json(bad)


@pytest.mark.parametrize("sizes", [dict(I=3, J=4, K=2, T=6, R=1), dict(I=12, J=11, K=7, T=30, R=5),
                                   dict(I=1, J=1, K=1, T=1, R=1)])
def test_generator_sizes(sizes):
    s = make_scenario(0, **sizes)
    assert s.sizes == sizes
    s.validate()


def test_generator_matches_reference_ranges():
    s = make_scenario(11)
    assert s.lam.min() >= 500 and s.lam.max() <= 1200
    assert np.all((s.PUE >= 1.0) & (s.PUE <= 1.4))
    assert np.all((s.d >= 0.001) & (s.d <= 0.072))
    assert np.all((s.B >= 1500) & (s.B <= 3800))
    facility = (s.lam * (s.tau_in * s.h + s.tau_out * s.f)).sum(axis=(1, 2)) * s.PUE.mean()
    assert 100 < facility.min() and facility.max() < 320  # MODEL.md: 135-285 kW over all DCs
    # rho's unit is 1e4 / daily queries.
    assert s.rho[0] / 10 == pytest.approx(1e4 / s.lam.sum())


def test_generator_knobs():
    base = make_scenario(5)
    knobs = make_scenario(5, psi_theta=2.0, psi_pw=0.5, psi_tau=1.5, psi_rho=3.0, demand_scale=2.0)
    assert np.allclose(knobs.theta, 2 * base.theta)
    assert np.allclose(knobs.P_w, 0.5 * base.P_w)
    assert np.allclose(knobs.tau_out, 1.5 * base.tau_out)
    assert np.allclose(knobs.lam, 2 * base.lam)
    assert make_scenario(5, water_fraction=None).Z == 1e12
    assert make_scenario(5, water_fraction=0.5).Z == pytest.approx(base.Z * 0.5 / 0.95)
    assert not np.array_equal(make_scenario(5, start_hour=12).c, base.c)
    with pytest.raises(ValueError, match="make_scenario: J must be an integer >= 1; got 0"):
        make_scenario(0, J=0)
    with pytest.raises(ValueError, match="psi_rho must be finite and >= 0; got -1"):
        make_scenario(0, psi_rho=-1)


def test_scale_changes_only_the_named_parameter(reference_scenario):
    s = scale(reference_scenario, theta=1.2)
    assert np.allclose(s.theta, 1.2 * reference_scenario.theta)
    assert np.array_equal(s.P_w, reference_scenario.P_w)
    s = scale(reference_scenario, tau=0.5)
    assert np.allclose(s.tau_in, 0.5 * reference_scenario.tau_in)
    assert np.array_equal(s.theta, reference_scenario.theta)
    with pytest.raises(ValueError, match="scale factor rho"):
        scale(reference_scenario, rho=-1)


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="shared data not present")
def test_real_carbon_traces():
    s = scenario_from_traces(SHARED_DATA, "2024-03-24T00", seed=42)
    ref = Scenario.from_json(REFERENCE_JSON)
    assert np.allclose(s.theta, ref.theta)  # the reference day is 2024-03-24 UTC
    assert s.start == "2024-03-24T00:00:00Z"
    late = scenario_from_traces(SHARED_DATA, "2024-12-31T00", seed=1)
    assert late.start_hour == 0
    with pytest.raises(ScenarioFileError, match="runs past the data's last hour"):
        scenario_from_traces(SHARED_DATA, "2024-12-31T01", seed=1)
    with pytest.raises(ScenarioFileError, match="outside the data"):
        scenario_from_traces(SHARED_DATA, "2023-06-01T00")
    with pytest.raises(ScenarioFileError, match="carbon trace file not found"):
        scenario_from_traces(SHARED_DATA / "nope", "2024-06-01T00")


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="shared data not present")
def test_trace_file_errors(tmp_path):
    src = (SHARED_DATA / "carbon_intensity_2024_hourly_by_dc.csv").read_text().splitlines()
    path = tmp_path / "carbon_intensity_2024_hourly_by_dc.csv"
    path.write_text("\n".join([src[0].replace("us-west4", "other")] + src[1:30]))
    with pytest.raises(ScenarioFileError, match=r"missing column\(s\) \['us-west4'\]"):
        scenario_from_traces(tmp_path, "2024-01-01T00")
    rows = [src[0]] + src[1:30]
    rows[3] = rows[3].rsplit(",", 1)[0] + ","
    path.write_text("\n".join(rows))
    with pytest.raises(ScenarioFileError, match="NaN in column 'us-west4' at 2024-01-01T02"):
        scenario_from_traces(tmp_path, "2024-01-01T00")


def test_cli_writes_scenario(tmp_path):
    out = tmp_path / "s.json"
    run = subprocess.run([sys.executable, "-m", "green_llm_env.scenario", "--seed", "7", "--out", str(out)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert Scenario.from_json(out) == make_scenario(7)
    bad = subprocess.run([sys.executable, "-m", "green_llm_env.scenario", "--seed", "1", "--sizes", "9,9,0,24,3",
                          "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "K must be an integer >= 1" in bad.stderr
    assert "Traceback" not in bad.stderr
