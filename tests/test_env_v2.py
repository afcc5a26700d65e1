"""GreenLLM-v2: the oracle replays in the action's own dtype, scores are continuous near the optimum, no action
beats the oracle, the batched env equals SyncVectorEnv bit for bit, and the info and features are read by name."""

from __future__ import annotations

import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import green_llm_env
from baselines import solve
from green_llm_env import make_scenario, scenario_from_traces
from green_llm_env.batch_generator import draw_batch
from green_llm_env.core.batch import INFO_KEYS
from green_llm_env.core.water import scenario_water_price
from green_llm_env.env_v2 import GreenLLMEnvV2
from green_llm_env.vector_v2 import GreenLLMVectorEnvV2

ID = "green_llm_env:GreenLLM-v2"
TRACES = Path(__file__).resolve().parents[2] / "shared" / "data"


def _episode(env: GreenLLMEnvV2, scen, actions, dtype=np.float64) -> tuple[float, float]:
    """(cost_weighted + penalty summed, repair distance summed) of one episode of ``actions`` (T, I, K, J)."""
    env.reset(seed=0, options={"scenario": scen})
    score = moved = 0.0
    for t in range(scen.T):
        _, _, term, trunc, info = env.step(np.asarray(actions[t], dtype).reshape(-1))
        score += info["cost_weighted"] + info["penalty"]
        moved += info["repair_distance"]
    assert term and not trunc
    assert score == pytest.approx(info["episode_cost_weighted"] + info["episode_penalty"], rel=1e-12)
    return score, moved


def _v2_oracle(scen, env: GreenLLMEnvV2):
    return solve(scen, env.weights, water_price=scenario_water_price(scen, env.weights))


def test_registration_and_default():
    assert green_llm_env.ENV_ID == "GreenLLM-v2"
    spec = gym.spec("GreenLLM-v2")
    assert spec.vector_entry_point and spec.max_episode_steps is None
    assert gym.spec("GreenLLM-mo-v2").vector_entry_point


@pytest.mark.parametrize("seeds", [range(1000, 1100)])
def test_oracle_plan_replays_in_float32_on_100_seeds(seeds):
    """The oracle's plan, cast to the action space's float32, scores within 1e-6 of its objective (penalty
    included); in float64 exactly, with no repair."""
    env = GreenLLMEnvV2()
    batch = draw_batch(np.array(list(seeds), np.int64))
    worst = 0.0
    for b in range(len(batch)):
        scen = batch.scenario(b)
        res = _v2_oracle(scen, env)
        exact, moved = _episode(env, scen, res.plan)
        assert exact == pytest.approx(res.objective, rel=1e-9) and moved <= 1e-9
        f32, _ = _episode(env, scen, res.plan, np.float32)
        gap = (f32 - res.objective) / res.objective
        assert -1e-9 <= gap <= 1e-6, (batch.seeds[b], gap)
        worst = max(worst, gap)
    assert worst < 1e-6


@pytest.mark.skipif(not TRACES.is_dir(), reason="needs ../shared/data")
def test_oracle_plan_replays_on_2024_trace_windows():
    env = GreenLLMEnvV2()
    for q, start in enumerate(("2024-01-15T00", "2024-04-02T06", "2024-07-20T12", "2024-10-31T18")):
        scen = scenario_from_traces(TRACES, start, seed=7000 + q)
        res = _v2_oracle(scen, env)
        for dtype in (np.float64, np.float32):
            score, _ = _episode(env, scen, res.plan, dtype)
            assert abs(score - res.objective) / res.objective <= 1e-6, (start, dtype)


@pytest.mark.parametrize("eps", [1e-7, 1e-5, 1e-3])
def test_perturbed_oracle_scores_within_100_eps(eps):
    """Each share of the oracle's plan moved by a relative ε (then renormalised): the score moves by <= 100·ε."""
    env = GreenLLMEnvV2()
    rng = np.random.default_rng(0)
    batch = draw_batch(np.arange(2000, 2012, dtype=np.int64))
    for b in range(len(batch)):
        scen = batch.scenario(b)
        res = _v2_oracle(scen, env)
        x = res.plan * (1.0 + eps * rng.uniform(-1.0, 1.0, res.plan.shape))
        x /= x.sum(axis=-1, keepdims=True)
        score, _ = _episode(env, scen, x)
        gap = (score - res.objective) / res.objective
        assert -1e-9 <= gap <= 100 * eps, (b, eps, gap)


