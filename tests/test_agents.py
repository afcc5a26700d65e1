"""agents/: algorithm registry, device choice, RL-Zoo hyperparameters, run layout, signals, the Policy adapter."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import signal
import time

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")
pytest.importorskip("sb3_contrib")

import torch  # noqa: E402

import agents  # noqa: E402
from agents.hyperparams import (HYPERPARAMS_DIR, load_hyperparams, make_action_noise, parse_normalize,  # noqa: E402
                                parse_policy_kwargs, parse_value, split_hyperparams)
from agents.registry import ALGOS, ON_POLICY, RunLayout, canonical_name, get_algo, resolve_device  # noqa: E402


# ------------------------------------------------------------------------------------------ registry
def test_registry_names_match_the_light_list():
    assert sorted(ALGOS) == sorted(agents.ALGO_NAMES)
    assert ON_POLICY < set(ALGOS)


@pytest.mark.parametrize("name, cls", [("ppo", "PPO"), ("PPO", "PPO"), ("recurrent_ppo", "RecurrentPPO"),
                                       ("ppo_lstm", "RecurrentPPO"), ("tqc", "TQC"), ("ddpg", "DDPG")])
def test_get_algo(name, cls):
    assert get_algo(name).__name__ == cls


def test_unknown_algo_names_the_value():
    with pytest.raises(ValueError, match="'dqn'"):
        get_algo("dqn")


@pytest.mark.parametrize("algo", ["ppo", "a2c", "recurrentppo"])
def test_auto_device_is_cpu_for_on_policy_mlp(algo):
    assert resolve_device("auto", algo) == "cpu"


@pytest.mark.parametrize("algo", ["sac", "td3", "ddpg", "tqc"])
def test_auto_device_prefers_cuda_for_off_policy(algo):
    assert resolve_device("auto", algo) == ("cuda" if torch.cuda.is_available() else "cpu")


def test_auto_device_cnn_ppo_may_use_cuda():
    assert resolve_device("auto", "ppo", "CnnPolicy") == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_gpu_is_a_clear_error():
    with pytest.raises(RuntimeError, match="device='cuda': CUDA is not available"):
        resolve_device("cuda", "ppo")


def test_bad_device_names_the_value():
    with pytest.raises(ValueError, match="'tpu'"):
        resolve_device("tpu", "ppo")


# ---------------------------------------------------------------------------------- hyperparameters
@pytest.mark.parametrize("text, value", [("3", 3), ("3e-4", 3e-4), ("0.5", 0.5), ("true", True), ("False", False),
                                         ("none", None), ("[1, 2]", [1, 2]), ("{a: 1}", {"a": 1}),
                                         ("lin_3e-4", "lin_3e-4"), ("MlpPolicy", "MlpPolicy")])
def test_parse_value(text, value):
    assert parse_value(text) == value


def test_policy_kwargs_string():
    kw = parse_policy_kwargs("dict(net_arch=dict(pi=[64, 64], vf=[32]), activation_fn=nn.ReLU, "
                             "log_std_init=-2, ortho_init=False, optimizer_class=th.optim.Adam)")
    assert kw == {"net_arch": {"pi": [64, 64], "vf": [32]}, "activation_fn": torch.nn.ReLU, "log_std_init": -2,
                  "ortho_init": False, "optimizer_class": torch.optim.Adam}


@pytest.mark.parametrize("text", ["__import__('os').system('true')", "open('x')", "nn.ReLU()", "dict(a=nn.__class__)",
                                  "[1, 2]", "dict(a=b)"])
def test_policy_kwargs_rejects_code(text):
    with pytest.raises(ValueError, match="policy_kwargs="):
        parse_policy_kwargs(text)


@pytest.mark.parametrize("value, expected", [(True, {}), (False, None), (None, None), ("true", {}),
                                             ("{'norm_obs': True, 'norm_reward': False}",
                                              {"norm_obs": True, "norm_reward": False})])
def test_parse_normalize(value, expected):
    assert parse_normalize(value) == expected


def test_parse_normalize_rejects_garbage():
    with pytest.raises(ValueError, match="normalize="):
        parse_normalize("sometimes")


def test_env_entry_over_default_then_overrides(tmp_path):
    path = tmp_path / "x.yml"
    path.write_text("default:\n  n_envs: 4\n  gamma: 0.9\nGreenLLM-v0:\n  gamma: 0.95\n  n_steps: 64\n")
    raw = load_hyperparams("x", "green_llm_env:GreenLLM-v0", path, {"n_steps": 32})
    assert raw == {"n_envs": 4, "gamma": 0.95, "n_steps": 32}
    assert load_hyperparams("x", "Other-v0", path) == {"n_envs": 4, "gamma": 0.9}


def test_missing_file_and_entry(tmp_path):
    with pytest.raises(FileNotFoundError, match="algo='nope'"):
        load_hyperparams("nope", path=tmp_path / "nope.yml")
    path = tmp_path / "y.yml"
    path.write_text("Pendulum-v1:\n  n_envs: 1\n")
    with pytest.raises(ValueError, match="no entry for env 'GreenLLM-v0'"):
        load_hyperparams("y", "GreenLLM-v0", path)


def test_split_schedules_and_run_keys():
    kwargs, run = split_hyperparams({"n_timesteps": 2e5, "n_envs": 8, "normalize": True, "policy": "MlpPolicy",
                                     "learning_rate": "lin_3e-4", "clip_range": "lin_0.2", "train_freq": [1, "episode"],
                                     "batch_size": 64.0, "policy_kwargs": "dict(net_arch=[8])"})
    assert run == {"n_timesteps": 200000, "n_envs": 8, "normalize": {}, "policy": "MlpPolicy", "noise_type": None,
                   "noise_std": None, "obs_features": None, "residual": None,
                   "residual_scale": 0.5, "shield": None, "action_groups": None, "pretrain": None,
                   "pretrain_episodes": 300, "pretrain_epochs": 60, "pretrain_dagger": 0, "pretrain_lr": 1e-3,
                   "pretrain_scale": 1.0, "pretrain_threads": None,
                   "analytic_iters": 0, "analytic_envs": 32, "analytic_lr": 3e-4,
                   "env_wrapper": None, "callback": None, "extra_wrappers": [], "extra_callbacks": []}
    assert kwargs["learning_rate"](1.0) == pytest.approx(3e-4) and kwargs["learning_rate"](0.5) == pytest.approx(1.5e-4)
    assert kwargs["clip_range"](0.0) == pytest.approx(0.0)
    assert kwargs["train_freq"] == (1, "episode") and kwargs["batch_size"] == 64
    assert kwargs["policy_kwargs"] == {"net_arch": [8]}
    assert isinstance(pickle.loads(pickle.dumps(kwargs["learning_rate"]))(1.0), float)


def test_split_rejects_unsupported_keys():
    with pytest.raises(ValueError, match="'frame_stack'"):
        split_hyperparams({"frame_stack": 4})


def test_action_noise():
    assert make_action_noise(None, None, 3) is None
    assert make_action_noise("normal", 0.2, 3)().shape == (3,)
    with pytest.raises(ValueError, match="noise_type='pink'"):
        make_action_noise("pink", 0.1, 3)


@pytest.mark.parametrize("algo", sorted(ALGOS))
def test_every_yaml_builds_its_algorithm(algo):
    """Each hyperparams/<algo>.yml has a GreenLLM-v0 entry whose settings construct the algorithm."""
    from stable_baselines3.common.env_util import make_vec_env

    raw = load_hyperparams(algo, "GreenLLM-v0")
    assert (HYPERPARAMS_DIR / f"{algo}.yml").is_file() and "n_timesteps" in raw and "n_envs" in raw
    kwargs, run = split_hyperparams(raw)
    env = make_vec_env("Pendulum-v1", n_envs=run["n_envs"])
    noise = make_action_noise(run["noise_type"], run["noise_std"], 1)
    if noise is not None:
        kwargs["action_noise"] = noise
    kwargs.update({"buffer_size": 100} if "buffer_size" in kwargs else {})
    model = ALGOS[algo](run["policy"] or agents.registry.DEFAULT_POLICY[algo], env, device="cpu", **kwargs)
    assert model.num_timesteps == 0


# ------------------------------------------------------------------------------------------- layout
def test_run_layout_numbers_runs(tmp_path):
    first = RunLayout.new(str(tmp_path), "ppo", "GreenLLM-v0")
    assert first.run_dir == tmp_path / "ppo" / "GreenLLM-v0_1"
    (tmp_path / "ppo" / "GreenLLM-v0_3").mkdir(parents=True)
    (tmp_path / "ppo" / "Other-v0_7").mkdir()
    assert RunLayout.new(str(tmp_path), "ppo", "GreenLLM-v0").run_dir.name == "GreenLLM-v0_4"
    assert first.model.name == "GreenLLM-v0.zip" and first.vecnormalize.parent.name == "GreenLLM-v0"


def _fake_model(path, steps: int) -> None:
    """A zip with the ``data`` member of an SB3 model (all that `saved_steps` reads)."""
    import zipfile

    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("data", json.dumps({"num_timesteps": steps}))


def test_latest_state_is_the_most_steps_not_the_newest_file(tmp_path):
    from agents.registry import saved_steps

    layout = RunLayout(tmp_path / "run", "GreenLLM-v0")
    layout.run_dir.mkdir()
    with pytest.raises(FileNotFoundError, match="holds no model"):
        layout.latest_state()
    _fake_model(layout.run_dir / "rl_model_100_steps.zip", 100)
    _fake_model(layout.run_dir / "rl_model_200_steps.zip", 200)
    assert layout.latest_state()[0].name == "rl_model_200_steps.zip"
    assert layout.latest_state()[1].name == "rl_model_vecnormalize_200_steps.pkl"
    _fake_model(layout.model, 150)  # a copied run: the final model is the newest file but has fewer steps
    os.utime(layout.model, (time.time() + 5, time.time() + 5))
    assert layout.latest_state()[0].name == "rl_model_200_steps.zip"
    _fake_model(layout.model, 250)
    assert layout.latest_state()[0] == layout.model and saved_steps(layout.model) == 250
    assert [s for s, _ in layout.checkpoints()] == [100, 200]

    damaged = []
    layout.model.write_bytes(layout.model.read_bytes()[:10])  # truncated
    (layout.run_dir / "rl_model_200_steps.zip").write_bytes(b"")  # empty
    state = layout.latest_state(on_damaged=lambda path, why: damaged.append((path.name, why)))
    assert state[0].name == "rl_model_100_steps.zip"
    assert [d[0] for d in damaged] == ["GreenLLM-v0.zip", "rl_model_200_steps.zip"]
    assert all("not a readable SB3 model zip" in d[1] for d in damaged)
    (layout.run_dir / "rl_model_100_steps.zip").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="every model zip is damaged"):
        layout.latest_state()


# ------------------------------------------------------------------------------------------ signals
def test_signal_guard_records_then_forces():
    from agents.callbacks import SignalGuard

    before = signal.getsignal(signal.SIGTERM)
    with SignalGuard() as guard:
        assert guard.exit_code == 0
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        assert guard.signum == signal.SIGTERM and guard.exit_code == 143
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
    assert signal.getsignal(signal.SIGTERM) is before


def test_stop_callback_stops_learn_early():
    import gymnasium as gym
    from stable_baselines3 import PPO

    from agents.callbacks import SignalGuard, StopTrainingOnSignal

    model = PPO("MlpPolicy", gym.make("Pendulum-v1"), n_steps=64, batch_size=32, n_epochs=1, device="cpu", seed=0)
    guard = SignalGuard()
    with guard:
        guard.signum = signal.SIGTERM  # as if a signal had arrived
        model.learn(10_000, callback=StopTrainingOnSignal(guard))
    assert model.num_timesteps == 1


# ------------------------------------------------------------------------------------- Policy adapter
def test_trained_policy_normalises_and_predicts_deterministically(tmp_path):
    import gymnasium as gym
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    from agents.policy import TrainedPolicy

    venv = VecNormalize(DummyVecEnv([lambda: gym.make("Pendulum-v1")]))
    venv.obs_rms.mean[:] = [0.5, -0.5, 1.0]
    venv.obs_rms.var[:] = [4.0, 0.25, 9.0]
    model = PPO("MlpPolicy", venv, device="cpu", seed=1)
    policy = TrainedPolicy(model, venv, name="ppo")
    obs = np.array([0.3, 0.9, -2.0], np.float32)
    policy.reset(None)
    action = policy.act(obs, None)
    expected, _ = model.predict(venv.normalize_obs(obs)[None], deterministic=True)
    assert action.dtype == np.float32 and action.shape == (1,)
    np.testing.assert_array_equal(action, expected[0])
    unnormalised, _ = model.predict(obs[None], deterministic=True)
    assert not np.allclose(action, unnormalised[0])  # the statistics are really applied

    # a saved run folder loads back into the same policy
    layout = RunLayout(tmp_path / "ppo" / "Pendulum-v1_1", "Pendulum-v1")
    layout.params_dir.mkdir(parents=True)
    model.save(str(layout.model))
    venv.save(str(layout.vecnormalize))
    (layout.args).write_text("algo: ppo\nenv_kwargs: {forecast_hours: 3, penalty_factor: 2.0}\n")
    (layout.config).write_text("normalize: true\n")  # train.py always writes it: how the model was trained
    loaded = TrainedPolicy.load(layout.run_dir)
    assert loaded.name == "ppo" and loaded.kind == "learned" and loaded.env_kwargs == {"forecast_hours": 3}
    np.testing.assert_array_equal(loaded.act(obs, None), action)


def test_loader_is_registered_with_baselines():
    from baselines.policy import available_policies, make_policy, PolicySpecError

    assert {f"{a}=PATH" for a in agents.ALGO_NAMES} <= set(available_policies())
    with pytest.raises(FileNotFoundError, match="neither a training run folder"):
        make_policy("ppo=/nonexistent/run")
    with pytest.raises(PolicySpecError):
        make_policy("dqn=/nonexistent/run")


def test_recurrent_policy_carries_state():
    import gymnasium as gym
    from sb3_contrib import RecurrentPPO

    from agents.policy import TrainedPolicy

    model = RecurrentPPO("MlpLstmPolicy", gym.make("Pendulum-v1"), n_steps=16, batch_size=16, device="cpu", seed=0)
    policy = TrainedPolicy(model)
    assert policy.recurrent
    policy.reset(None)
    obs = np.array([1.0, 0.0, 0.5], np.float32)
    first = policy.act(obs, None)
    assert policy._state is not None
    policy.reset(None)
    np.testing.assert_array_equal(policy.act(obs, None), first)


# ------------------------------------------------------------------------------- observation features
def test_dc_features_match_the_scenario():
    import gymnasium as gym

    from agents.policy import FeatureObservation, dc_features, feature_size

    env = FeatureObservation(gym.make("green_llm_env:GreenLLM-v0"), "dc")
    obs, _ = env.reset(seed=0, options={"scenario_seed": 900})
    base = env.unwrapped
    J, coef = base.J, base.coef
    assert obs.shape == env.observation_space.shape == (base.observation_space.shape[0] + feature_size("dc", J),)
    extra = obs[-feature_size("dc", J):]
    np.testing.assert_allclose(extra[:J], coef.water_l_per_kwh[0] * coef.pue / 1.5, rtol=1e-6)
    np.testing.assert_allclose(extra[J:2 * J], (coef.pue - 1.2) / 0.2, rtol=1e-5, atol=1e-6)
    # headroom: DC j can host at most this share of the hour's demand without exceeding a capacity
    share = extra[2 * J:3 * J]
    use = coef.resource[0].sum(0)[:, None] * share[None, :]
    assert np.all(use <= coef.capacity * (1 + 1e-5)) and np.any(np.isclose(use, coef.capacity, rtol=1e-5) | (share == 5))
    assert 0 < extra[-1] <= 5
    obs2, *_ = env.step(np.zeros(env.action_space.shape, np.float32))
    np.testing.assert_allclose(obs2[-feature_size("dc", J):], dc_features(coef, 1, base.water_left_l), rtol=1e-6)
    with pytest.raises(ValueError, match="obs_features='xyz'"):
        feature_size("xyz", 9)


def test_native_and_single_env_features_agree():
    import gymnasium as gym
    from green_llm_env.vector import SB3VecEnv

    from agents.policy import FeatureObservation, FeatureVecEnv

    venv = FeatureVecEnv(SB3VecEnv(num_envs=2), "dc")
    venv.seed(5)
    single = [FeatureObservation(gym.make("green_llm_env:GreenLLM-v0"), "dc") for _ in range(2)]
    obs = venv.reset()
    ref = np.stack([e.reset(seed=5 + i)[0] for i, e in enumerate(single)])
    np.testing.assert_allclose(obs, ref, rtol=1e-6)
    rng = np.random.default_rng(0)
    for _ in range(3):
        act = rng.uniform(-1, 1, (2,) + venv.action_space.shape).astype(np.float32)
        obs, *_ = venv.step(act)
        ref = np.stack([e.step(a)[0] for e, a in zip(single, act)])
        np.testing.assert_allclose(obs, ref, rtol=1e-5, atol=1e-6)


def test_residual_wrapper_with_zero_action_plays_the_base_policy():
    import gymnasium as gym

    from agents.callbacks import evaluate_oracle_gap
    from agents.policy import ResidualAction, make_base_policy

    wrapped = ResidualAction(gym.make("green_llm_env:GreenLLM-v0"), "uniform", 0.3)
    wrapped.reset(seed=0, options={"scenario_seed": 901})
    cost = 0.0
    for _ in range(24):
        _, _, terminated, _, info = wrapped.step(np.zeros(wrapped.action_space.shape, np.float32))
        cost += info["cost_weighted"] + info["penalty"]
    ref = evaluate_oracle_gap(make_base_policy("uniform"), gym.make("green_llm_env:GreenLLM-v0"), [901])
    assert terminated and cost == pytest.approx(ref["cost_usd"][0], rel=1e-9)
    with pytest.raises(ValueError, match="residual_scale=0"):
        ResidualAction(gym.make("green_llm_env:GreenLLM-v0"), "uniform", 0)


# ------------------------------------------------------------------------------------------ shield
def test_water_shield_removes_the_water_overrun():
    import gymnasium as gym

    from agents.policy import ShieldAction

    plain = gym.make("green_llm_env:GreenLLM-v0")
    shielded = ShieldAction(gym.make("green_llm_env:GreenLLM-v0"), "water")
    totals = []
    for env in (plain, shielded):
        env.reset(seed=0, options={"scenario_seed": 900})
        viol, cost = np.zeros(5), 0.0
        for _ in range(24):  # a zero action is the uniform allocation, which overruns the water budget
            _, _, terminated, _, info = env.step(np.zeros(env.action_space.shape, np.float32))
            viol += np.array(list(info["violations"].values()))
            cost += info["cost_weighted"]
        totals.append((viol, cost, env.unwrapped.water_left_l))
    assert totals[0][0][4] > 1.0  # the plain env charged a water overrun ...
    assert np.all(totals[1][0] <= 1e-6 * shielded.unwrapped.coef.water_budget_l)  # ... the shield prevents all
    assert totals[1][2] >= -1e-6
    assert shielded.shield.blended > 0


def test_water_shield_leaves_allocations_that_fit():
    from green_llm_env import make_scenario
    from green_llm_env.cost import coefficients

    from agents.policy import WaterShield

    coef = coefficients(make_scenario(3))
    shield = WaterShield()
    x = np.full((coef.N, coef.J), 1.0 / coef.J)
    assert shield.apply(x, coef, 0, 1e12) is x  # plenty of water: untouched
    out = shield.apply(x, coef, 5, 0.0)  # nothing left: the least-water allocation
    np.testing.assert_allclose(out, shield.least[5])
    np.testing.assert_allclose(out.sum(-1), 1.0)


def test_native_and_single_env_shields_agree():
    import gymnasium as gym
    from green_llm_env.vector import SB3VecEnv

    from agents.policy import ShieldAction, ShieldVecEnv

    venv = ShieldVecEnv(SB3VecEnv(num_envs=2), "water")
    venv.seed(11)
    single = [ShieldAction(gym.make("green_llm_env:GreenLLM-v0"), "water") for _ in range(2)]
    venv.reset()
    for i, e in enumerate(single):
        e.reset(seed=11 + i)
    rng = np.random.default_rng(1)
    for _ in range(24):
        act = rng.uniform(-1, 1, (2,) + venv.action_space.shape).astype(np.float32)
        _, rew, _, _ = venv.step(act)
        ref = [e.step(a)[1] for e, a in zip(single, act)]
        np.testing.assert_allclose(rew, ref, rtol=1e-6)
    with pytest.raises(ValueError, match="needs action_mode='project'"):
        ShieldAction(gym.make("green_llm_env:GreenLLM-v0", action_mode="softmax"), "water")


# ------------------------------------------------------------------------------------ grouped actions
@pytest.mark.parametrize("groups, size", [(None, 405), ("j", 9), ("kj", 45)])
def test_grouped_actions_repeat_over_areas(groups, size):
    from agents.policy import expand_action, group_size

    assert group_size(groups, 9, 5, 9) == size
    a = np.arange(2 * size, dtype=np.float32).reshape(2, size)
    full = expand_action(a, groups, 9, 5, 9).reshape(2, 9, 5, 9)
    if groups == "j":
        assert np.all(full == a[:, None, None, :])
    elif groups == "kj":
        assert np.all(full == a.reshape(2, 1, 5, 9))
    else:
        assert np.all(full.reshape(2, -1) == a)


def test_grouped_native_and_single_env_agree():
    import gymnasium as gym
    from green_llm_env.vector import SB3VecEnv

    from agents.policy import GroupedAction, GroupedVecEnv

    venv = GroupedVecEnv(SB3VecEnv(num_envs=2), "kj")
    single = [GroupedAction(gym.make("green_llm_env:GreenLLM-v0"), "kj") for _ in range(2)]
    assert venv.action_space.shape == single[0].action_space.shape == (45,)
    venv.seed(3)
    venv.reset()
    for i, e in enumerate(single):
        e.reset(seed=3 + i)
    act = np.random.default_rng(2).uniform(-1, 1, (2, 45)).astype(np.float32)
    _, rew, _, _ = venv.step(act)
    np.testing.assert_allclose(rew, [e.step(a)[1] for e, a in zip(single, act)], rtol=1e-6)


# ------------------------------------------------------------------------------- the agent settings
def test_agent_settings_one_object_for_every_route(tmp_path):
    """`AgentSettings`: one default per setting, validated once (the error names key, rule and value), and the
    same object from a YAML entry (flat or Zoo form), a run's config.yml and the Zoo warm-start callback."""
    from agents.hyperparams import load_hyperparams
    from agents.imitation import ImitationWarmStart
    from agents.registry import read_run_yaml
    from agents.settings import AgentSettings, SettingError, read_agent_settings
    from agents.training import write_yaml

    default = AgentSettings()
    assert (default.obs_features, default.residual, default.residual_scale, default.shield, default.action_groups,
            default.pretrain, default.pretrain_episodes, default.pretrain_epochs, default.pretrain_dagger,
            default.pretrain_lr, default.pretrain_scale) == (None, None, 0.5, None, None, None, 300, 60, 0, 1e-3, 1.0)
    assert read_agent_settings({}) == default and default.warm_start_size == (300, 0)
    with pytest.raises(SettingError, match=r"pretrain_episodes=0: expected an integer >= 1") as err:
        AgentSettings(pretrain_episodes=0)
    assert (err.value.key, err.value.value) == ("pretrain_episodes", 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        default.shield = "water"  # type: ignore[misc]
    assert AgentSettings(shield="none", pretrain="off") == default
    raw = load_hyperparams("ppo", "GreenLLM-v0", overrides={"pretrain": "oracle_price", "pretrain_episodes": 40,
                                                              "pretrain_scale": 0.5})
    from_yaml = split_hyperparams(raw)[1].agent
    assert from_yaml == read_agent_settings(raw) and from_yaml.pretrain_episodes == 40
    assert from_yaml.warm_start_size == (20, 0) and split_hyperparams(raw)[1]["pretrain_episodes"] == 20
    write_yaml(tmp_path / "config.yml", raw)  # as train.py stores a run's config.yml
    assert read_agent_settings(read_run_yaml(tmp_path / "config.yml")) == from_yaml
    zoo = {"env_wrapper": [{"agents.policy.ShieldAction": {"shield": "water"}}, "agents.policy.FeatureObservation"],
           "callback": [{"agents.imitation.ImitationWarmStart": {"episodes": 40, "scale": 0.5}}]}
    flat = {"shield": "water", "obs_features": "dc", "pretrain": "oracle_price", "pretrain_episodes": 40,
            "pretrain_scale": 0.5}
    assert read_agent_settings(zoo) == read_agent_settings(flat)
    assert ImitationWarmStart(episodes=40, scale=0.5).settings == read_agent_settings({**flat, "shield": None,
                                                                                       "obs_features": None})
