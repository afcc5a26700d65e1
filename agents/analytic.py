"""Analytic-gradient fine-tuning of a pure GreenLLM-v2 policy through the env's torch step.

GreenLLM-v2's step is also written in torch (`green_llm_env.core.torch_step`): the action map, the continuous
repair, the cost model and the penalties are torch operations, piecewise differentiable in the shares. So a
day's cost, Σ_t (cost_weighted_t + penalty_t) in $, is a differentiable function of the policy's parameters,
and its gradient can be followed directly (a differentiable simulator, as in analytic policy gradients):

- B training scenarios are played at once on the torch vector env (``backend="torch"``), the policy's mean
  action (the allocation) every hour;
- each hour's observation is read as the env writes it and detached (the network sees what it sees when it
  acts); the gradient reaches each hour's shares through that hour's cost and, through the litres left, through
  every later hour's water penalty, which is what the per-step advantages of PPO miss (`docs/agents.md`: the
  budget's price arrives hours after the litres that spent it);
- the loss is the mean over scenarios of cost / cost.detach() (each day's relative change, so that cheap and
  dear days weigh alike); Adam on the actor's parameters (`EquivariantPolicy.imitation_parameters`), the
  gradient's norm clipped at 1, the step size decayed along a cosine to 5% of ``learning_rate``.

Training scenarios come from the env's generator, seeded ``seed * 1_000_003 + iteration``; a batch that
contains a scenario seed below `RESERVED_SEEDS` (validation 900-999, held-out 1000-1099, the warm start's
10000-10599) is redrawn, so those scenarios are never trained on.

`analytic_finetune` is the loop; `AnalyticGradient` is the same as an SB3 callback, so that RL Zoo's
``callback:`` key runs it after the warm start; ``train.py`` reads its kwargs as its ``analytic_*`` settings and
runs the stage between the warm start and RL (`agents.training.run_analytic`).
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable

import numpy as np

from .settings import ANALYTIC_CALLBACK, ANALYTIC_ITERATIONS, AgentSettings, stage_settings
from .threads import torch_threads

__all__ = ["ANALYTIC_MODEL", "ANALYTIC_THREADS", "AnalyticGradient", "RESERVED_SEEDS", "allocates",
           "analytic_finetune", "episode_cost", "make_torch_env"]

ANALYTIC_MODEL = "analytic_model.zip"
"""The model after the analytic stage, before RL, in a train.py run folder (``evaluate.py`` plays it like a
checkpoint)."""

ANALYTIC_THREADS = 2
"""Torch CPU threads of the stage (``threads``): its batch (256 scenario-days of the 64-wide network) is large
enough for a second thread to pay (2.4 s against 3.3 s per iteration on the 2-core machine), where PPO's small
minibatches run fastest on one (``train.py``'s default). A fixed number, not the core count, so that a run
gives the same numbers on any machine; ``train.py --num-threads N`` sets it too."""

RESERVED_SEEDS = 20_000
"""Scenario seeds below this are never trained on by the analytic stage (see the module docstring)."""


def make_torch_env(env_id: str, n_envs: int, device: Any = "cpu", env_kwargs: dict[str, Any] | None = None) -> Any:
    """The torch vector env of ``env_id`` (a GreenLLM-v2 id) with ``n_envs`` scenarios at once, float64."""
    import gymnasium as gym

    return gym.make_vec(env_id, num_envs=int(n_envs), vectorization_mode="vector_entry_point", backend="torch",
                        device=str(device), dtype="float64", **(env_kwargs or {}))


def episode_cost(actor: Callable[[Any], Any], venv: Any) -> tuple[Any, Any]:
    """(weighted cost $, penalty $), each (B,), of one day of ``actor`` (float32 observations (B, D) -> shares
    (B, N·J) on the simplex) on the scenarios ``venv`` (a torch vector env) was last reset to, differentiable in
    what ``actor`` computes. The env itself is not stepped: its tables are read, its state left as it is."""
    import torch

    from green_llm_env import kernels
    from green_llm_env.core.torch_step import observe, step_terms

    core = venv.unwrapped
    tab, slot, T, R, E, N, J = core.tab, core.slot, core.T, core.R, core.num_envs, core.N, core.J
    left = core.water_left_l
    t = torch.zeros(E, dtype=torch.int64, device=left.device)
    cost = torch.zeros(E, dtype=left.dtype, device=left.device)
    pen = torch.zeros_like(cost)
    for hour in range(T):
        obs = observe(tab, slot, t, left.detach(), T, R, core.layout, hour)
        shares = actor(obs).reshape(E, N, J).to(left.dtype)
        out = step_terms(tab, slot * T + t, shares, left, core.config.action_mode == "softmax",
                         core.config.temperature, R)
        cost = cost + out.nums[:, 0]
        pen = pen + out.nums[:, kernels.N_NUMBERS]
        left = left - out.nums[:, 6]
        t = t + 1
    return cost, pen


def allocates(policy: Any) -> bool:
    """Whether ``policy``'s network maps observations to the allocation itself (``mlp_extractor.forward_actor``
    and ``imitation_parameters``, as `agents.equivariant.EquivariantPolicy`), which the stage differentiates."""
    return hasattr(policy, "imitation_parameters") and hasattr(getattr(policy, "mlp_extractor", None), "forward_actor")


def _reset_training(venv: Any, seed: int, iteration: int) -> None:
    """Reset ``venv`` to the iteration's training scenarios (none below `RESERVED_SEEDS`)."""
    core = venv.unwrapped
    draw = 0
    while True:
        venv.reset(seed=(seed * 1_000_003 + iteration) * 101 + draw)
        if int(core.tab.seed[core.slot].min()) >= RESERVED_SEEDS:
            return
        draw += 1