def test_the_repair_is_continuous_and_proportional():
    """Shares over a capacity row by a relative δ are moved by O(δ), and a feasible allocation not at all."""
    env = GreenLLMEnvV2(scenario_pool=4)
    env.reset(seed=1)
    scen = env.scenario
    res = _v2_oracle(scen, env)
    moved = []
    for delta in (1e-8, 1e-6, 1e-4, 1e-2):
        env.reset(seed=1, options={"scenario": scen})
        x = res.plan[0].reshape(scen.I * scen.K, scen.J).copy()
        j = int(np.argmax(x.sum(0)))  # the busiest DC: push a δ share of every row onto it
        x = (1 - delta) * x
        x[:, j] += delta
        _, _, _, _, info = env.step(x.reshape(-1))
        moved.append(info["repair_distance"])
        assert info["violation_resource"] <= 1e-9 and info["violation_grid"] <= 1e-9
        assert info["violation_delay"] <= 1e-9
    moved = np.array(moved)
    assert np.all(moved <= 50 * np.array([1e-8, 1e-6, 1e-4, 1e-2]) * np.sqrt(scen.I * scen.K)), moved


def _kinds(rng: np.random.Generator, T: int, N: int, J: int) -> dict[str, np.ndarray]:
    one_hot = np.zeros((T, N, J))
    one_hot[..., 4] = 1.0
    return {
        "random": rng.uniform(-1, 1, (T, N, J)),
        "huge": rng.normal(size=(T, N, J)) * 1e16,
        "huge_positive": rng.uniform(1e16, 1e300, (T, N, J)),
        "tiny": rng.uniform(-1, 1, (T, N, J)) * 1e-300,
        "denormal": np.full((T, N, J), 5e-324),
        "all_equal": np.full((T, N, J), 0.37),
        "one_hot": one_hot,
        "one_hot_huge": one_hot * 1e18,
        "float32_max": np.full((T, N, J), np.finfo(np.float32).max, np.float32),
    }


def _greedy(scen, weights, water_blind: bool) -> np.ndarray:
    """Each (t, i, k) wholly to its cheapest DC (water ignored) or to its thirstiest one."""
    from green_llm_env import cost

    coef = cost.coefficients(scen)
    per = cost.objective_coefficients(coef, weights)[0] + cost.facility_kw_per_share(coef) * cost.grid_price(
        coef, weights)[:, None, :]
    key = per if water_blind else -cost.water_l_per_share(coef)
    x = np.zeros(per.shape)
    np.put_along_axis(x, key.argmin(-1)[..., None], 1.0, axis=-1)
    return x


@pytest.mark.parametrize("action_mode", ["project", "softmax"])
def test_exploit_search_finds_nothing_below_the_oracle(action_mode):
    """Every kind of action (extreme, degenerate, water-blind, water-hungry) on generated and pinned scenarios,
    single and batched: no v2 episode scores below v2's oracle."""
    rng = np.random.default_rng(0)
    for seed in (3, 11):
        scen = draw_batch(np.array([seed], np.int64)).scenario(0)
        env = GreenLLMEnvV2(action_mode=action_mode)
        objective = _v2_oracle(scen, env).objective
        T, N, J = scen.T, scen.I * scen.K, scen.J
        kinds = _kinds(rng, T, N, J)
        if action_mode == "project":
            kinds["cheapest_water_blind"] = _greedy(scen, env.weights, True)
            kinds["thirstiest"] = _greedy(scen, env.weights, False)
        for kind, a in kinds.items():
            score, _ = _episode(env, scen, a.reshape(T, scen.I, scen.K, J), a.dtype)
            assert score >= objective * (1 - 1e-9), (seed, kind, score, objective)
        vec = GreenLLMVectorEnvV2(num_envs=len(kinds), scenario=scen, action_mode=action_mode)
        vec.reset(seed=0)
        stacked = np.stack([k.reshape(T, -1).astype(np.float64) for k in kinds.values()], axis=1)
        total = np.zeros(len(kinds))
        for t in range(T):
            _, _, _, _, infos = vec.step(stacked[t])
            total += infos["cost_weighted"] + infos["penalty"]
        assert np.all(total >= objective * (1 - 1e-9)), dict(zip(kinds, total))


