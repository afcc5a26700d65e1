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
                 monitor_file: str | None, agent: Any = None,
                 extra_wrappers: list[tuple[str, dict[str, Any]]] | None = None) -> Any:
    """The training VecEnv (SB3 API) with a ``VecMonitor`` on top (episode reward/length for the logs);
    ``agent`` (`agents.settings.AgentSettings`, None: none) switches on the agent-side wrappers of
    `agents.policy.AGENT_CHAIN` (`wrap_vec_env` on the native env, `wrap_env` on each per-env env)."""
    import gymnasium as gym
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecMonitor

    from agents.policy import wrap_env, wrap_vec_env
    from agents.settings import AgentSettings

    agent = AgentSettings() if agent is None else agent
    if vec == "native":
        if agent.residual is not None:
            raise SystemExit(f"residual={agent.residual!r} needs per-env wrappers: use --vec dummy or subproc")
        venv = wrap_vec_env(_make_native(env_id, n_envs, env_kwargs, seed), agent)
    elif vec in ("dummy", "subproc"):
        def factory(rank: int):
            def _init() -> gym.Env:
                if vec == "subproc":  # Ctrl-C reaches the whole process group: only the parent handles it
                    import signal
                    signal.signal(signal.SIGINT, signal.SIG_IGN)
                env = wrap_env(gym.make(env_id, **env_kwargs), agent)
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
    import gymnasium as gym

    spec_kwargs = dict(gym.spec(env_id.rpartition(":")[2]).kwargs or {})  # e.g. GreenLLM-price-v2's action_mode
    venv = adapter(num_envs=n_envs, **{**spec_kwargs, **env_kwargs})
    venv.seed(seed)
    return venv
