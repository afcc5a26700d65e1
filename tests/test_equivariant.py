"""The permutation-equivariant allocation policy (agents.equivariant): symmetry, any size, cloning, loading."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

th = pytest.importorskip("torch")
pytest.importorskip("stable_baselines3")

from stable_baselines3 import PPO  # noqa: E402

from agents.equivariant import EquivariantPolicy, layout_of, resize_policy  # noqa: E402
from agents.imitation import OraclePlanExpert, behaviour_clone, expert_rollouts  # noqa: E402


def _model(env, **kw):
    th.manual_seed(0)
    return PPO("EquivariantPolicy", env, n_steps=24, batch_size=24, seed=0, device="cpu",
               policy_kwargs=dict(layout=layout_of(env), hidden=16, rounds=2, **kw))


def _shares(model, obs):
    with th.no_grad():
        return model.policy.mlp_extractor(th.as_tensor(np.asarray(obs, np.float32)[None]))[0].numpy()[0]


def _permute(layout, obs, perm_n, perm_j):
    """The observation of the same hour with (area, type) rows and DCs renumbered."""
    parts = {k: np.array(v) for k, v in layout.split(obs).items()}
    parts["options"] = parts["options"][perm_n][:, perm_j]
    parts["dcs"] = parts["dcs"][perm_j]
    parts["areas"] = parts["areas"][perm_n]
    for k in ("forecast_price", "forecast_renewable", "forecast_carbon", "forecast_water"):
        if k in parts:
            parts[k] = parts[k][:, perm_j]
    if "forecast_demand" in parts:
        parts["forecast_demand"] = parts["forecast_demand"][:, perm_n]
    out = np.empty_like(obs)
    for k, v in parts.items():
        out[layout.slices[k]] = v.reshape(-1)
    return out


@pytest.mark.parametrize("forecast_hours", [0, 3])
def test_renumbering_areas_types_and_dcs_renumbers_the_allocation(forecast_hours):
    env = gym.make("green_llm_env:GreenLLM-v1", forecast_hours=forecast_hours, forecast_noise=0.1)
    model = _model(env)
    obs, _ = env.reset(seed=3)
    obs, *_ = env.step(env.action_space.sample())  # some water used: the globals are not at their start values
    layout = env.unwrapped.layout
    N, J = layout.I * layout.K, layout.J
    rng = np.random.default_rng(0)
    perm_n, perm_j = rng.permutation(N), rng.permutation(J)
    x = _shares(model, obs).reshape(N, J)
    y = _shares(model, _permute(layout, obs, perm_n, perm_j)).reshape(N, J)
    np.testing.assert_allclose(y, x[perm_n][:, perm_j], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(x.sum(1), 1.0, atol=1e-5)
    assert not np.allclose(x, x[:, perm_j])  # the shares do depend on which DC is which


def test_a_dcs_load_reaches_every_option_that_may_use_it():
    """Coupling: changing one (area, type)'s demand changes the scores of the other rows (through the loads
    and the pooled embeddings), which an independent per-option scorer could not do."""
    env = gym.make("green_llm_env:GreenLLM-v1")
    model = _model(env)
    obs, _ = env.reset(seed=4)
    layout = env.unwrapped.layout
    N, J, F = layout.I * layout.K, layout.J, layout.R + 4
    heavier = np.array(obs)
    opt = heavier[layout.slices["options"]].reshape(N, J, F)
    opt[0, :, 1:] *= 5.0  # row 0 needs five times the resources, power, water and cost
    heavier[layout.slices["options"]] = opt.reshape(-1)
    x, y = _shares(model, obs).reshape(N, J), _shares(model, heavier).reshape(N, J)
    assert np.abs(x[1:] - y[1:]).max() > 1e-4


def test_same_weights_any_size_and_the_guard_takes_its_actions():
    env = gym.make("green_llm_env:GreenLLM-v1")
    model = _model(env)
    small = gym.make("green_llm_env:GreenLLM-v1", generator_kwargs=dict(I=6, J=6))
    policy = resize_policy(model.policy, small.observation_space, small.action_space, layout_of(small))
    assert sum(p.numel() for p in policy.parameters()) == sum(p.numel() for p in model.policy.parameters())
    obs, _ = small.reset(seed=1)
    total_penalty = 0.0
    for _ in range(24):
        action, _ = policy.predict(obs, deterministic=True)
        assert action.shape == small.action_space.shape
        obs, _, terminated, truncated, info = small.step(action)
        total_penalty += info["penalty"]
        if terminated or truncated:
            break
    assert terminated and total_penalty == 0.0
    with pytest.raises(ValueError, match="R and H must stay"):
        policy.mlp_extractor.set_layout((6, 5, 6, 3, 4))
    with pytest.raises(ValueError, match="layout="):
        EquivariantPolicy(small.observation_space, small.action_space, lambda _: 1e-3, layout=(9, 5, 9, 3, 0))


def test_cloning_the_oracle_plan_lowers_its_loss():
    env = gym.make("green_llm_env:GreenLLM-v1")
    model = _model(env)
    obs, actions = expert_rollouts(env, OraclePlanExpert(), [10_000])
    assert obs.shape == (24, env.observation_space.shape[0]) and actions.shape == (24, 405)
    np.testing.assert_allclose(actions.reshape(24, 45, 9).sum(-1), 1.0, atol=1e-6)
    critic = [p.detach().clone() for n, p in model.policy.named_parameters() if "critic" in n]
    losses = behaviour_clone(model, obs, actions, epochs=15, batch_size=24, learning_rate=3e-3)
    assert losses[-1] < 0.8 * losses[0]
    after = [p for n, p in model.policy.named_parameters() if "critic" in n]
    assert all(th.equal(a, b) for a, b in zip(critic, after))  # cloning moves the actor only


def test_save_and_load_round_trip(tmp_path):
    env = gym.make("green_llm_env:GreenLLM-v1")
    model = _model(env, log_std_init=-2.5)
    obs, _ = env.reset(seed=2)
    model.save(tmp_path / "m.zip")
    again = PPO.load(tmp_path / "m.zip", device="cpu")
    assert isinstance(again.policy, EquivariantPolicy) and again.policy.alloc_layout == (9, 5, 9, 3, 0)
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], again.predict(obs, deterministic=True)[0])
    assert float(again.policy.log_std.detach()) == pytest.approx(-2.5)
