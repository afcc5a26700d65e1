"""GreenLLM-v2's torch backend (CPU here): its step equals the compiled (numba) step, the oracle's plan replays to
its objective through it, bad inputs are refused in one line, and PPO on the device path trains and saves a run
that evaluate.py's loader plays."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from baselines import solve  # noqa: E402
from green_llm_env.core.batch import INFO_KEYS  # noqa: E402
from green_llm_env.core.water import scenario_water_price  # noqa: E402
from green_llm_env.vector_torch import GreenLLMTorchVectorEnv  # noqa: E402

ID = "green_llm_env:GreenLLM-v2"


def _pair(E: int, dtype: str = "float64", **kw):
    numba = gym.make_vec(ID, num_envs=E, vectorization_mode="vector_entry_point", **kw)
    tch = gym.make_vec(ID, num_envs=E, vectorization_mode="vector_entry_point", backend="torch", dtype=dtype, **kw)
    return numba, tch


def _close(a: np.ndarray, b: np.ndarray, rtol: float, what: str) -> None:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = max(1.0, float(np.abs(a).max()))
    err = float(np.abs(a - b).max()) / scale if a.size else 0.0
    assert err <= rtol, f"{what}: max |diff| / scale = {err:.3e} > {rtol:.1e}"


def _run(numba, tch, actions: list[np.ndarray], rtol: float, obs_rtol: float) -> dict[str, float]:
    """Step both envs with the same actions; returns the largest repair move seen per env."""
    o1, i1 = numba.reset(seed=11)
    o2, i2 = tch.reset(seed=11)
    _close(o1, o2.numpy(), obs_rtol, "reset observation")
    moved = 0.0
    for q, a in enumerate(actions):
        r1 = numba.step(a)
        r2 = tch.step(torch.from_numpy(a))
        _close(r1[0], r2[0].numpy(), obs_rtol, f"observation at step {q}")
        _close(r1[1], r2[1].numpy(), rtol, f"reward at step {q}")
        assert np.array_equal(r1[2], r2[2].numpy()) and np.array_equal(r1[3], r2[3].numpy())
        for k in INFO_KEYS:
            _close(r1[4][k], r2[4][k].numpy(), rtol, f"info[{k!r}] at step {q}")
            assert r2[4]["_" + k].all()
        moved = max(moved, float(r1[4]["repair_distance"].max()))
    return {"moved": moved}


@pytest.mark.parametrize("kw", [{}, {"action_mode": "softmax", "forecast_hours": 3},
                                {"generator": "v1", "reward": "vector"}])
def test_torch_step_equals_numba_float64(kw):
    """Random actions (inside and beyond the Box: repairs of every family) over two episodes and the autoreset
    between them: rewards and infos to 1e-9 relative, observations to float32 round-off."""
    E, T = 6, 5
    numba, tch = _pair(E, generator_kwargs={"T": T}, **kw)
    rng = np.random.default_rng(0)
    shape = numba.action_space.shape
    acts = [rng.uniform(-1.0, 1.0, shape).astype(np.float32) * (3.0 if q % 2 else 1.0) for q in range(2 * T + 2)]
    J = numba.unwrapped.core.J
    for q in range(0, len(acts), 3):  # everything sent to one or two DCs: capacity and delay repairs
        hot = np.full((E, shape[1] // J, J), -1.0, np.float32)
        hot[:, :, q % J] = 1.0
        hot[: E // 2, ::2, (q + 1) % J] = 0.7
        acts[q] = hot.reshape(E, -1)
    seen = _run(numba, tch, acts, 1e-9, 2e-7)
    assert seen["moved"] > 0.0  # the repair ran


def test_repeated_scenarios_are_copied_into_each_envs_slot():
    """A pool (keys repeat: the tables are copied into the envs' own slots) and a pinned scenario: the same
    transitions as numba over two episodes."""
    from green_llm_env import make_scenario

    E, T = 5, 3
    rng = np.random.default_rng(2)
    for kw in ({"scenario_pool": 2, "generator_kwargs": {"T": T}}, {"scenario": make_scenario(4, T=T)}):
        numba, tch = _pair(E, **kw)
        acts = [rng.uniform(-1, 1, numba.action_space.shape).astype(np.float32) for _ in range(2 * T + 2)]
        _run(numba, tch, acts, 1e-9, 2e-7)


def test_torch_step_float32_is_within_its_round_off():
    E, T = 4, 4
    numba, tch = _pair(E, dtype="float32", generator_kwargs={"T": T})
    rng = np.random.default_rng(1)
    acts = [rng.uniform(-2, 2, numba.action_space.shape).astype(np.float32) for _ in range(T + 1)]
    _run(numba, tch, acts, 2e-5, 2e-5)


@pytest.mark.parametrize("dtype, act, rtol", [("float64", np.float64, 1e-9), ("float64", np.float32, 1e-6),
                                              ("float32", np.float32, 1e-5)])
def test_the_oracle_plan_replays_through_the_torch_env(dtype, act, rtol):
    """Each sub-env's oracle plan earns the oracle's objective (float64: exactly; cast to float32, the action
    dtype: within 1e-6, as on the numba env)."""
    E = 3
    env = GreenLLMTorchVectorEnv(num_envs=E, dtype=dtype)
    env.reset(seed=1000)
    plans, goals = [], []
    for i in range(E):
        scen = env.scenario(i)
        res = solve(scen, env.config.weights, water_price=scenario_water_price(scen, env.config.weights))
        plans.append(np.asarray(res.plan).reshape(scen.T, -1))
        goals.append(res.objective)
    for t in range(env.T):
        *_, info = env.step(torch.from_numpy(np.stack([p[t] for p in plans]).astype(act)))
    score = (info["episode_cost_weighted"] + info["episode_penalty"]).numpy()
    assert np.allclose(score, goals, rtol=rtol, atol=0.0), (score, goals)


def test_scenario_bank_plays_bank_scenarios_on_the_device():
    env = gym.make_vec(ID, num_envs=8, vectorization_mode="vector_entry_point", backend="torch", scenario_bank=5,
                       generator_kwargs={"T": 3})
    obs, info = env.reset(seed=4)
    bank = {int(s) for s in env.tab.seed}
    assert len(env.tab.seed) == 5 and set(info["scenario_seed"].tolist()) <= bank
    for _ in range(2 * 3 + 2):
        obs, rew, term, trunc, info = env.step(torch.zeros(env.action_space.shape))
        assert torch.isfinite(rew).all() and torch.isfinite(obs).all()
    assert set(info["scenario_seed"].tolist()) <= bank
    again = gym.make_vec(ID, num_envs=8, vectorization_mode="vector_entry_point", backend="torch", scenario_bank=5,
                         generator_kwargs={"T": 3})
    o2, i2 = again.reset(seed=4)
    o1, i1 = env.reset(seed=4)  # the same seed: the same bank and the same picks
    assert torch.equal(again.tab.seed, env.tab.seed) and torch.equal(again.slot, env.slot) and torch.equal(o1, o2)
    env.step(torch.zeros(env.action_space.shape))
    # one bank scenario played on the numba env gives the same reward for the same action
    i = 0
    scen = env.scenario(i)
    single = gym.make(ID, generator_kwargs={"T": 3})
    single.reset(options={"scenario": scen})
    env.reset(seed=4)
    a = np.full(env.action_space.shape, 0.25, np.float32)
    _, r_t, *_ = env.step(torch.from_numpy(a))
    _, r_n, *_ = single.step(a[env.slot.tolist().index(int(env.slot[i]))])
    assert r_t[i].item() == pytest.approx(r_n, rel=1e-9)


@pytest.mark.parametrize("kwargs, match", [
    ({"backend": "jax"}, "backend must be one of"),
    ({"backend": "torch", "device": "tpu:9"}, "device must name"),
    ({"backend": "torch", "dtype": "float16"}, "dtype must be one of"),
    ({"backend": "torch", "scenario_bank": 0}, "scenario_bank must be"),
    ({"backend": "torch", "scenario_bank": True}, "scenario_bank must be"),
])
def test_bad_backend_arguments_name_the_culprit(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gym.make_vec(ID, num_envs=2, vectorization_mode="vector_entry_point", **kwargs)


def test_bad_actions_are_refused_with_the_state_unchanged():
    env = GreenLLMTorchVectorEnv(num_envs=2, generator_kwargs={"T": 3})
    env.reset(seed=0)
    a = torch.zeros(env.action_space.shape)
    bad = a.clone()
    bad[1, 4] = float("nan")
    for action, match in ((bad, "NaN or inf"), (torch.zeros(2, 3), "shape"), (a.long(), "float"),
                          ([0.0] * 4, "torch tensor"), (np.zeros(env.action_space.shape, np.int64), "float")):
        with pytest.raises(ValueError, match=match):
            env.step(action)
    assert env.t.tolist() == [0, 0]
    env.step(a)
    assert env.t.tolist() == [1, 1]


def test_device_ppo_trains_and_saves_a_run_the_loader_plays(tmp_path):
    pytest.importorskip("stable_baselines3")
    from agents.device_ppo import DevicePPOSettings, run
    from agents.policy import TrainedPolicy
    from green_llm_env.env_v2 import GreenLLMEnvV2

    kw = {"generator_kwargs": {"T": 4}}
    settings = DevicePPOSettings(n_envs=16, batch_size=32, n_epochs=2, net_arch=(32,))
    layout = run(str(tmp_path), 3 * 16 * 4, settings, "cpu", 0, env_kwargs=kw, command="test", quiet=True)
    curves = np.loadtxt(layout.run_dir / "curves.csv", delimiter=",", skiprows=1)
    assert curves.shape == (3, 7) and np.isfinite(curves).all()
    policy = TrainedPolicy.load(layout.run_dir)
    env = GreenLLMEnvV2(**kw)
    obs, _ = env.reset(seed=1)
    a = policy.act(obs, env)
    assert np.asarray(a).shape == env.action_space.shape
    with pytest.raises(ValueError, match="unknown device-PPO setting"):
        DevicePPOSettings.from_pairs({"learning_rat": 1e-3})
    with pytest.raises(ValueError, match="gamma must be"):
        DevicePPOSettings(gamma=1.5)


def test_bank_refresh_draws_a_new_bank_every_k_episodes_reproducibly():
    def seeds_over(episodes: int) -> list[list[int]]:
        env = GreenLLMTorchVectorEnv(num_envs=2, scenario_bank=3, bank_refresh=2, generator_kwargs={"T": 2})
        env.reset(seed=5)
        banks = [env.tab.seed.tolist()]
        for _ in range(episodes * 3):  # T steps + the autoreset step per episode
            env.step(torch.zeros(env.action_space.shape))
            if env.tab.seed.tolist() != banks[-1]:
                banks.append(env.tab.seed.tolist())
        return banks

    first = seeds_over(5)
    assert len(first) >= 2 and first[0] != first[1]
    assert seeds_over(5) == first
    with pytest.raises(ValueError, match="bank_refresh must be"):
        GreenLLMTorchVectorEnv(num_envs=2, bank_refresh=2)
