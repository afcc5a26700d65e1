"""Warm start by imitation: behaviour cloning of an expert into an SB3 policy, before RL fine-tuning.

``pretrain: oracle_price`` in hyperparams/<algo>.yml (with ``pretrain_episodes`` and ``pretrain_epochs``) makes
``train.py`` do, before ``model.learn``:

1. `expert_rollouts`: play ``pretrain_episodes`` training scenarios (seeds from `PRETRAIN_SEED0` on: disjoint
   from the validation seeds 900-904 and the test seeds 1000-1099) with the expert, recording the agent's
   observations and the expert's actions;
2. fold those observations into the VecNormalize statistics (so that the network sees them normalised as in
   training);
3. `behaviour_clone`: fit the policy's action mean to the expert's actions (mean squared error, Adam, the
   policy's own network; the value head and ``log_std`` are left to the RL phase);
4. with ``pretrain_dagger`` > 0 episodes, DAgger rounds of `DAGGER_ROUND` episodes: the cloned policy plays
   further training scenarios, the expert labels every state it visits (`learner_rollouts`), and the policy
   is fitted again on all the data;
5. freeze the observation statistics (`freeze_obs_stats`) for the RL fine-tuning that follows.

Experts (`EXPERTS`): ``oracle_price`` for ``GreenLLM-hybrid-v1``: the constant hourly water price that
reproduces the oracle, the full-horizon LP's water dual (``baselines.solve(...).water_dual``), which a
scenario's training seeds reveal and its test seeds never do; ``oracle_plan`` for an allocation policy on
``GreenLLM-v1`` or ``GreenLLM-v2`` (`agents.equivariant`): the oracle's allocation of each hour (on v2, v2's
oracle with the water price, played `V2_BATCH` scenarios at a time on the batched env by `v2_rollouts`, DAgger
states labelled by the oracle of the hours left, one LP per state). The loss is the mean squared
error of the action mean, or the policy's own ``imitation_loss`` where it has one (`agents.equivariant`'s
cross-entropy of the shares). The `imitation` library's BC would be the
natural tool, but its release pins gymnasium 0.29 and SB3 2.2 (this project runs gymnasium 1.x), so the
loop here is SB3's policy with a few lines of torch.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import numpy as np
from stable_baselines3.common.running_mean_std import RunningMeanStd

from baselines.rollout import env_water_price

from .settings import WARM_START_CALLBACK, WARM_START_EXPERT, AgentSettings, SettingError, stage_settings
from .threads import torch_threads

__all__ = ["DAGGER_ROUND", "EXPERTS", "PRETRAIN_SEED0", "ImitationWarmStart", "WarmStartInterrupted",
           "OraclePlanExpert", "OraclePriceExpert", "V2_BATCH", "behaviour_clone", "expert_rollouts",
           "FrozenRunningMeanStd", "freeze_obs_stats", "learner_rollouts", "pretrain", "v2_rollouts"]

DAGGER_ROUND = 100
"""Episodes of one DAgger round (the policy is fitted again after each)."""

PRETRAIN_SEED0 = 10_000
"""First scenario seed of the imitation data (the training seeds; never the validation or test seeds)."""


class OraclePriceExpert:
    """The hybrid agents' expert (``GreenLLM-hybrid-v1`` and ``GreenLLM-hybrid-v2``): on its own trajectory, the
    oracle's water dual as the price of every hour (`act`); in any state (`label`), the water dual of the LP over
    the hours left with the water left as budget, the price the oracle would now choose (equal to the first on
    the expert's path). On v2 (an env with ``water_price``, μ_w) both LPs are v2's oracle's: litres beyond the
    budget cost μ_w (``baselines.solve(..., water_price=μ_w)``), so the dual is at most μ_w and the LP of the
    hours left is feasible even with the budget spent."""

    name = "oracle_price"

    def _action(self, env: Any, dual: float) -> np.ndarray:
        return np.array([env.get_wrapper_attr("action_of")(max(dual, 1e-300))], np.float32)

    def reset(self, env: Any) -> None:
        from baselines import solve

        base = env.unwrapped
        dual = solve(base.scenario, base.weights, water_price=env_water_price(base)).water_dual
        self.action = self._action(env, dual)

    def act(self, obs: Any, env: Any) -> np.ndarray:
        return self.action

    def label(self, env: Any) -> np.ndarray:
        """The expert's action in the env's current state (solves the LP of the hours left)."""
        from baselines.mpc import hours_left_dual

        dual = hours_left_dual(env.unwrapped)
        if dual is None:  # less water than the hours left need: price it high
            return np.ones(1, np.float32)
        return self._action(env, dual)


class OraclePlanExpert:
    """The allocation policy's expert (GreenLLM-v1 and GreenLLM-v2): on its own trajectory, the oracle's plan hour
    by hour (`act`, ``baselines.solve(...).plan[t]``, which the v1 guard and the v2 repair pass unchanged; on v2
    the oracle of v2's objective, ``water_price=`` the episode's price); in any state (`label`), the first hour of
    the oracle's plan over the hours left with the water left as budget (what the oracle would now do; equal to
    `act` on the expert's path). On GreenLLM-v2 `pretrain` plays it on the batched env (`v2_rollouts`)."""

    name = "oracle_plan"

    def reset(self, env: Any) -> None:
        from baselines import solve

        base = env.unwrapped
        self.plan = solve(base.scenario, base.weights, water_price=env_water_price(base)).plan

    def act(self, obs: Any, env: Any) -> np.ndarray:
        return np.asarray(self.plan[int(env.unwrapped.t)], np.float32).reshape(-1)

    def label(self, env: Any) -> np.ndarray:
        """The expert's allocation in the env's current state (solves the LP of the hours left)."""
        from baselines import InfeasibleScenarioError, solve
        from baselines.mpc import window

        base = env.unwrapped
        price = env_water_price(base)
        try:
            left = float(base.water_left_l) if price is None else max(float(base.water_left_l), 1e-6)
            plan = solve(window(base.scenario, base.t, base.horizon, left), base.weights, water_price=price).plan
        except (InfeasibleScenarioError, ValueError):  # less water than the hours left need
            if price is not None:  # v2: the water is priced, the oracle's hour stays a fine answer
                return np.asarray(self.plan[int(base.t)], np.float32).reshape(-1)
            from green_llm_env.guard import least_water_of  # v1: the least-water hour

            return np.asarray(least_water_of(base.tables).x[base.t], np.float32).reshape(-1)
        return np.asarray(plan[0], np.float32).reshape(-1)


V2_BATCH = 50
"""Scenarios the batched warm start (`v2_rollouts`) plays at once on GreenLLM-v2's vector env."""


def v2_rollouts(env: Any, seeds: Sequence[int], model: Any = None, labels: str = "window", batch: int = V2_BATCH,
                progress: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """The oracle-plan expert on GreenLLM-v2's batched env: (observations (n, D) float32, labels (n, A) float32),
    one episode per scenario seed, ``batch`` scenarios stepped together (`green_llm_env.vector_v2`'s compiled
    core, the env's own kwargs).

    ``model`` None: the oracle's plan (``baselines.solve(s, weights, water_price=μ_w)``) plays and labels every
    hour. ``model`` given (DAgger): the model plays (deterministic, in one batched call per hour) and each state it
    reaches is labelled with ``labels="window"`` the first hour of the oracle's plan for the hours left with the
    water left (one LP per state), or ``"plan"`` the oracle's plan of that hour (no LP: on v2 the water is a
    price and the hours' rows do not depend on the state). ``progress``: a tqdm bar advanced per scenario."""
    from baselines import InfeasibleScenarioError, solve
    from baselines.mpc import window
    from green_llm_env.vector_v2 import GreenLLMVectorEnvV2

    if labels not in ("window", "plan"):
        raise ValueError(f"labels must be 'window' or 'plan'; got {labels!r}")
    base = env.unwrapped
    spec_kwargs = dict(env.spec.kwargs) if getattr(env, "spec", None) is not None else {}
    weights = np.asarray(base.weights)
    venv = GreenLLMVectorEnvV2(num_envs=min(int(batch), max(len(seeds), 1)), **spec_kwargs)
    core, E = venv.core, venv.num_envs
    norm = lambda o: o  # noqa: E731
    if model is not None:
        vecnorm = model.get_vec_normalize_env()
        if vecnorm is not None and vecnorm.norm_obs:
            norm = vecnorm.normalize_obs
    obs_out: list[np.ndarray] = []
    lab_out: list[np.ndarray] = []
    seeds = [int(s) for s in seeds]
    for c0 in range(0, len(seeds), E):
        chunk = seeds[c0:c0 + E]
        n = len(chunk)
        keys = [("seed", s) for s in chunk] + [("seed", chunk[-1])] * (E - n)  # a short chunk repeats its last
        tables, which = venv.source.tables(keys)
        core.load(np.arange(E), tables, which, keys)
        scen = [venv.scenario(i) for i in range(n)]
        prices = [float(core.scene("price_w", i)) for i in range(n)]
        plans = []
        for i in range(n):
            plans.append(np.asarray(solve(scen[i], weights, water_price=prices[i]).plan, np.float32))
            if progress is not None and model is None:
                progress.update(1)
        plans = np.stack(plans)  # (n, T, I, K, J)
        T = plans.shape[1]
        obs = core.observe()
        c_obs, c_lab = [], []
        for t in range(T):
            if model is None:
                act = plans[:, t].reshape(n, -1)
                lab = act
            else:
                act = np.asarray(model.predict(norm(obs[:n]), deterministic=True)[0], np.float32)
                lab = plans[:, t].reshape(n, -1).copy()
                if labels == "window" and t > 0:  # at t = 0 every state is the expert's
                    for i in range(n):
                        try:
                            w = solve(window(scen[i], t, T, max(float(core.water[i]), 1e-6)), weights,
                                      water_price=prices[i])
                            lab[i] = np.asarray(w.plan[0], np.float32).reshape(-1)
                        except (InfeasibleScenarioError, ValueError):
                            pass
            c_obs.append(np.array(obs[:n], np.float32))
            c_lab.append(np.asarray(lab, np.float32))
            full = np.empty((E, act.shape[1]), np.float32)
            full[:n] = act
            full[n:] = act[-1]
            obs = core.step(core.actions(full))
            if progress is not None and model is not None:  # DAgger: its LPs take the time, hour by hour
                progress.update(n / T)
        # one episode after another, hour by hour (the order of the one-env rollouts)
        obs_out.append(np.stack(c_obs, 1).reshape(n * T, -1))
        lab_out.append(np.stack(c_lab, 1).reshape(n * T, -1))
    venv.close()
    return np.concatenate(obs_out), np.concatenate(lab_out)


EXPERTS: dict[str, Callable[[], Any]] = {"oracle_price": OraclePriceExpert, "oracle_plan": OraclePlanExpert}
"""Expert name (``pretrain`` in the YAML) -> factory."""


class _Recorder:
    """A policy for `baselines.rollout.play_episode` that keeps what it sees: ``step(obs)`` gives (the action to
    play, the label to keep with ``obs``); ``start()``, if given, begins each episode."""

    def __init__(self, step: Callable[[Any], tuple[Any, np.ndarray]], start: Callable[[], None] | None = None):
        self.step, self.start = step, start
        self.obs: list[np.ndarray] = []
        self.labels: list[np.ndarray] = []

    def reset(self, env: Any) -> None:
        if self.start is not None:
            self.start()

    def act(self, obs: Any, env: Any) -> Any:
        action, label = self.step(obs)
        self.obs.append(np.asarray(obs, np.float32))
        self.labels.append(label)
        return action

    def play(self, env: Any, seeds: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """One episode per scenario seed; (observations (n, ...) float32, labels (n, A) float32)."""
        from baselines.rollout import play_episode

        for seed in seeds:
            play_episode(env, self, seed=int(seed), options={"scenario_seed": int(seed)})
        return np.stack(self.obs), np.stack(self.labels)


def expert_rollouts(env: Any, expert: Any, seeds: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """(observations (n, ...) float32, expert actions (n, A) float32) of one episode per scenario seed."""
    def step(obs: Any) -> tuple[np.ndarray, np.ndarray]:
        action = np.asarray(expert.act(obs, env), np.float32).reshape(-1)
        return action, action

    return _Recorder(step, lambda: expert.reset(env)).play(env, seeds)


def learner_rollouts(env: Any, model: Any, expert: Any, seeds: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """DAgger's data: the states the current ``model`` visits (one episode per seed, deterministic actions on
    normalised observations), each labelled with ``expert.label(env)``."""
    vecnorm = model.get_vec_normalize_env()
    norm = (lambda o: vecnorm.normalize_obs(o)) if vecnorm is not None and vecnorm.norm_obs else (lambda o: o)

    def step(obs: Any) -> tuple[Any, np.ndarray]:
        label = np.asarray(expert.label(env), np.float32).reshape(-1)
        action, _ = model.predict(norm(np.asarray(obs, np.float32)[None]), deterministic=True)
        return action[0], label

    return _Recorder(step).play(env, seeds)


def behaviour_clone(model: Any, obs: np.ndarray, actions: np.ndarray, epochs: int = 60, batch_size: int = 128,
                    learning_rate: float = 1e-3, seed: int = 0,
                    stop: Callable[[], bool] | None = None, progress: Any = None,
                    final_lr: float | None = None) -> list[float] | None:
    """Fit ``model.policy``'s action mean to ``actions`` on (already normalised) ``obs``; returns the mean
    squared error per epoch. Only the actor's parameters (shared extractor, policy net, action net) move.
    ``stop``: checked before each epoch; when it turns true the policy's parameters are put back as they were
    and None is returned (the fit is redone whole on resume). ``progress``: a tqdm bar advanced per epoch;
    ``final_lr``: the learning rate decays from ``learning_rate`` to it along a cosine over the epochs (None:
    constant)."""
    import torch as th

    policy = model.policy
    custom = hasattr(policy, "imitation_loss")  # a policy with its own cloning loss (agents.equivariant)
    if custom:
        params = policy.imitation_parameters()
    else:
        params = [p for name, p in policy.named_parameters()
                  if not name.startswith(("value_net", "mlp_extractor.value_net")) and name != "log_std"]
    opt = th.optim.Adam(params, lr=learning_rate)
    x = th.as_tensor(obs, dtype=th.float32, device=policy.device)
    y = th.as_tensor(actions, dtype=th.float32, device=policy.device)
    rng = np.random.default_rng(seed)
    losses = []
    saved = {k: v.detach().clone() for k, v in policy.state_dict().items()} if stop is not None else None
    policy.set_training_mode(True)
    for epoch in range(int(epochs)):
        if final_lr is not None:
            frac = epoch / max(int(epochs) - 1, 1)
            for group in opt.param_groups:
                group["lr"] = final_lr + 0.5 * (learning_rate - final_lr) * (1.0 + np.cos(np.pi * frac))
        if stop is not None and stop():
            policy.load_state_dict(saved)
            policy.set_training_mode(False)
            return None
        order = rng.permutation(len(x))
        total = 0.0
        for start in range(0, len(x), batch_size):
            idx = th.as_tensor(order[start:start + batch_size], device=policy.device)
            if custom:
                loss = policy.imitation_loss(x[idx], y[idx])
            else:
                mean = policy.get_distribution(x[idx]).distribution.mean
                loss = ((mean - y[idx]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / len(x))
        if progress is not None:  # a tqdm bar: one tick per epoch
            progress.set_postfix(loss=f"{losses[-1]:.4g}", refresh=False)
            progress.update(1)
    policy.set_training_mode(False)
    return losses


class FrozenRunningMeanStd(RunningMeanStd):
    """Running statistics that no longer update: the observation scaling a cloned policy was fitted with."""

    def update(self, arr: np.ndarray) -> None:  # noqa: ARG002 - frozen on purpose
        return None


def freeze_obs_stats(vecnorm: Any) -> None:
    """Keep ``vecnorm``'s observation statistics as they are from now on (its reward statistics still update).

    A policy cloned on observations normalised one way acts differently when RL keeps updating the
    normalisation; on GreenLLM-hybrid-v1's validation seeds that drift alone took the cloned hybrid from a
    0.59% to a 0.89% mean gap in 4k PPO steps."""
    frozen = FrozenRunningMeanStd(shape=vecnorm.obs_rms.mean.shape)
    frozen.mean, frozen.var, frozen.count = vecnorm.obs_rms.mean.copy(), vecnorm.obs_rms.var.copy(), vecnorm.obs_rms.count
    vecnorm.obs_rms = frozen


class WarmStartInterrupted(Exception):
    """`pretrain` stopped at a request (``stop()`` true: SIGINT/SIGTERM in ``train.py``); what was done is saved in
    its ``state_dir`` and a `pretrain` with the same ``state_dir`` continues from there. ``progress``: the saved
    counters (expert episodes, DAgger episodes, fits)."""

    def __init__(self, progress: dict[str, Any]):
        super().__init__(f"warm start interrupted ({progress})")
        self.progress = progress


class _WarmStartState:
    """What the warm start has done, saved in ``state_dir`` (``data.npz``, ``policy.pt``, ``state.json``) at every
    fit and at a stop request: the (observation, expert action) pairs, the episodes played, the fits done, the
    policy after the last fit and the observation statistics."""

    def __init__(self, state_dir: Any = None):
        from pathlib import Path

        self.dir = None if state_dir is None else Path(state_dir)
        self.obs: list[np.ndarray] = []
        self.act: list[np.ndarray] = []
        self.expert_done = self.dagger_done = self.fits = 0
        self.rms_updated = False
        self.losses: list[float] = []
        self.seconds = 0.0

    @property
    def progress(self) -> dict[str, Any]:
        return {"expert_episodes": self.expert_done, "dagger_episodes": self.dagger_done, "fits": self.fits,
                "samples": int(sum(len(o) for o in self.obs))}

    def exists(self) -> bool:
        return self.dir is not None and (self.dir / "state.json").is_file()

    def data(self) -> tuple[np.ndarray, np.ndarray]:
        return np.concatenate(self.obs), np.concatenate(self.act)

    def save(self, model: Any, vecnorm: Any) -> None:
        """Write everything atomically (each file via a temporary name and ``os.replace``; state.json last)."""
        import json
        import os

        import torch as th

        if self.dir is None:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        obs, act = self.data() if self.obs else (np.zeros((0,)), np.zeros((0,)))
        extra = {}
        if vecnorm is not None and getattr(vecnorm, "norm_obs", False):
            extra = {"rms_mean": vecnorm.obs_rms.mean, "rms_var": vecnorm.obs_rms.var,
                     "rms_count": np.asarray(vecnorm.obs_rms.count)}
        with open(self.dir / "data.npz.tmp", "wb") as fh:
            np.savez(fh, obs=obs, act=act, lengths=np.array([len(o) for o in self.obs], np.int64), **extra)
        os.replace(self.dir / "data.npz.tmp", self.dir / "data.npz")
        th.save(model.policy.state_dict(), self.dir / "policy.pt.tmp")
        os.replace(self.dir / "policy.pt.tmp", self.dir / "policy.pt")
        state = {"expert_done": self.expert_done, "dagger_done": self.dagger_done, "fits": self.fits,
                 "rms_updated": self.rms_updated, "losses": self.losses, "seconds": round(self.seconds, 1)}
        (self.dir / "state.json.tmp").write_text(json.dumps(state))
        os.replace(self.dir / "state.json.tmp", self.dir / "state.json")

    def load(self, model: Any, vecnorm: Any) -> None:
        """Read a saved state back into this object, ``model``'s policy and ``vecnorm``'s statistics."""
        import json

        import torch as th

        state = json.loads((self.dir / "state.json").read_text())
        with np.load(self.dir / "data.npz") as data:
            bounds = np.cumsum(np.concatenate([[0], data["lengths"]]))
            obs, act = data["obs"], data["act"]
            self.obs = [obs[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
            self.act = [act[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
            if "rms_mean" in data and vecnorm is not None and getattr(vecnorm, "norm_obs", False):
                vecnorm.obs_rms.mean, vecnorm.obs_rms.var = data["rms_mean"].copy(), data["rms_var"].copy()
                vecnorm.obs_rms.count = float(data["rms_count"])
        model.policy.load_state_dict(th.load(self.dir / "policy.pt", map_location=model.policy.device))
        self.expert_done, self.dagger_done, self.fits = state["expert_done"], state["dagger_done"], state["fits"]
        self.rms_updated, self.losses, self.seconds = state["rms_updated"], list(state["losses"]), state["seconds"]


def _log_line(state_dir: Any, record: dict[str, Any]) -> None:
    """Append one JSON line to ``state_dir/progress.jsonl`` (the warm start's log)."""
    import json

    if state_dir is None:
        return
    from pathlib import Path

    Path(state_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(state_dir) / "progress.jsonl", "a") as fh:
        fh.write(json.dumps(record) + "\n")


def pretrain(model: Any, make_env: Callable[[], Any], expert_name: str, episodes: int, epochs: int,
             seed: int = 0, dagger_episodes: int = 0, learning_rate: float = 1e-3, state_dir: Any = None,
             stop: Callable[[], bool] | None = None, log: Callable[[str], None] | None = print,
             progress: bool = False, batch_size: int = 128, dagger_labels: str = "window") -> dict[str, float]:
    """The whole warm start (see the module docstring); returns a summary (samples, seconds, final MSE).

    With ``dagger_episodes`` > 0, DAgger rounds follow the first fit: the cloned policy plays `DAGGER_ROUND`
    further training scenarios, every state it visits is labelled by the expert (`OraclePriceExpert.label`),
    and the policy is fitted again on all the data, so that it also knows what to do off the expert's path;
    again until ``dagger_episodes`` scenarios are played.

    Progress: one line per fit (round 0 is the first cloning, then each DAgger round: samples, loss, seconds)
    through ``log`` and into ``state_dir/progress.jsonl``. With ``state_dir``, everything done is saved there
    after each fit, and when ``stop()`` turns true (checked between episodes and between epochs) before
    `WarmStartInterrupted` is raised; a later call with the same ``state_dir`` (and arguments) continues where it
    stopped, to the same result as an uninterrupted run (episodes and fits are deterministic).

    On GreenLLM-v2 with ``oracle_plan`` the episodes are played `V2_BATCH` at a time on the batched env
    (`v2_rollouts`; DAgger labels as ``dagger_labels``). ``progress``: tqdm bars over the episodes and epochs of
    every phase; ``batch_size``: the cloning's minibatch."""
    from stable_baselines3.common.vec_env import VecNormalize

    if expert_name not in EXPERTS:
        raise ValueError(f"pretrain={expert_name!r} is not one of {sorted(EXPERTS)}")
    stop = stop or (lambda: False)
    say = log or (lambda _: None)
    start = time.perf_counter()
    vecnorm = model.get_vec_normalize_env()
    scale = isinstance(vecnorm, VecNormalize) and vecnorm.norm_obs
    state = _WarmStartState(state_dir)
    if state.exists():
        state.load(model, vecnorm if scale else None)
        say(f"[warm start] resuming: {state.progress} already done")
        _log_line(state_dir, {"event": "resume", **state.progress})
    before = state.seconds

    def interrupted() -> WarmStartInterrupted:
        state.seconds = before + time.perf_counter() - start
        state.save(model, vecnorm if scale else None)
        _log_line(state_dir, {"event": "interrupted", **state.progress, "seconds": round(state.seconds, 1)})
        return WarmStartInterrupted(state.progress)

    env = make_env()
    expert = EXPERTS[expert_name]()
    n_fits = 1 + -(-int(dagger_episodes) // DAGGER_ROUND)
    batched = expert_name == "oracle_plan" and env_water_price(env.unwrapped) is not None  # GreenLLM-v2
    step = V2_BATCH if batched else 1

    def bar(total: int, desc: str, unit: str) -> Any:
        if not progress:
            return None
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True,  # DAgger advances by fractions
                    bar_format="{l_bar}{bar}| {n:.0f}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}{postfix}]")

    try:
        while state.fits < n_fits:
            k = state.fits
            t_round = time.perf_counter()
            if k == 0:  # the expert's own episodes
                pbar = bar(episodes, "warm start: expert episodes", "ep")
                if pbar is not None:
                    pbar.update(state.expert_done)
                while state.expert_done < episodes:
                    if stop():
                        raise interrupted()
                    seeds = [PRETRAIN_SEED0 + q for q in range(state.expert_done,
                                                                min(state.expert_done + step, episodes))]
                    if batched:
                        o, a = v2_rollouts(env, seeds, progress=pbar)
                    else:
                        o, a = expert_rollouts(env, expert, seeds)
                        if pbar is not None:
                            pbar.update(len(seeds))
                    state.obs.append(o)
                    state.act.append(a)
                    state.expert_done += len(seeds)
                if pbar is not None:
                    pbar.close()
                if scale and not state.rms_updated:
                    vecnorm.obs_rms.update(np.concatenate(state.obs))
                    state.rms_updated = True
            else:  # DAgger round k: the policy of fit k-1 plays, the expert labels
                last = min(k * DAGGER_ROUND, int(dagger_episodes))
                pbar = bar(last - (k - 1) * DAGGER_ROUND, f"warm start: DAgger round {k}", "ep")
                if pbar is not None:
                    pbar.update(state.dagger_done - (k - 1) * DAGGER_ROUND)
                while state.dagger_done < last:
                    if stop():
                        raise interrupted()
                    first = PRETRAIN_SEED0 + episodes + state.dagger_done
                    n_eps = min(step, last - state.dagger_done)
                    if batched:
                        o, a = v2_rollouts(env, range(first, first + n_eps), model=model, labels=dagger_labels,
                                           progress=pbar)
                    else:
                        o, a = learner_rollouts(env, model, expert, [first])
                        if pbar is not None:
                            pbar.update(1)
                    state.obs.append(o)
                    state.act.append(a)
                    state.dagger_done += n_eps
                if pbar is not None:
                    pbar.close()
            obs, actions = state.data()
            pbar = bar(int(epochs), f"warm start: fit {k + 1}/{n_fits} ({len(obs)} samples)", "epoch")
            losses = behaviour_clone(model, vecnorm.normalize_obs(obs) if scale else obs, actions, epochs=epochs,
                                     batch_size=batch_size, seed=seed + k, learning_rate=learning_rate, stop=stop,
                                     progress=pbar)
            if pbar is not None:
                pbar.close()
            if losses is None:  # stopped during the fit: the data is kept, the fit is redone on resume
                raise interrupted()
            state.fits += 1
            state.losses.append(round(losses[-1], 6))
            state.seconds = before + time.perf_counter() - start
            record = {"event": "fit", "round": k, "rounds": n_fits, "samples": int(len(obs)),
                      "expert_episodes": state.expert_done, "dagger_episodes": state.dagger_done,
                      "loss": round(losses[-1], 6), "seconds": round(time.perf_counter() - t_round, 1),
                      "total_seconds": round(state.seconds, 1)}
            say(f"[warm start] round {k + 1}/{n_fits} ({'cloning' if k == 0 else 'DAgger'}): {len(obs)} samples, "
                f"loss {losses[-1]:.6g}, {record['seconds']} s")
            _log_line(state_dir, record)
            if state.fits < n_fits:  # the final state is the caller's to keep (the step-0 checkpoint)
                state.save(model, vecnorm if scale else None)
    finally:
        env.close()
    obs, _ = state.data()
    out = {"samples": int(sum(len(o) for o in state.obs[:state.expert_done])), "episodes": int(episodes),
           "loss": state.losses[0]}
    if n_fits > 1:
        out.update(dagger_episodes=int(dagger_episodes), dagger_rounds=n_fits - 1, samples=int(len(obs)),
                   loss_after_dagger=state.losses[-1])
    if scale:
        freeze_obs_stats(vecnorm)
    out["seconds"] = round(before + time.perf_counter() - start, 1)
    return out


def _callback_base():
    from stable_baselines3.common.callbacks import BaseCallback

    return BaseCallback


class ImitationWarmStart(_callback_base()):  # type: ignore[misc]
    """The warm start (`pretrain`) as an SB3 callback, so that RL Zoo's ``callback:`` key runs it too::

        callback:
          - agents.imitation.ImitationWarmStart:
              expert: oracle_price
              episodes: 400
              epochs: 60
              dagger_episodes: 300

    ``scale`` multiplies ``episodes`` and ``dagger_episodes`` (``pretrain_scale`` in train.py's terms);
    ``threads``: torch's CPU threads while it runs (``pretrain_threads``; None: as they are).
    At the start of ``model.learn`` it clones ``expert`` (one of `EXPERTS`) into the model on ``episodes``
    training scenarios (plus ``dagger_episodes`` of DAgger), on an env made from the training env's spec
    (``make_env`` overrides that), then re-normalises the model's last observation with the frozen
    statistics. ``train.py`` reads these kwargs as its ``pretrain*`` settings and runs the same `pretrain`
    before ``learn`` (keeping its step-0 checkpoint); a callback that has run (``done``) does nothing again.
    """

    def __init__(self, expert: str = WARM_START_EXPERT, episodes: int = AgentSettings.pretrain_episodes,
                 epochs: int = AgentSettings.pretrain_epochs, dagger_episodes: int = AgentSettings.pretrain_dagger,
                 learning_rate: float = AgentSettings.pretrain_lr, seed: int | None = None,
                 make_env: Callable[[], Any] | None = None, verbose: int = 1,
                 scale: float = AgentSettings.pretrain_scale, threads: int | None = AgentSettings.pretrain_threads):
        super().__init__(verbose)
        given = {"expert": expert, "episodes": episodes, "epochs": epochs, "dagger_episodes": dagger_episodes,
                 "learning_rate": learning_rate, "scale": scale, "threads": threads}
        settings = stage_settings(WARM_START_CALLBACK, given)  # the settings' one reader, errors in these names
        if settings.pretrain is None:
            raise SettingError("expert", expert, f" is not one of {sorted(EXPERTS)}")
        episodes, dagger_episodes = settings.warm_start_size
        self.expert, self.episodes, self.epochs, self.dagger_episodes = (settings.pretrain, episodes,
                                                                         settings.pretrain_epochs, dagger_episodes)
        self.settings = settings
        self.learning_rate = settings.pretrain_lr
        self.seed, self.make_env = seed, make_env
        self.done = False
        self.summary: dict[str, float] | None = None

    def _env_factory(self) -> Callable[[], Any]:
        if self.make_env is not None:
            return self.make_env
        import gymnasium as gym

        import dataclasses

        spec = self.training_env.get_attr("spec")[0]
        if spec is None:
            raise ValueError("ImitationWarmStart: the training env has no spec; pass make_env")
        plain = dataclasses.replace(spec, additional_wrappers=())  # the registered env, without Monitor & co.
        return lambda: gym.make(plain)

    def _on_training_start(self) -> None:
        if self.done:
            return
        seed = self.seed if self.seed is not None else int(getattr(self.model, "seed", None) or 0)
        if self.verbose:
            print(f"[warm start] behaviour cloning of {self.expert!r} on {self.episodes} training scenarios, "
                  f"{self.epochs} epochs, {self.dagger_episodes} DAgger episodes", flush=True)
        with torch_threads(self.settings.pretrain_threads):
            self.summary = pretrain(self.model, self._env_factory(), self.expert, self.episodes, self.epochs, seed,
                                    self.dagger_episodes, self.learning_rate)
        self.done = True
        vecnorm = self.model.get_vec_normalize_env()
        if vecnorm is not None and vecnorm.norm_obs and getattr(self.model, "_last_obs", None) is not None:
            self.model._last_obs = vecnorm.normalize_obs(vecnorm.get_original_obs())
        if self.verbose:
            print(f"[warm start] done: {self.summary}", flush=True)

    def _on_step(self) -> bool:
        return True
