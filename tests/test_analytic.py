"""The analytic stage (`agents.analytic`): the cost it differentiates is the env's, its gradient reaches the actor,
its loop and callback run and validate their settings, and its YAML form folds like the warm start's."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import green_llm_env  # noqa: F401  (registers the ids)
from agents.analytic import RESERVED_SEEDS, AnalyticGradient, _reset_training, analytic_finetune, episode_cost, \
    make_torch_env
from agents.equivariant import EquivariantPolicy, policy_kwargs_of
from agents.hyperparams import zoo_overrides
from agents.policy import TrainedPolicy
from agents.settings import ANALYTIC_CALLBACK, WARM_START_CALLBACK, SettingError, read_agent_settings
from baselines.rollout import play_episode


def _model(seed: int = 0):
    """A small untrained SB3 PPO model with v2's equivariant policy."""
    from stable_baselines3 import PPO

    env = gym.make("GreenLLM-v2")
    kwargs = {**policy_kwargs_of(env), "hidden": 8, "rounds": 1, "capacity_margin": 0.0, "capacity_passes": 1}
    return PPO(EquivariantPolicy, env, policy_kwargs=kwargs, n_steps=24, batch_size=24, seed=seed, device="cpu")


def _policy(seed: int = 0) -> EquivariantPolicy:
    return _model(seed).policy


def test_episode_cost_is_the_envs_episode_cost():
    """One day of the policy through `episode_cost` costs what the torch env's own steps charge (to 1e-9) and
    what the numba env charges for the same scenarios (float32 actions there: to 1e-6)."""
    model = _model()
    actor = model.policy.mlp_extractor.forward_actor
    venv = make_torch_env("GreenLLM-v2", 3)
    venv.reset(seed=5)
    with torch.no_grad():
        cost, pen = episode_cost(actor, venv)
        obs, _ = venv.reset(seed=5)
        for _ in range(24):
            obs, _, done, _, info = venv.step(actor(obs))
    stepped = (info["episode_cost_weighted"] + info["episode_penalty"]).numpy()
    assert bool(done.all())
    np.testing.assert_allclose((cost + pen).numpy(), stepped, rtol=1e-9)
    seeds = venv.unwrapped.tab.seed[venv.unwrapped.slot].numpy()
    env = gym.make("GreenLLM-v2")
    played = TrainedPolicy(model)
    for s, want in zip(seeds, stepped):
        last: dict = {}
        obs, _ = env.reset(seed=0, options={"scenario_seed": int(s)})
        play_episode(env, played, obs=obs, on_step=lambda h, r, i: last.update(i))
        assert abs(last["episode_cost_weighted"] + last["episode_penalty"] - want) <= 1e-6 * want