def analytic_finetune(policy: Any, env_id: str = "GreenLLM-v2", iterations: int = ANALYTIC_ITERATIONS,
                      envs: int = AgentSettings.analytic_envs, learning_rate: float = AgentSettings.analytic_lr,
                      seed: int = 0, env_kwargs: dict[str, Any] | None = None,
                      stop: Callable[[], bool] | None = None, log: Callable[[str], None] | None = print,
                      progress: bool = False, curve: Callable[[dict[str, float]], None] | None = None,
                      threads: int | None = ANALYTIC_THREADS) -> dict[str, Any]:
    """Fine-tune ``policy`` (an `agents.equivariant.EquivariantPolicy`, or any SB3 policy whose
    ``mlp_extractor.forward_actor`` maps observations to the allocation) in place by the gradient of the day's
    cost (see the module docstring): ``iterations`` steps of Adam on ``envs`` scenarios each.

    ``stop()`` is checked between iterations (the stage then ends early, ``stopped`` in the summary);
    ``iterations=0`` does nothing. ``curve(row)`` gets every iteration's numbers (iteration, mean weighted cost
    $, mean penalty $, gradient norm, step size, seconds); ``progress``: a tqdm bar. Returns a summary:
    iterations done, scenarios played, seconds, the mean day cost (weighted $ + penalty $) of the first and of
    the last 10% of iterations. ``threads``: torch's CPU threads while the stage runs (restored after; None:
    as they are)."""
    import torch

    checked = AgentSettings(analytic_iters=iterations, analytic_envs=envs, analytic_lr=learning_rate)
    iterations, envs, learning_rate = checked.analytic_iters, checked.analytic_envs, checked.analytic_lr
    if not allocates(policy):
        raise ValueError(f"the analytic stage needs a policy whose network maps observations to the allocation "
                         f"(agents.equivariant.EquivariantPolicy); got {type(policy).__name__}")
    net = policy.mlp_extractor
    stop = stop or (lambda: False)
    say = log or (lambda _: None)
    if not iterations:
        return {"iterations": 0, "scenarios": 0, "envs": int(envs), "learning_rate": float(learning_rate),
                "seconds": 0.0, "stopped": False, "day_usd_first": None, "day_usd_last": None}
    venv = make_torch_env(env_id, envs, policy.device, env_kwargs)  # (the torch backend refuses price actions)
    params = policy.imitation_parameters()
    opt = torch.optim.Adam(params, lr=float(learning_rate))
    floor = 0.05 * float(learning_rate)
    policy.set_training_mode(True)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=int(iterations), desc="analytic gradient", unit="it", dynamic_ncols=True)
    start = time.perf_counter()
    days: list[float] = []
    done = 0
    with torch_threads(None if threads is None else int(threads)):
        try:
            for it in range(int(iterations)):
                if stop():
                    break
                frac = it / int(iterations)
                step = floor + 0.5 * (float(learning_rate) - floor) * (1.0 + math.cos(math.pi * frac))
                for group in opt.param_groups:
                    group["lr"] = step
                _reset_training(venv, int(seed), it)
                cost, pen = episode_cost(net.forward_actor, venv)
                day = cost + pen
                loss = (day / day.detach()).mean()
                opt.zero_grad()
                loss.backward()
                norm = float(torch.nn.utils.clip_grad_norm_(params, 1.0))
                opt.step()
                done = it + 1
                days.append(float(day.detach().mean()))
                row = {"iteration": done, "cost_weighted": round(float(cost.detach().mean()), 6),
                       "penalty": round(float(pen.detach().mean()), 6), "grad_norm": round(norm, 6), "lr": step,
                       "seconds": round(time.perf_counter() - start, 2)}
                if curve is not None:
                    curve(row)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(day_usd=f"{days[-1]:.2f}", penalty=f"{row['penalty']:.3f}")
        finally:
            if bar is not None:
                bar.close()
            policy.set_training_mode(False)
            venv.close()
    tenth = max(1, len(days) // 10)
    out = {"iterations": done, "scenarios": done * int(envs), "envs": int(envs), "learning_rate": float(learning_rate),
           "seconds": round(time.perf_counter() - start, 1), "stopped": done < int(iterations),
           "day_usd_first": round(float(np.mean(days[:tenth])), 4) if days else None,
           "day_usd_last": round(float(np.mean(days[-tenth:])), 4) if days else None}
    say(f"[analytic] {done} iterations on {done * int(envs)} training scenarios in {out['seconds']} s: mean day "
        f"${out['day_usd_first']} (first tenth) -> ${out['day_usd_last']} (last tenth)")
    return out


def _callback_base():
    from stable_baselines3.common.callbacks import BaseCallback

    return BaseCallback


class AnalyticGradient(_callback_base()):  # type: ignore[misc]
    """The analytic stage as an SB3 callback, so that RL Zoo's ``callback:`` key runs it (after the warm start,
    listed after it)::

        callback:
          - agents.imitation.ImitationWarmStart: {expert: oracle_plan, episodes: 300}
          - agents.analytic.AnalyticGradient: {iterations: 600, envs: 32, learning_rate: 3.0e-4}

    At the start of ``model.learn`` it runs `analytic_finetune` on the model's policy, on the training env's id
    (``env_id`` overrides it). ``train.py`` reads these kwargs as its ``analytic_*`` settings and runs the stage
    itself before ``learn``; a callback that has run (``done``) does nothing again."""

    def __init__(self, iterations: int = ANALYTIC_ITERATIONS, envs: int = AgentSettings.analytic_envs,
                 learning_rate: float = AgentSettings.analytic_lr, env_id: str | None = None,
                 seed: int | None = None, verbose: int = 1):
        super().__init__(verbose)
        given = {"iterations": iterations, "envs": envs, "learning_rate": learning_rate}
        settings = stage_settings(ANALYTIC_CALLBACK, given)  # the settings' one reader, errors in these names
        self.iterations, self.envs, self.learning_rate = (settings.analytic_iters, settings.analytic_envs,
                                                          settings.analytic_lr)
        self.env_id, self.seed = env_id, seed
        self.done = False
        self.summary: dict[str, Any] | None = None

    def _on_training_start(self) -> None:
        if self.done or not self.iterations:
            return
        env_id = self.env_id
        if env_id is None:
            spec = self.training_env.get_attr("spec")[0]
            if spec is None:
                raise ValueError("AnalyticGradient: the training env has no spec; pass env_id")
            env_id = spec.id
        seed = self.seed if self.seed is not None else int(getattr(self.model, "seed", None) or 0)
        self.summary = analytic_finetune(self.model.policy, env_id, self.iterations, self.envs, self.learning_rate,
                                         seed, log=print if self.verbose else None)
        self.done = True

    def _on_step(self) -> bool:
        return True
