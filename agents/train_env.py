"""The training VecEnv of `train.py`: the env id as every process resolves it, the natively batched env
(`green_llm_env.vector`) or SB3's per-env wrappers, the agent-side wrappers (`agents.policy`) and a VecMonitor."""

from __future__ import annotations

from typing import Any


def resolve_env_id(env: str) -> str:
    """``GreenLLM-v0`` -> ``green_llm_env:GreenLLM-v0`` unless the bare id is registered by another package:
    the module prefix makes every process that makes the env (``--vec subproc`` workers) import green_llm_env
    and so register its ids, whatever this process imported before."""
    import gymnasium as gym

    spec = gym.registry.get(env)
    if ":" in env or (spec is not None and not str(spec.entry_point).startswith("green_llm_env")):
        return env
    return f"green_llm_env:{env}"


def has_native_vector(env_id: str) -> bool:
    """Whether the env id is registered with a natively batched version (GreenLLM-v0 is; v1 is not)."""
    import gymnasium as gym

    module, _, name = env_id.rpartition(":")
    if module:
        __import__(module)  # registers its ids
    try:
        return gym.spec(name).vector_entry_point is not None
    except gym.error.Error:
        return False


def make_vec_env(env_id: str, n_envs: int, vec: str, env_kwargs: dict[str, Any], seed: int,
                 monitor_file: str | None, features: str | None = None, residual: str | None = None,
                 residual_scale: float = 0.5, shield: str | None = None, action_groups: str | None = None,
                 extra_wrappers: list[tuple[str, dict[str, Any]]] | None = None) -> Any:
    """The training VecEnv (SB3 API) with a ``VecMonitor`` on top (episode reward/length for the logs);
    ``features`` appends agent-side observation features (``agents.policy.OBS_FEATURES``)."""
    import gymnasium as gym
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecMonitor

    if vec == "native":
        if residual is not None:
            raise SystemExit(f"residual={residual!r} needs per-env wrappers: use --vec dummy or subproc")
        venv = _wrap_native(_make_native(env_id, n_envs, env_kwargs, seed), features, shield, action_groups)
    elif vec in ("dummy", "subproc"):
        def factory(rank: int):
            def _init() -> gym.Env:
                if vec == "subproc":  # Ctrl-C reaches the whole process group: only the parent handles it
                    import signal
                    signal.signal(signal.SIGINT, signal.SIG_IGN)
                env = gym.make(env_id, **env_kwargs)
                if shield is not None:  # innermost: it sees the final action
                    from agents.policy import ShieldAction

                    env = ShieldAction(env, shield)
                if residual is not None:
                    from agents.policy import ResidualAction

                    env = ResidualAction(env, residual, residual_scale)
                if features is not None:
                    from agents.policy import FeatureObservation

                    env = FeatureObservation(env, features)
                if action_groups is not None:  # outermost of the agent wrappers: the agent's own action
                    from agents.policy import GroupedAction

                    env = GroupedAction(env, action_groups)
                for name, kwargs in extra_wrappers or []:  # other env_wrapper classes of the YAML, as RL Zoo
                    from agents.hyperparams import import_dotted

                    env = import_dotted(name)(env, **kwargs)
                env.action_space.seed(seed + rank)
                return env
            return _init
        fns = [factory(r) for r in range(n_envs)]
        venv = DummyVecEnv(fns) if vec == "dummy" else SubprocVecEnv(fns)
        venv.seed(seed)
    else:
        raise ValueError(f"vec={vec!r} is not one of 'native', 'dummy', 'subproc'")
    return VecMonitor(venv, filename=monitor_file)


def _wrap_native(venv: Any, features: str | None, shield: str | None, action_groups: str | None) -> Any:
    """The agent-side settings over the native batched env (`agents.policy`'s VecEnv wrappers)."""
    if shield is not None:
        from agents.policy import ShieldVecEnv

        venv = ShieldVecEnv(venv, shield)
    if features is not None:
        from agents.policy import FeatureVecEnv

        venv = FeatureVecEnv(venv, features)
    if action_groups is not None:
        from agents.policy import GroupedVecEnv

        venv = GroupedVecEnv(venv, action_groups)
    return venv


def _make_native(env_id: str, n_envs: int, env_kwargs: dict[str, Any], seed: int) -> Any:
    """The natively batched env of ``green_llm_env.vector`` behind its SB3 ``VecEnv`` adapter."""
    if not has_native_vector(env_id):
        raise SystemExit(f"--vec native: env {env_id!r} has no native batched version; use --vec dummy")
    try:
        if env_id.endswith("-v2"):  # GreenLLM-v2 and its views: the batch-first core's adapter
            from green_llm_env import vector_v2 as vector
        else:
            from green_llm_env import vector  # type: ignore[no-redef]
    except ImportError as exc:
        raise SystemExit(f"--vec native: green_llm_env.vector is not available ({exc}); use --vec dummy") from None
    adapter = getattr(vector, "SB3VecEnvV2" if env_id.endswith("-v2") else "SB3VecEnv", None)
    if adapter is None:
        raise SystemExit("--vec native: green_llm_env.vector has no SB3VecEnv adapter; use --vec dummy")
    venv = adapter(num_envs=n_envs, **env_kwargs)
    venv.seed(seed)
    return venv
