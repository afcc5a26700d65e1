"""Training callbacks: oracle-gap evaluation on fixed validation seeds, checkpoints, and a clean stop.

- ``evaluate_oracle_gap(policy, env, seeds)``: plays one episode per scenario seed
  (``env.reset(seed=s, options={"scenario_seed": s})``) and scores it against the LP oracle:
  gap % = (sum over steps of cost_weighted + penalty - oracle objective) / oracle objective * 100.
- ``OracleGapEvalCallback``: runs that every ``eval_freq`` env steps on validation seeds (disjoint from the
  test seeds 1000-1099), logs ``eval/oracle_gap_pct`` (mean), ``eval/oracle_gap_pct_max``, ``eval/cost_usd``,
  ``eval/penalty_usd`` and ``eval/feasible_frac`` to the SB3 logger (tensorboard), appends to
  ``evaluations.npz`` and saves ``best_model.zip`` (+ ``best_vecnormalize.pkl``) at a new lowest mean gap.
- ``SignalGuard`` + ``StopTrainingOnSignal``: the first SIGINT/SIGTERM asks training to stop at the next env
  step so that ``train.py`` saves the model, statistics and (optionally) the replay buffer; a second signal
  raises ``KeyboardInterrupt`` at once.
- ``make_checkpoint_callback``: SB3's ``CheckpointCallback`` every N env steps, with VecNormalize statistics.
- ``TorchThreads``: torch's CPU threads while RL learns (a YAML ``callback:`` entry; RL Zoo builds it too).
"""

from __future__ import annotations

import signal
import time
from contextlib import ExitStack
from types import FrameType
from typing import Any, Callable, Sequence

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback, CheckpointCallback

from .policy import TrainedPolicy
from .settings import AgentSettings
from .registry import RunLayout
from .threads import torch_threads

__all__ = ["OracleGapEvalCallback", "SignalGuard", "StopTrainingOnSignal", "TorchThreads", "evaluate_oracle_gap",
           "make_checkpoint_callback"]


def evaluate_oracle_gap(policy: Any, env: Any, seeds: Sequence[int],
                        oracle_cache: dict[int, float] | None = None) -> dict[str, np.ndarray]:
    """Play one episode per seed with ``policy`` (baselines ``Policy`` protocol) and compare with the oracle.

    Returns arrays of shape (len(seeds),): ``cost_usd`` (sum of cost_weighted + penalty, weighted $),
    ``penalty_usd``, ``oracle_usd`` (oracle objective), ``gap_pct`` and ``feasible`` (no penalty paid).
    ``oracle_cache`` (seed -> objective) avoids re-solving the LP for the same validation scenario.
    """
    from baselines.rollout import oracle_gap, oracle_result, play_episode

    cache = {} if oracle_cache is None else oracle_cache
    out = {key: np.zeros(len(seeds)) for key in ("cost_usd", "penalty_usd", "oracle_usd", "gap_pct", "feasible",
                                                 "episode_return", "episode_length")}
    base = env.unwrapped
    for n, seed in enumerate(seeds):
        acc = {"cost": 0.0, "penalty": 0.0, "return": 0.0}

        def on_step(hour: int, reward: Any, info: dict[str, Any]) -> None:
            acc["cost"] += float(info["cost_weighted"]) + float(info["penalty"])
            acc["penalty"] += float(info["penalty"])
            acc["return"] += float(reward)

        length = play_episode(env, policy, seed=int(seed), options={"scenario_seed": int(seed)}, on_step=on_step)
        cost, penalty = acc["cost"], acc["penalty"]
        if int(seed) not in cache:
            # the objective the env scores: v2 charges water beyond the budget at base.water_price (elastic row)
            cache[int(seed)] = float(oracle_result(base.scenario, base.weights,
                                                   water_price=getattr(base, "water_price", None)).objective)
        oracle = cache[int(seed)]
        out["cost_usd"][n], out["penalty_usd"][n], out["oracle_usd"][n] = cost, penalty, oracle
        out["gap_pct"][n] = oracle_gap(cost, oracle)
        out["feasible"][n] = float(penalty <= 1e-9)
        out["episode_return"][n], out["episode_length"][n] = acc["return"], length
    return out