def test_exploit_search_covers_v1s_guard():
    """The same search on GreenLLM-v1 with its feasibility guard (the default there), never covered before."""
    from green_llm_env.env_v1 import GreenLLMEnvV1

    scen = make_scenario(3)
    objective = solve(scen).objective
    env = GreenLLMEnvV1(scenario=scen)
    T = scen.T
    kinds = _kinds(np.random.default_rng(1), T, scen.I * scen.K, scen.J)
    kinds["cheapest_water_blind"] = _greedy(scen, env.weights, True)
    kinds["thirstiest"] = _greedy(scen, env.weights, False)
    for kind, a in kinds.items():
        env.reset(seed=0)
        score = 0.0
        for t in range(T):
            _, _, _, _, info = env.step(np.asarray(a[t]).reshape(-1))
            score += info["cost_weighted"] + info["penalty"]
        assert score >= objective * (1 - 1e-9), (kind, score, objective)


def test_random_actions_meet_every_hourly_row():
    env = GreenLLMEnvV2()
    env.reset(seed=5)
    for _ in range(48):
        _, _, term, _, info = env.step(env.action_space.sample())
        for fam in ("allocation", "resource", "delay", "grid"):
            assert info[f"violation_{fam}"] <= 1e-9, fam
        if term:
            env.reset()


@pytest.mark.parametrize("kw", [{}, {"scenario_pool": 3}, {"generator": "v1", "forecast_hours": 3}])
def test_vector_env_equals_sync_vector_env_bit_for_bit(kw):
    E = 5
    sync = gym.make_vec(ID, num_envs=E, vectorization_mode="sync", **kw)
    vec = gym.make_vec(ID, num_envs=E, vectorization_mode="vector_entry_point", **kw)
    o1, i1 = sync.reset(seed=3)
    o2, i2 = vec.reset(seed=3)
    np.testing.assert_array_equal(o1, o2)
    for k in i1:
        np.testing.assert_array_equal(i1[k], i2[k])
        assert i1[k].dtype == i2[k].dtype, k
    rng = np.random.default_rng(0)
    for step in range(52):  # two episode boundaries (autoreset at the next step)
        a = rng.uniform(-1.2, 1.2, (E, 405)).astype(np.float32)
        r1, r2 = sync.step(a), vec.step(a)
        for q in range(4):
            np.testing.assert_array_equal(r1[q], r2[q], err_msg=f"step {step}, item {q}")
        assert set(r1[4]) == set(r2[4])
        for k in r1[4]:
            np.testing.assert_array_equal(r1[4][k], r2[4][k], err_msg=f"step {step}, {k}")
            assert r1[4][k].dtype == r2[4][k].dtype, k


def test_info_keys_are_fixed_and_numpy_scalars():
    env = gym.make(ID)
    _, info = env.reset(seed=0)
    assert tuple(info) == INFO_KEYS
    for _ in range(3):
        _, _, _, _, step_info = env.step(env.action_space.sample())
        assert tuple(step_info) == INFO_KEYS
        for k, v in step_info.items():
            assert isinstance(v, np.generic), (k, type(v))
    assert info["t"] == -1 and step_info["t"] == 2 and isinstance(info["scenario_seed"], np.int64)


def test_both_env_checkers_give_no_warning():
    """GreenLLM-v2 and GreenLLM-hybrid-v2. (GreenLLM-mo-v2's vector reward draws both checkers' scalar-reward
    warning by design, as every MO-Gymnasium env does; MO-Gymnasium's wrappers are run on it below.)"""
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    hybrid = (gym.make("green_llm_env:GreenLLM-hybrid-v2").unwrapped, gym.make("green_llm_env:GreenLLM-hybrid-v2").unwrapped)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(gym.make(ID).unwrapped)
        sb3_check_env(gym.make(ID).unwrapped)
        check_env(gym.make(ID, forecast_hours=4, action_mode="softmax").unwrapped)
        check_env(hybrid[0])
        sb3_check_env(hybrid[1])
    assert not caught, [str(w.message) for w in caught]


