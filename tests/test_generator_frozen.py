"""`make_scenario` stays bit for bit what it gave before the generator was sped up (sha256 of every array field, Z
and the names, computed with the previous implementation), and the cheap budget copy equals ``replace``."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest

from green_llm_env import cost, make_scenario
from green_llm_env.scenario import ARRAY_FIELDS

FROZEN = [
    (0, {}, "4677c36f48096b245c19ceff5e653e1a5b1e7de93833a74a23bbbc7cc0faa646"),
    (1, {}, "ed9d44021016e59788ac98749b85ed0c188357510d46f3f39b082b8711b19e92"),
    (7, {}, "cc4e7a713505d55801a261338436cacc306e63c72e4cd3346c8ad1b370361a99"),
    (123456, {}, "58633e6d7edd5b1d8d1cd7a5b1b29a61b993f647a28c70d3e80054a11fdb32e7"),
    (2147483646, {}, "bdc517d8eaee1eacf3dc067a4d9705b99c3cd493182401e14fcb18048dd3fcab"),
    (3, {'water_fraction': None}, "723554de6a7ff8c6ad702a71f2485378b36ce3bd9dc9993e73bda22ee93a0289"),
    (4, {'I': 12, 'J': 11, 'K': 7, 'T': 30, 'R': 4, 'start_hour': 5}, "6ac85dfb81aa5d37e81ad1e5dc293fa4e46cb68107e93faa0093893ba726256e"),
    (5, {'I': 2, 'J': 1, 'K': 1, 'T': 1, 'R': 1}, "223de5cc13b06db4904667b1c7ce09a7b7ed10bff5a04857cde42a5443d09538"),
    (6, {'psi_theta': 1.3, 'psi_pw': 0.5, 'psi_tau': 2.0, 'psi_rho': 0.7, 'demand_scale': 1.5, 'water_fraction': 0.8}, "bc245fffe5418ee3129439b999ad432ff9542bf5dffb6ac33ef91bcb020fa056")
]


def digest(s) -> str:
    h = hashlib.sha256()
    for name in ARRAY_FIELDS:
        a = np.ascontiguousarray(getattr(s, name), dtype=np.float64)
        h.update(name.encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    h.update(np.float64(s.Z).tobytes())
    h.update(repr((s.dc_names, s.query_types, s.start, s.start_hour, s.description)).encode())
    return h.hexdigest()


@pytest.mark.parametrize("seed, kwargs, expected", FROZEN)
def test_make_scenario_is_unchanged_bit_for_bit(seed, kwargs, expected):
    kwargs = {k: v for k, v in kwargs.items()}
    assert digest(make_scenario(seed, **kwargs)) == expected


def test_with_water_budget_equals_replace():
    s = make_scenario(11, water_fraction=None)
    cost.coefficients(s)  # memoised: the copy carries it over
    fast, slow = s.with_water_budget(1234.5), s.replace(Z=1234.5)
    assert fast == slow and fast.Z == 1234.5 and s.Z == 1e12
    a, b = cost.coefficients(fast), cost.coefficients(slow)
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        assert np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y, f.name
    assert cost.coefficients(s).water_budget_l == 1e12
    for bad in (-1.0, float("nan"), float("inf"), True, "3"):
        with pytest.raises(ValueError, match="Scenario.Z \\(water budget, L\\) must be finite and >= 0"):
            s.with_water_budget(bad)