def test_the_gradient_reaches_every_actor_parameter_and_the_water_links_hours():
    """The day's cost has a finite gradient on the actor's parameters (not the critic's), and an early hour's
    shares get gradient from a later hour's water penalty through the litres left."""
    policy = _policy()
    venv = make_torch_env("GreenLLM-v2", 2)
    venv.reset(seed=3)
    cost, pen = episode_cost(policy.mlp_extractor.forward_actor, venv)
    (cost + pen).sum().backward()
    grads = [p.grad for p in policy.imitation_parameters()]
    assert all(g is not None and bool(torch.isfinite(g).all()) for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0.0
    # the water link: the litres of hour 0 change hour 1's penalty when hour 1 overspends what is left
    core = venv.unwrapped
    from green_llm_env import kernels
    from green_llm_env.core.torch_step import step_terms

    x = torch.full((core.num_envs, core.N, core.J), 1.0 / core.J, dtype=torch.float64, requires_grad=True)
    out0 = step_terms(core.tab, core.slot * core.T, x, torch.full((core.num_envs,), 1e9, dtype=torch.float64), False,
                      1.0, core.R)
    w0 = out0.nums[:, 6]
    left1 = (w0.detach() + 1e-3) - w0  # hour 0 leaves 1 mL: hour 1 overspends the budget
    out1 = step_terms(core.tab, core.slot * core.T + 1, x.detach(), left1, False, 1.0, core.R)
    assert float(out0.nums[:, kernels.N_NUMBERS].sum().detach()) == 0.0
    assert float(out1.nums[:, kernels.N_NUMBERS].min().detach()) > 0.0
    out1.nums[:, kernels.N_NUMBERS].sum().backward()
    assert float(x.grad.abs().sum()) > 0.0


def test_finetune_runs_stops_and_logs(tmp_path):
    """A few iterations change the actor (not the critic), log one row each, and ``stop`` ends the loop early."""
    policy = _policy()
    before = [p.detach().clone() for p in policy.imitation_parameters()]
    critic = [p.detach().clone() for n, p in policy.mlp_extractor.named_parameters() if n.startswith("critic")]
    rows: list = []
    out = analytic_finetune(policy, "GreenLLM-v2", iterations=2, envs=2, learning_rate=1e-3, seed=1, log=None,
                            curve=rows.append)
    assert out["iterations"] == 2 and out["scenarios"] == 4 and not out["stopped"]
    assert [r["iteration"] for r in rows] == [1, 2] and all(np.isfinite(r["cost_weighted"]) for r in rows)
    assert any(not torch.equal(a, b) for a, b in zip(before, policy.imitation_parameters()))
    after = [p for n, p in policy.mlp_extractor.named_parameters() if n.startswith("critic")]
    assert all(torch.equal(a, b) for a, b in zip(critic, after))
    threads = torch.get_num_threads()
    calls = iter([False, True])
    seen: list = []
    out = analytic_finetune(policy, "GreenLLM-v2", iterations=5, envs=2, stop=lambda: next(calls), log=None,
                            curve=lambda row: seen.append(torch.get_num_threads()), threads=threads + 1)
    assert out["iterations"] == 1 and out["stopped"]
    assert seen == [threads + 1] and torch.get_num_threads() == threads  # the stage's threads, then restored
    assert analytic_finetune(policy, "GreenLLM-v2", iterations=0, log=None)["iterations"] == 0


def test_training_scenarios_avoid_the_reserved_seeds(monkeypatch):
    """Every training batch's scenario seeds are >= RESERVED_SEEDS; a batch with a lower one is redrawn."""
    import agents.analytic as analytic

    venv = make_torch_env("GreenLLM-v2", 4)
    for it in range(3):
        _reset_training(venv, 0, it)
        assert int(venv.unwrapped.tab.seed[venv.unwrapped.slot].min()) >= RESERVED_SEEDS
    # with a bar above half the seed range, most batches of 4 need several draws: still none below it
    monkeypatch.setattr(analytic, "RESERVED_SEEDS", 2 ** 30)
    _reset_training(venv, 0, 0)
    assert int(venv.unwrapped.tab.seed[venv.unwrapped.slot].min()) >= 2 ** 30


def test_settings_name_the_argument():
    with pytest.raises(SettingError, match=r"analytic_iters=-1: expected an integer >= 0"):
        analytic_finetune(_policy(), iterations=-1, log=None)
    with pytest.raises(SettingError, match=r"analytic_lr=2.0: expected a learning rate"):
        analytic_finetune(_policy(), iterations=1, learning_rate=2.0, log=None)
    with pytest.raises(SettingError, match=r"^envs=0: expected an integer >= 1"):
        AnalyticGradient(envs=0)
    from stable_baselines3 import PPO

    mlp = PPO("MlpPolicy", gym.make("GreenLLM-v2"), device="cpu").policy
    with pytest.raises(ValueError, match="needs a policy whose network maps observations to the allocation"):
        analytic_finetune(mlp, iterations=1, log=None)


def test_the_zoo_form_and_the_flat_keys():
    """The callback entry reads as the flat settings; flat overrides fold into the entry after the warm start's,
    and ``analytic_iters:0`` drops it."""
    s = read_agent_settings({"callback": [{ANALYTIC_CALLBACK: {"iterations": 50, "envs": 8}}]})
    assert (s.analytic_iters, s.analytic_envs, s.analytic_lr) == (50, 8, 3e-4)
    assert read_agent_settings({"callback": [ANALYTIC_CALLBACK]}).analytic_iters == 600
    assert read_agent_settings({}).analytic_iters == 0
    with pytest.raises(ValueError, match=r"unknown keyword\(s\) \['iters'\]"):
        read_agent_settings({"callback": [{ANALYTIC_CALLBACK: {"iters": 5}}]})
    entry = {"callback": [{WARM_START_CALLBACK: {"expert": "oracle_plan"}}]}
    out = zoo_overrides(entry, {"analytic_iters": 10, "pretrain_episodes": 4})
    assert out["callback"] == [{WARM_START_CALLBACK: {"expert": "oracle_plan", "episodes": 4}},
                               {ANALYTIC_CALLBACK: {"iterations": 10}}]
    both = {"callback": out["callback"]}
    assert zoo_overrides(both, {"analytic_iters": 0})["callback"] == [{WARM_START_CALLBACK: {"expert": "oracle_plan",
                                                                                             "episodes": 4}}]
    assert zoo_overrides(both, {"pretrain_epochs": 3})["callback"][1] == {ANALYTIC_CALLBACK: {"iterations": 10}}


def test_train_stage_saves_restarts_and_resumes(tmp_path, monkeypatch):
    """`agents.training.run_analytic`: a stopped stage keeps nothing (``--resume`` restarts it); a finished one
    saves its model, curve and summary; a resumed run whose latest state is the warm start's gets the stage's
    weights; a run already into RL, or started from ``-i``, is left as it is."""
    from types import SimpleNamespace

    import agents.analytic as analytic
    from agents.registry import RunLayout
    from agents.analytic import ANALYTIC_MODEL
    from agents.training import run_analytic

    layout = RunLayout.new(str(tmp_path), "ppo", "GreenLLM-v2")
    run = SimpleNamespace(settings={"analytic_iters": 2, "analytic_envs": 2, "analytic_lr": 1e-3}, model_path=None,
                          resume=None, layout=layout, env_id="GreenLLM-v2", env_kwargs={}, seed=0,
                          args={"no_progress_bar": True}, algo="ppo")
    env = SimpleNamespace(close=lambda: None)
    real = analytic.analytic_finetune
    monkeypatch.setattr(analytic, "analytic_finetune", lambda *a, **k: {"stopped": True, "iterations": 1})
    assert run_analytic(run, _model(), env) == 130
    assert not (layout.params_dir / "analytic.yml").exists() and not (layout.run_dir / ANALYTIC_MODEL).exists()
    monkeypatch.setattr(analytic, "analytic_finetune", real)
    model = _model()
    assert run_analytic(run, model, env) is None
    assert (layout.run_dir / ANALYTIC_MODEL).is_file() and (layout.params_dir / "analytic.yml").is_file()
    tuned = {k: v.clone() for k, v in model.policy.state_dict().items()}
    resumed = _model()  # --resume from the warm start's checkpoint: the stage's weights, no second stage
    run.resume, run.model_path = str(layout.run_dir), "rl_model_0_steps.zip"
    monkeypatch.setattr(analytic, "analytic_finetune", lambda *a, **k: pytest.fail("the stage ran twice"))
    assert run_analytic(run, resumed, env) is None
    assert all(torch.equal(tuned[k], v) for k, v in resumed.policy.state_dict().items())
    (layout.params_dir / "analytic.yml").unlink()  # a run into RL without a finished stage: left as it is
    later = _model()
    later.num_timesteps = 48
    assert run_analytic(run, later, env) is None
    run.resume = None  # -i: a given model is trained as it is
    assert run_analytic(run, _model(), env) is None


def test_train_refuses_the_stage_where_it_cannot_run(tmp_path):
    """Before any warm start: an MlpPolicy, or an env whose action is not v2's allocation, stops train.py in one
    line naming analytic_iters."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for extra in (["--hyperparams", "policy:MlpPolicy", "policy_kwargs:dict(net_arch=[8])", "analytic_iters:5"],
                  ["--env", "GreenLLM-v1", "--hyperparams", "analytic_iters:5"]):
        proc = subprocess.run([sys.executable, str(root / "train.py"), "--algo", "ppo", "-n", "64", "-f",
                               str(tmp_path), "--no-progress-bar", *extra], capture_output=True, text=True,
                              timeout=300, cwd=root)
        assert proc.returncode == 2 and "analytic_iters=5: the analytic stage" in proc.stderr, proc.stderr[-2000:]
        assert "warm start" not in proc.stdout