class OracleGapEvalCallback(BaseCallback):
    """Evaluate the model's oracle gap on fixed validation seeds every ``eval_freq`` env steps.

    Args:
        make_env: builds the (single, un-normalised) evaluation env, e.g. ``gym.make(...)``.
        seeds: validation scenario seeds (keep them apart from the test seeds 1000-1099).
        eval_freq: env steps between evaluations (counted over all parallel envs); <= 0 disables.
        layout: run folder for ``best_model.zip``, ``best_vecnormalize.pkl`` and ``evaluations.npz``; None
            saves nothing.
        deterministic: act with the policy's mode.
        agent: the run's agent-side options (`agents.settings.AgentSettings`; see ``agents.policy.AGENT_CHAIN``).
        verbose: 1 prints one line per evaluation.
    """

    def __init__(self, make_env: Callable[[], Any], seeds: Sequence[int], eval_freq: int,
                 layout: RunLayout | None = None, deterministic: bool = True, verbose: int = 1,
                 agent: AgentSettings | None = None):
        super().__init__(verbose)
        if len(seeds) == 0:
            raise ValueError("seeds=[] : the evaluation callback needs at least one validation seed")
        self.make_env = make_env
        self.seeds = [int(s) for s in seeds]
        self.eval_freq = int(eval_freq)
        self.layout = layout
        self.deterministic = deterministic
        self.agent = agent
        self.env: Any = None
        self.oracle_cache: dict[int, float] = {}
        self.best_gap_pct = np.inf
        self.last_result: dict[str, np.ndarray] | None = None
        self._last_eval_step = 0
        # SB3's EvalCallback keys (timesteps, results = episode returns, ep_lengths: what RL Zoo's plots read)
        # beside the oracle gap's
        self._history: dict[str, list] = {"timesteps": [], "results": [], "ep_lengths": [], "gap_pct": [],
                                          "cost_usd": [], "penalty_usd": []}

    def _init_callback(self) -> None:
        self.env = self.make_env()
        self._last_eval_step = self.num_timesteps
        if self.layout is not None and self.layout.evaluations.is_file():  # resumed run: keep history and best
            with np.load(self.layout.evaluations) as data:
                for key in self._history:
                    if key in data.files:
                        self._history[key] = list(data[key])
            if self._history["gap_pct"]:
                self.best_gap_pct = float(np.min(np.mean(np.asarray(self._history["gap_pct"]), axis=1)))

    def _on_step(self) -> bool:
        if self.eval_freq > 0 and self.num_timesteps - self._last_eval_step >= self.eval_freq:
            self._last_eval_step = self.num_timesteps
            self.evaluate()
        return True

    def evaluate(self) -> dict[str, np.ndarray]:
        """Run the evaluation now, log it, and save the best model if the mean gap improved."""
        if self.env is None:
            self.env = self.make_env()
        start = time.perf_counter()
        vecnorm = self.model.get_vec_normalize_env()
        policy = TrainedPolicy(self.model, vecnorm, deterministic=self.deterministic, agent=self.agent)
        result = evaluate_oracle_gap(policy, self.env, self.seeds, self.oracle_cache)
        self.last_result = result
        gap = float(np.mean(result["gap_pct"]))
        self.logger.record("eval/oracle_gap_pct", gap)
        self.logger.record("eval/oracle_gap_pct_max", float(np.max(result["gap_pct"])))
        self.logger.record("eval/cost_usd", float(np.mean(result["cost_usd"])))
        self.logger.record("eval/penalty_usd", float(np.mean(result["penalty_usd"])))
        self.logger.record("eval/feasible_frac", float(np.mean(result["feasible"])))
        self.logger.record("time/eval_s", time.perf_counter() - start)
        improved = gap < self.best_gap_pct
        if self.verbose:
            print(f"[eval] step {self.num_timesteps}: oracle gap {gap:.2f}% (max {np.max(result['gap_pct']):.2f}%, "
                  f"penalty ${np.mean(result['penalty_usd']):.2f}) on seeds {self.seeds}"
                  + (" - new best" if improved else ""), flush=True)
        if improved:
            self.best_gap_pct = gap
            if self.layout is not None:
                self.model.save(str(self.layout.best_model))
                if vecnorm is not None:
                    self.layout.params_dir.mkdir(parents=True, exist_ok=True)
                    vecnorm.save(str(self.layout.best_vecnormalize))
        self._history["timesteps"].append(self.num_timesteps)
        for key in ("gap_pct", "cost_usd", "penalty_usd"):
            self._history[key].append(result[key])
        self._history["results"].append(result["episode_return"])
        self._history["ep_lengths"].append(result["episode_length"].astype(int))
        if self.layout is not None:
            np.savez(self.layout.evaluations, **{k: np.asarray(v) for k, v in self._history.items()})
        self.logger.dump(self.num_timesteps)
        return result

    def final_evaluation(self) -> dict[str, np.ndarray] | None:
        """Evaluate the model at the end of training unless its last evaluation was at this very step."""
        if getattr(self, "model", None) is None or self._last_eval_step == self.num_timesteps \
                and self.last_result is not None:
            return None
        self.num_timesteps = self.model.num_timesteps
        self._last_eval_step = self.num_timesteps
        return self.evaluate()

    def close(self) -> None:
        """Close the evaluation env (call once training and any final ``evaluate()`` are done)."""
        if self.env is not None:
            self.env.close()
            self.env = None