def test_features_are_read_by_name():
    env = GreenLLMEnvV2(forecast_hours=2, generator="v1")
    obs, _ = env.reset(seed=0)
    lay = env.layout
    assert obs.shape == (lay.size,) == env.observation_space.shape
    c, s = env.coef, env.scenario
    np.testing.assert_allclose(lay.decode(obs, "dcs.price"), c.price[0], rtol=1e-6)
    np.testing.assert_allclose(lay.decode(obs, "areas.demand"), s.lam[0].reshape(-1), rtol=1e-6)
    np.testing.assert_allclose(lay.decode(obs, "forecast_price")[..., 0], c.price[1:3], rtol=1e-6)
    assert lay.decode(obs, "globals.water_price") == pytest.approx(env.water_price, rel=1e-6)
    from green_llm_env import cost

    per = (cost.grid_price(c, env.weights)[0][None, :] * cost.facility_kw_per_share(c)[0]
           + env.weights[2] * cost.delay_usd_per_share(c)[0])
    np.testing.assert_allclose(lay.decode(obs, "options.cost_usd"), per, rtol=1e-6)
    with pytest.raises(KeyError, match="no feature"):
        lay.decode(obs, "dcs.nope")
    names = [row[1] for row in lay.table()]
    assert "water_price" in names and "delay_rel" in names


def test_multi_objective_reward_space_is_on_the_base_env():
    env = gym.make("green_llm_env:GreenLLM-mo-v2")
    assert env.unwrapped.reward_space.shape == (3,)
    scalar = gym.make(ID)
    env.reset(seed=4)
    scalar.reset(seed=4)
    a = scalar.action_space.sample()
    _, r_vec, _, _, _ = env.step(a)
    _, r, _, _, _ = scalar.step(a)
    assert float(np.dot(env.unwrapped.weights, r_vec)) == pytest.approx(r, rel=1e-5)


def test_mo_gymnasium_wrappers_run():
    mo = pytest.importorskip("mo_gymnasium")
    from mo_gymnasium.wrappers import LinearReward, MORecordEpisodeStatistics
    from mo_gymnasium.wrappers.vector import MOSyncVectorEnv

    lin = LinearReward(gym.make("green_llm_env:GreenLLM-mo-v2"), weight=np.full(3, 1 / 3))
    lin.reset(seed=0)
    assert np.isscalar(lin.step(lin.action_space.sample())[1])
    stats = MORecordEpisodeStatistics(gym.make("green_llm_env:GreenLLM-mo-v2"), gamma=0.99)
    stats.reset(seed=0)
    for _ in range(24):
        *_, info = stats.step(stats.action_space.sample())
    assert info["episode"]["r"].shape == (3,) and info["episode"]["l"] == 24
    vec = MOSyncVectorEnv([lambda: gym.make("green_llm_env:GreenLLM-mo-v2") for _ in range(2)])
    vec.reset(seed=0)
    assert vec.step(vec.action_space.sample())[1].shape == (2, 3)
    assert mo is not None


def test_elastic_oracle_is_what_v2_scores_even_below_the_dual():
    """With a water price below the budget's dual the oracle buys litres beyond the budget, and the env charges
    exactly that: the replay still equals the objective, and no plan beats it."""
    scen = make_scenario(13)  # its water dual is high
    env = GreenLLMEnvV2(water_price_factor=0.05, generator="v1")
    hard = solve(scen)
    res = solve(scen, water_price=scenario_water_price(scen, factor=0.05))
    assert res.water_price < hard.water_dual and res.water_overrun_l > 0 and res.objective < hard.objective
    score, _ = _episode(env, scen, res.plan)
    assert score == pytest.approx(res.objective, rel=1e-7)
    score_hard, _ = _episode(env, scen, hard.plan)
    assert score_hard >= res.objective * (1 - 1e-9)


