"""The natively batched env: same transitions as SyncVectorEnv, parity with the cost model, the SB3 adapter."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from green_llm_env import cost, make_scenario
from green_llm_env.env import penalty_usd, scenario_tables
from green_llm_env.vector import GreenLLMVectorEnv, SB3VecEnv

ENV_ID = "green_llm_env:GreenLLM-v0"


def _compare_infos(a: dict, b: dict, path: str = "") -> None:
    """Every key SyncVectorEnv reports is reported alike (values where its mask is set)."""
    for key, val in a.items():
        if key.startswith("_"):
            continue
        assert key in b, path + key
        if isinstance(val, dict):
            _compare_infos(val, b[key], path + key + ".")
            continue
        mask = a["_" + key]
        np.testing.assert_array_equal(mask, b["_" + key], err_msg=path + key)
        got = np.asarray(b[key])[mask]
        want = np.asarray(val)[mask]
        if want.dtype == object:
            want = np.array([-1 if v is None else v for v in want])
        np.testing.assert_array_equal(got.astype(float), want.astype(float), err_msg=path + key)


@pytest.mark.parametrize("kw, E", [
    ({}, 3),
    ({"scenario_pool": 4, "forecast_hours": 2, "forecast_noise": 0.1}, 4),
    ({"action_mode": "softmax", "temperature": 0.5, "scenario_pool": 2}, 2),
    ({"scenario": make_scenario(3), "weights": (0.5, 0.2, 0.3)}, 2),
    ({"scenario_pool": 3}, 48),  # several chunks of the kernel, split over threads
    ({"scenario_pool": 3, "threads": 1}, 21),  # one thread, a short last chunk
    ({"scenario_pool": 3, "threads": 3}, 37),  # more blocks than cores
    ({"constraint_mode": "project", "scenario_pool": 2}, 2),
])
def test_batched_env_equals_sync_vector_env(kw, E):
    """Bit for bit: the single env and the batched env run the same compiled step kernel per element."""
    sync = gym.make_vec(ENV_ID, num_envs=E, vectorization_mode="sync",
                        **{k: v for k, v in kw.items() if k != "threads"})
    vec = gym.make_vec(ENV_ID, num_envs=E, vectorization_mode="vector_entry_point", **kw)
    assert isinstance(vec, GreenLLMVectorEnv)
    assert vec.single_action_space == sync.single_action_space
    assert vec.single_observation_space == sync.single_observation_space
    o1, i1 = sync.reset(seed=11)
    o2, i2 = vec.reset(seed=11)
    np.testing.assert_array_equal(o1, o2)
    _compare_infos(i1, i2)
    rng = np.random.default_rng(0)
    steps = 24 * 2 + 5 if E < 10 else 26
    for k in range(steps):
        a = rng.uniform(-1, 1, (E, 405)).astype(np.float32)
        if k % 7 == 3:  # allocations on the simplex pass unchanged
            a = rng.dirichlet(np.full(9, 0.5), (E, 45)).reshape(E, -1)
        r1, r2 = sync.step(a), vec.step(a)
        np.testing.assert_array_equal(r1[0], r2[0])
        np.testing.assert_array_equal(r1[1], r2[1])
        np.testing.assert_array_equal(r1[2], r2[2])
        np.testing.assert_array_equal(r1[3], r2[3])
        _compare_infos(r1[4], r2[4])
    assert vec.t.shape == (E,) and vec.water_left_l.shape == (E,)


def test_kernel_on_tables_stacked_across_scenarios_equals_cost_evaluate():
    """The batched env's step: cost.hour_terms on HourTables stacked from several scenarios, each element at its
    own hour, equals cost.evaluate of each scenario; penalty_usd equals mu · max(violations - tol, 0)."""
    weights = (0.4, 0.3, 0.3)
    scen = [make_scenario(s) for s in range(3)] + [make_scenario(5).replace(c=make_scenario(5).c - 0.3)]
    tabs = [scenario_tables(s, weights) for s in scen]
    rng = np.random.default_rng(1)
    E = len(tabs)
    t = rng.integers(0, 24, E)
    x = rng.dirichlet(np.full(9, 0.3), (E, 45))
    x[0] = 0.0
    x[0, :, 2] = 1.0
    left = np.array([1e9, 0.0, 3.0, -1.0])
    stacked = cost.HourTables.from_fields(**{f: np.stack([getattr(tb.hour, f)[tt] for tb, tt in zip(tabs, t)])
                                             for f in cost.HOUR_FIELDS})
    assert stacked.negative_price and not tabs[0].hour.negative_price
    mu = np.stack([tb.mu[tt] for tb, tt in zip(tabs, t)])
    tol = np.stack([tb.tol[tt] for tb, tt in zip(tabs, t)])
    for nonnegative in (False, True):
        nums, viol, use, fac, grid, delay, _ = cost.hour_terms(stacked, x, left, nonnegative=nonnegative)
        pen = penalty_usd(viol, mu, tol)
        for e, tb in enumerate(tabs):
            ref = cost.evaluate(tb.coef, x[e], weights, hours=int(t[e]), water_left_l=left[e])
            np.testing.assert_allclose(nums[e], [float(ref[n]) for n in cost.NUMBERS], rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(viol[e], ref["violations"], rtol=1e-12, atol=1e-9)
            for got, key in ((use[e, 0], "it_kw"), (use[e, 1:], "resource_use"), (fac[e], "facility_kw"),
                             (grid[e], "grid_kw"), (delay[e], "delay_s")):
                np.testing.assert_allclose(got, ref[key].reshape(got.shape), rtol=1e-12, atol=1e-12, err_msg=key)
            excess = np.maximum(ref["violations"] - tb.tol[t[e]], 0.0)
            np.testing.assert_allclose(pen[e], tb.mu[t[e]] @ excess, rtol=1e-9, atol=1e-9)
    assert viol[0, 1] > 0 and pen[0] > 0  # everything to one DC overloads it, and is charged
    assert viol[1, 4] > 0  # no water left


def test_batched_env_rejects_bad_input():
    vec = GreenLLMVectorEnv(num_envs=2, scenario_pool=2)
    with pytest.raises(RuntimeError, match="reset"):
        vec.step(np.zeros((2, 405)))
    vec.reset(seed=0)
    for _ in range(23):
        vec.step(np.zeros((2, 405)))
    t, water = vec.t, vec.water_left_l
    with pytest.raises(ValueError, match="NaN or inf.*env 1, flat index 7"):
        a = np.zeros((2, 405))
        a[1, 7] = np.nan
        vec.step(a)
    np.testing.assert_array_equal(vec.t, t)  # a refused step changes nothing, at the last hour too
    np.testing.assert_array_equal(vec.water_left_l, water)
    vec.step(np.zeros((2, 405)))  # the last hour: both episodes end
    a = np.zeros((2, 405))
    a[0, 3] = np.inf
    vec.step(a)  # both sub-envs reset in this step and ignore their action, as SyncVectorEnv's do
    with pytest.raises(ValueError, match=r"shape.*\(405,\)"):
        vec.step(np.zeros(405))
    for kw, match in [({"num_envs": 0}, "num_envs.*0"), ({"render_mode": "ansi"}, "render_mode.*ansi"),
                      ({"max_episode_steps": 0}, "max_episode_steps.*0"), ({"weights": (1, 1, 1)}, "weights"),
                      ({"threads": 0}, "threads.*0"), ({"threads": 1.5}, "threads.*1.5")]:
        with pytest.raises(ValueError, match=match):
            GreenLLMVectorEnv(**kw)


def test_partial_reset_and_episode_totals():
    vec = GreenLLMVectorEnv(num_envs=3, scenario_pool=5)
    vec.reset(seed=0)
    for _ in range(5):
        vec.step(np.zeros((3, 405)))
    obs, info = vec.reset(options={"reset_mask": np.array([True, False, False])})
    assert list(vec.t) == [0, 5, 5] and info["_scenario_seed"].tolist() == [True, False, False]
    for _ in range(19):
        _, _, term, trunc, info = vec.step(np.zeros((3, 405)))
    assert term.tolist() == [False, True, True] and "episode_totals" in info
    assert info["_episode_totals"].tolist() == [False, True, True]


def test_sb3_adapter_semantics_and_training():
    from stable_baselines3 import A2C
    from stable_baselines3.common.vec_env import VecMonitor

    venv = SB3VecEnv(num_envs=2, scenario_pool=3)
    venv.seed(5)
    obs = venv.reset()
    assert obs.shape == (2, 85) and obs.dtype == np.float32
    ref = GreenLLMVectorEnv(num_envs=2, scenario_pool=3, max_episode_steps=None)
    ref_obs, _ = ref.reset(seed=5)
    np.testing.assert_array_equal(obs, ref_obs)
    rng = np.random.default_rng(0)
    for k in range(24):
        a = rng.uniform(-1, 1, (2, 405)).astype(np.float32)
        obs, rew, done, infos = venv.step(a)
        r2 = ref.step(a)
        np.testing.assert_allclose(rew, r2[1].astype(np.float32), rtol=1e-6)
        assert rew.dtype == np.float32 and len(infos) == 2
    assert done.all()
    for info in infos:
        assert info["terminal_observation"].shape == (85,) and info["TimeLimit.truncated"] is False
        assert info["episode_totals"]["cost_weighted"] > 0
    assert (venv.get_attr("t") is not None) and venv.env_is_wrapped(gym.Wrapper) == [False, False]
    model = A2C("MlpPolicy", VecMonitor(SB3VecEnv(num_envs=4, scenario_pool=2)), n_steps=6, seed=0, device="cpu")
    model.learn(48)
    assert model.num_timesteps >= 48
