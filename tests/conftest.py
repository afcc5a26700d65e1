"""Shared fixtures: the letter's reference scenario and a tiny hand-solvable one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from green_llm_env import Scenario

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
REFERENCE_JSON = SHARED_DATA / "paper_reference_scenario.json"


@pytest.fixture(scope="session")
def reference_scenario() -> Scenario:
    if not REFERENCE_JSON.is_file():
        pytest.skip(f"{REFERENCE_JSON} not found (the shared data folder sits beside the repo)")
    return Scenario.from_json(REFERENCE_JSON)


def tiny_scenario(**changes) -> Scenario:
    """2 areas, 2 DCs, 1 type, 2 hours, 1 resource; solved by hand in tests/test_oracle.py.

    Each area sends 100 queries/h of 1 token at 0.01 kWh/token: 1 kW of IT load per area, PUE 1.
    DC0 costs 0.1 $/kWh and can hold 150 resource units (1.5 areas); DC1 costs 0.2 $/kWh, with 0.5 kW of
    free renewables in hour 1. Being served by the other area's DC costs 1 s of delay at 0.01 $/s.
    No carbon (theta = 0).
    """
    T, I, K, J = 2, 2, 1, 2
    base = dict(
        lam=np.full((T, I, K), 100.0), h=np.array([1.0]), f=np.array([0.0]), tau_in=np.array([0.01]),
        tau_out=np.array([0.0]), PUE=np.ones(J), c=np.array([[0.1, 0.2], [0.1, 0.2]]), theta=np.zeros((T, J)),
        delta=np.zeros(J), P_w=np.array([[0.0, 0.0], [0.0, 0.5]]), P_max=np.full((T, J), 100.0),
        WUE=np.ones((T, J)), EWIF=np.zeros((T, J)), Z=10.0, C=np.array([[150.0, 1000.0]]),
        alpha=np.array([[1.0]]), beta=np.zeros((T, I, K)), B=np.ones((I, J)),
        d=np.array([[0.0, 1.0], [1.0, 0.0]]), v=np.zeros((J, K)), rho=np.array([0.01]),
        Delta=np.full((I, K), 10.0), dc_names=("dc0", "dc1"), query_types=("q",),
    )
    base.update(changes)
    return Scenario(**base).validate()


@pytest.fixture
def tiny() -> Scenario:
    return tiny_scenario()