def test_the_oracle_policy_plays_v2s_objective():
    from baselines.oracle_policy import OraclePolicy

    env = GreenLLMEnvV2()
    obs, _ = env.reset(seed=0)
    pol = OraclePolicy()
    pol.reset(env)
    total = 0.0
    for _ in range(env.horizon):
        obs, _, _, _, info = env.step(pol.act(obs, env))
        total += info["cost_weighted"] + info["penalty"]
    assert total == pytest.approx(pol.result.objective, rel=1e-9)


def test_sb3_vecenv_trains_and_resets_in_the_same_step():
    pytest.importorskip("stable_baselines3")
    from stable_baselines3 import PPO

    from green_llm_env.vector_v2 import SB3VecEnvV2

    venv = SB3VecEnvV2(num_envs=2, scenario_pool=4)
    venv.seed(0)
    obs = venv.reset()
    done_seen = False
    for _ in range(25):
        obs, rew, done, infos = venv.step(np.stack([venv.action_space.sample() for _ in range(2)]))
        if done.any():
            done_seen = True
            assert "terminal_observation" in infos[int(np.flatnonzero(done)[0])]
    assert done_seen and rew.dtype == np.float32
    PPO("MlpPolicy", venv, n_steps=16, batch_size=16, n_epochs=1, device="cpu").learn(32)


@pytest.mark.parametrize("kwargs, match", [
    ({"weights": (1, 1, 1)}, "weights must sum to 1"),
    ({"action_mode": "greedy"}, "action_mode"),
    ({"temperature": 0}, "temperature"),
    ({"reward": "pareto"}, "reward"),
    ({"reward_scale": -1}, "reward_scale"),
    ({"forecast_hours": 25}, "forecast_hours"),
    ({"generator": "v3"}, "generator"),
    ({"generator_kwargs": {"I": 0}}, r"generator_kwargs\['I'\]"),
    ({"generator_kwargs": {"colour": 1}}, "unknown key"),
    ({"scenario_pool": 0}, "scenario_pool"),
    ({"traces": "/nonexistent"}, "traces"),
    ({"water_price_factor": float("nan")}, "water_price_factor"),
    ({"render_mode": "human"}, "render_mode"),
])
def test_bad_arguments_name_the_culprit(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GreenLLMEnvV2(**kwargs)


def test_bad_actions_are_refused_before_anything_runs():
    env = GreenLLMEnvV2()
    env.reset(seed=0)
    a = env.action_space.sample()
    a[7] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        env.step(a)
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(3))
    assert env.t == 0
    env.step(env.action_space.sample())
    assert env.t == 1


def test_render_modes():
    env = GreenLLMEnvV2(render_mode="ansi")
    env.reset(seed=0)
    env.step(env.action_space.sample())
    assert "hour 0" in env.render()
    rgb = GreenLLMEnvV2(render_mode="rgb_array")
    rgb.reset(seed=0)
    frame = rgb.render()
    assert frame.ndim == 3 and frame.dtype == np.uint8


def test_hybrid_v2_plays_v2_with_a_water_price():
    from green_llm_env.hybrid_v2 import HYBRID_V2_FEATURES, WaterPriceLPV2

    env = gym.make("green_llm_env:GreenLLM-hybrid-v2")
    hybrid = env
    while not isinstance(hybrid, WaterPriceLPV2):
        hybrid = hybrid.env
    obs, info = env.reset(seed=0)
    assert obs.shape == (len(HYBRID_V2_FEATURES),) and "hour_water_price" in info
    scen = env.unwrapped.scenario
    res = _v2_oracle(scen, env.unwrapped)
    env.reset(seed=0, options={"scenario": scen})
    action = np.array([hybrid.action_of(max(res.water_dual, 1e-4))], np.float32)
    total = 0.0
    for _ in range(scen.T):
        obs, _, term, _, step_info = env.step(action)
        total += step_info["cost_weighted"] + step_info["penalty"]
        assert set(step_info) == set(info)
    assert term and 0.0 <= (total - res.objective) / res.objective < 0.02
    with pytest.raises(ValueError, match="finite"):
        hybrid.price([np.nan])
