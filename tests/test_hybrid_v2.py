"""The hybrid agent on GreenLLM-v2 (green_llm_env.hybrid_v2, agents.imitation.OraclePriceExpert on v2,
agents.oracle_reward, the shipped rl-trained-agents/ppo/GreenLLM-hybrid-v2_1)."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "rl-trained-agents" / "ppo" / "GreenLLM-hybrid-v2_1"
HYBRID_V2 = "green_llm_env:GreenLLM-hybrid-v2"


def _play(env, policy, seed):
    """(episode cost + penalty, v2's oracle objective) of one episode of ``policy`` on scenario ``seed``."""
    from baselines import solve
    from baselines.rollout import play_episode

    spent = []
    play_episode(env, policy, seed=seed, options={"scenario_seed": seed},
                 on_step=lambda h, r, info: spent.append(info["cost_weighted"] + info["penalty"]))
    base = env.unwrapped
    return sum(spent), solve(base.scenario, base.weights, water_price=base.water_price).objective


def test_the_v2_price_expert_reproduces_v2s_oracle():
    """Each hour's LP at v2's oracle water dual replays the oracle (seed 900 paid 2.3% before an overrunning hour
    was capped at the water left instead of re-solved at mu_w for the whole hour)."""
    from agents.imitation import OraclePriceExpert

    env = gym.make(HYBRID_V2)
    for seed in (900, 901):
        total, oracle = _play(env, OraclePriceExpert(), seed)
        assert -1e-7 <= (total - oracle) / oracle < 1e-3, seed


def test_the_v2_expert_label_is_its_action_on_its_path_and_rises_when_water_is_short():
    from agents.imitation import OraclePriceExpert

    env = gym.make(HYBRID_V2)
    expert = OraclePriceExpert()
    obs, _ = env.reset(seed=0, options={"scenario_seed": 902})
    expert.reset(env)
    np.testing.assert_allclose(expert.label(env), expert.act(obs, env), atol=1e-4)
    for _ in range(12):
        obs, *_ = env.step(expert.act(obs, env))
    np.testing.assert_allclose(expert.label(env), expert.act(obs, env), atol=0.02)  # degenerate hours move it a little
    for _ in range(6):  # water at the top price: the least water; then at the bottom: the most
        obs, *_ = env.step(np.array([-1.0], np.float32))
    assert expert.label(env)[0] > expert.act(obs, env)[0]


def test_the_day_curve_reads_the_forecast():
    """With an exact forecast the day curve's crossing is the oracle's price at hour 0; with noise it is near."""
    from agents.imitation import OraclePriceExpert
    from green_llm_env.hybrid_v2 import HYBRID_V2_FEATURES

    day = HYBRID_V2_FEATURES.index("day_action")
    for noise, tol in ((0.0, 0.03), (0.1, 0.3)):
        env = gym.make(HYBRID_V2, forecast_noise=noise)
        obs, _ = env.reset(seed=0, options={"scenario_seed": 901})
        expert = OraclePriceExpert()
        expert.reset(env)
        assert abs(obs[day] - expert.act(obs, env)[0]) < tol, noise
    with pytest.raises(ValueError, match="forecast_noise"):
        gym.make(HYBRID_V2, forecast_noise=-0.1)


def test_the_day_price_rule_reads_the_crossing_and_is_the_residual_agents_base():
    """``day_price`` plays ``day_action + margin`` by name; with the exact day it is within 1% of the oracle on a
    validation seed; it refuses a non-finite margin and an observation of another env; a residual with a zero
    correction plays it exactly."""
    from agents.policy import residual_action
    from baselines import make_policy
    from baselines.hybrid_rules import DayPricePolicy
    from green_llm_env.hybrid_v2 import HYBRID_V2_FEATURES

    rule = make_policy("day_price:margin=0.1")
    assert isinstance(rule, DayPricePolicy) and rule.env_id == "GreenLLM-hybrid-v2" and rule.kind == "heuristic"
    env = gym.make(HYBRID_V2, forecast_noise=0.0)
    obs, _ = env.reset(seed=0, options={"scenario_seed": 902})
    assert rule.act(obs)[0] == pytest.approx(obs[HYBRID_V2_FEATURES.index("day_action")] + 0.1, abs=1e-6)
    assert np.array_equal(residual_action(rule, 0.25, obs, env.unwrapped, np.zeros(1, np.float32)),
                          rule.act(obs).astype(np.float64))
    total, oracle = _play(env, make_policy("day_price"), 902)
    assert 0.0 <= (total - oracle) / oracle < 0.01
    with pytest.raises(ValueError, match="margin"):
        DayPricePolicy(margin=float("nan"))
    with pytest.raises(ValueError, match="action"):
        make_policy("constant_price:action=abc")
    assert make_policy("constant_price:action=0.5").act(obs).tolist() == [0.5]
    with pytest.raises(ValueError, match="day_action"):
        rule.act(np.zeros(5, np.float32))


def test_the_capped_rule_and_the_forecast_planner():
    """``day_price:cap=true`` never prices water above mu_w and needs the env to read it; ``forecast_lp`` plans on
    the env's ``forecast_scenario`` (the exact day at sigma 0, where it replays the oracle within 0.1%; hour 0
    exact and later hours off at sigma 0.1) and refuses to act without the env."""
    from baselines import make_policy

    env = gym.make(HYBRID_V2, forecast_noise=0.0)
    obs, _ = env.reset(seed=0, options={"scenario_seed": 902})
    hyb = env.unwrapped
    top = hyb.action_of(hyb.water_price)
    assert top < 1.0
    assert make_policy("day_price:margin=5:cap=true").act(obs, hyb)[0] == pytest.approx(top, abs=1e-6)
    assert make_policy("day_price:margin=5").act(obs, hyb)[0] > 1.0  # off by default: the published rule
    with pytest.raises(ValueError, match="cap"):
        make_policy("day_price:cap=true").act(obs)
    with pytest.raises(ValueError, match="cap"):
        make_policy("day_price:cap=yes")
    assert np.array_equal(hyb.forecast_scenario.lam, hyb.scenario.lam)
    planner = make_policy("forecast_lp")
    assert planner.kind == "mpc_noisy" and planner.env_id == "GreenLLM-hybrid-v2"
    with pytest.raises(ValueError, match="forecast_scenario"):
        planner.act(obs)
    total, oracle = _play(env, planner, 902)
    assert 0.0 <= (total - oracle) / oracle < 1e-3
    noisy = gym.make(HYBRID_V2).unwrapped
    noisy.reset(seed=0, options={"scenario_seed": 902})
    seen, real = noisy.forecast_scenario, noisy.scenario
    assert np.array_equal(seen.lam[0], real.lam[0]) and not np.allclose(seen.lam[1:], real.lam[1:])


def test_the_gap_reward_sums_to_minus_the_oracle_gap():
    from agents.oracle_reward import OracleGapReward

    env = OracleGapReward(gym.make(HYBRID_V2))
    obs, _ = env.reset(seed=0, options={"scenario_seed": 903})
    base = env.unwrapped
    from baselines import solve

    oracle = solve(base.scenario, base.weights, water_price=base.water_price).objective
    ret = spent = 0.0
    while True:
        obs, r, term, _, info = env.step(np.array([0.3], np.float32))
        ret += r
        spent += info["cost_weighted"] + info["penalty"]
        if term:
            break
    assert abs(ret + 100.0 * (spent - oracle) / oracle) < 1e-6


@pytest.mark.skipif(not SHIPPED.is_dir(), reason="no shipped GreenLLM-hybrid-v2 agent")
def test_the_shipped_hybrid_v2_agent_and_its_clone_load_and_play():
    pytest.importorskip("stable_baselines3")
    from agents.policy import TrainedPolicy

    policy = TrainedPolicy.load(SHIPPED)
    assert policy.env_id.endswith("GreenLLM-hybrid-v2")
    clone = TrainedPolicy.load(SHIPPED / "rl_model_0_steps.zip")
    env = gym.make(HYBRID_V2)
    for pol in (policy, clone):
        total, oracle = _play(env, pol, 900)
        assert 0.0 <= (total - oracle) / oracle < 0.05


RESIDUALS = (("GreenLLM-hybrid-v2_2", "day_price:margin=0.1"), ("GreenLLM-hybrid-v2_9", "sampled_price"))


@pytest.mark.parametrize("run, base", RESIDUALS)
def test_the_shipped_residual_hybrids_play_their_rule_plus_a_small_correction(run, base):
    """GreenLLM-hybrid-v2_2 is residual on day_price:margin=0.1, _9 (shipped) on sampled_price (read back from their
    config.yml); the action stays within 0.25 of the rule's, and the day on a validation seed within 0.5 points
    of the rule's."""
    pytest.importorskip("stable_baselines3")
    from agents.policy import TrainedPolicy
    from baselines import make_policy

    folder = ROOT / "rl-trained-agents" / "ppo" / run
    if not folder.is_dir():
        pytest.skip(f"no shipped residual agent {run}")
    policy = TrainedPolicy.load(folder)
    assert policy.env_id.endswith("GreenLLM-hybrid-v2") and policy.residual == base
    rule = make_policy(base)
    env = gym.make(HYBRID_V2)
    obs, _ = env.reset(seed=0, options={"scenario_seed": 905})
    policy.reset(env.unwrapped)
    rule.reset(env.unwrapped)
    assert abs(float(policy.act(obs, env.unwrapped)[0]) - float(rule.act(obs, env.unwrapped)[0])) <= 0.25 + 1e-6
    (agent_total, oracle), (rule_total, _) = _play(env, policy, 905), _play(env, rule, 905)
    assert 0.0 <= (agent_total - oracle) / oracle < 0.05
    assert abs(agent_total - rule_total) / oracle < 0.005


def test_the_sampled_price_rule_hedges_the_forecast_and_replays_exactly():
    """``sampled_price`` draws days around the env's forecast (σ = 0: the exact day, where it plays near the oracle),
    replays an episode exactly from its seed and the forecast, checks its options and needs the env."""
    from baselines import make_policy
    from baselines.policy import PolicySpecError
    from green_llm_env.hybrid_v2 import scaled_scenario

    exact = gym.make(HYBRID_V2, forecast_noise=0.0)
    total, oracle = _play(exact, make_policy("sampled_price:samples=1:margin=0"), 902)
    assert 0.0 <= (total - oracle) / oracle < 5e-3

    env = gym.make(HYBRID_V2)
    obs, _ = env.reset(seed=0, options={"scenario_seed": 904})
    hyb = env.unwrapped
    same = scaled_scenario(hyb.forecast_scenario, np.ones)
    assert np.array_equal(same.lam, hyb.forecast_scenario.lam) and np.array_equal(same.WUE, hyb.forecast_scenario.WUE)
    acts = []
    for seed in (0, 0, 1):
        rule = make_policy(f"sampled_price:samples=3:points=5:seed={seed}")
        rule.reset(hyb)
        acts.append(rule.act(obs, hyb)[0])
        assert rule._later.shape == (3, hyb.scenario.T, 5) and not rule._later[:, 0].any()
    assert acts[0] == acts[1] != acts[2]
    assert -1.0 <= acts[0] <= hyb.action_of(hyb.water_price) + 1e-6
    # the samples scatter around the forecast: their later hours' water at the lowest price (the curve's first)
    ratio = rule._later[:, 1:, 0].sum(axis=1) / hyb._future[1:, 0].sum()
    assert np.all(np.abs(ratio - 1.0) < 0.1) and np.ptp(ratio) > 0
    for bad, key in (("samples=0", "samples"), ("points=1", "points"), ("margin=nan", "margin"), ("seed=-1", "seed")):
        with pytest.raises(PolicySpecError, match=key):
            make_policy(f"sampled_price:{bad}")
    with pytest.raises(ValueError, match="reset"):
        make_policy("sampled_price").act(obs, hyb)