class SignalGuard:
    """Context manager turning SIGINT/SIGTERM into a stop request (``.signum``); a second one force-quits.

    Inside the ``with`` block the first signal only records its number; ``StopTrainingOnSignal`` then ends
    ``model.learn`` at the next env step and the caller saves. A second signal raises ``KeyboardInterrupt``.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt(f"second signal {signal.Signals(signum).name}: quitting without saving")
        self.signum = signum
        print(f"\n[train] {signal.Signals(signum).name} received: stopping at the next step and saving "
              "(send it again to quit at once)", flush=True)

    def __enter__(self) -> "SignalGuard":
        for sig in self.SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    @property
    def exit_code(self) -> int:
        """128 + the signal number (130 for SIGINT, 143 for SIGTERM), or 0 if none arrived."""
        return 0 if self.signum is None else 128 + int(self.signum)


class StopTrainingOnSignal(BaseCallback):
    """Returns False from ``on_step`` once ``guard`` has seen a signal, which ends ``model.learn``."""

    def __init__(self, guard: SignalGuard):
        super().__init__(0)
        self.guard = guard

    def _on_step(self) -> bool:
        return self.guard.signum is None


class StopAfterMinutes(BaseCallback):
    """Returns False from ``on_step`` once ``minutes`` of wall time have passed since learning started
    (``train.py --max-minutes``: a time budget, as in "5M env steps or 15 minutes, whichever comes first")."""

    def __init__(self, minutes: float):
        super().__init__(0)
        if not minutes > 0:
            raise ValueError(f"--max-minutes must be > 0; got {minutes!r}")
        self.seconds = 60.0 * float(minutes)
        self.deadline: float | None = None
        self.stopped = False

    def _on_training_start(self) -> None:
        self.deadline = time.perf_counter() + self.seconds

    def _on_step(self) -> bool:
        if self.deadline is not None and time.perf_counter() >= self.deadline:
            if not self.stopped:
                print(f"\n[train] time budget of {self.seconds / 60:g} min reached at {self.num_timesteps} steps: "
                      "stopping and saving", flush=True)
            self.stopped = True
            return False
        return True


class TorchThreads(BaseCallback):
    """Runs ``model.learn`` (rollouts and updates) on ``threads`` torch CPU threads and puts the count back when
    learning ends. train.py runs on one thread (fastest for SB3's small MLPs); a wider network pays for a second
    one: GreenLLM-v2's equivariant PPO goes from 840-1,000 to 1,260-1,400 env-steps/s on 2 cores. A fixed count
    keeps a run reproducible; a different count changes the gradients' round-off, not the recipe.
    ``train.py --num-threads N`` overrides ``threads``. The count is set and restored by
    `agents.threads.torch_threads`, held open from the start of learning to its end."""

    def __init__(self, threads: int, verbose: int = 0):
        super().__init__(verbose)
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"TorchThreads threads={threads!r}: expected an integer >= 1")
        self.threads = threads
        self._held = ExitStack()

    def _on_training_start(self) -> None:
        self._held.enter_context(torch_threads(self.threads))

    def _on_training_end(self) -> None:
        self._held.close()

    def _on_step(self) -> bool:
        return True


def make_checkpoint_callback(layout: RunLayout, every_steps: int, n_envs: int,
                             save_replay_buffer: bool = False) -> CheckpointCallback:
    """SB3 ``CheckpointCallback`` saving ``rl_model_<steps>_steps.zip`` + VecNormalize statistics (and the
    replay buffer if asked) into the run folder every ``every_steps`` env steps (all envs together)."""
    if every_steps <= 0:
        raise ValueError(f"every_steps={every_steps!r} must be > 0")
    return CheckpointCallback(save_freq=max(every_steps // max(n_envs, 1), 1), save_path=str(layout.run_dir),
                              name_prefix=layout.checkpoint_prefix, save_replay_buffer=save_replay_buffer,
                              save_vecnormalize=True)
