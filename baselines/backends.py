"""Where independent jobs run: this process (``local``) or a Ray cluster (``ray``, the optional ``scale`` extra).

`evaluate.py --backend ray` runs its (policy, seed) jobs on Ray actors, ``python -m baselines.sweep --backend
ray`` its sweep points as Ray tasks, and `baselines.solve(..., method="decomposed", engine="ray")` its blocks of
hourly LPs on actors. Results are the same numbers as the local backend's (the jobs are deterministic and the
callers sort what comes back).

``ray.init`` is called once, here, unless the caller started Ray itself: ``address`` None starts a local
instance (or joins ``RAY_ADDRESS`` if set), ``"auto"`` joins a running cluster, ``"ray://host:10001"`` a remote
one through Ray Client. The workers import this project as the driver does: the package must be installed on
every node (``pip install -e ".[scale]"``), and the driver's repository root is put on the workers'
``PYTHONPATH`` (the same path on every node: a shared filesystem, or the same checkout).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

__all__ = ["BACKENDS", "RAY_CONNECT_TIMEOUT_S", "check_ray_address", "init_ray", "ray_cpus", "ray_map_actors",
           "ray_map_tasks"]

BACKENDS = ("local", "ray")
"""Execution backends: ``local`` (this process, or a local process pool) and ``ray``."""

_ROOT = str(Path(__file__).resolve().parents[1])


RAY_CONNECT_TIMEOUT_S = 10.0
"""How long `check_ray_address` waits for a cluster's port to answer (Ray itself retries for minutes)."""


def _host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of ``host:port`` / ``ray://host:port``; None for ``auto`` / ``local``; ``ValueError`` else."""
    if address in ("auto", "local"):
        return None
    rest = address[len("ray://"):] if address.startswith("ray://") else address
    host, sep, port = rest.rpartition(":")
    if not sep or not host or "/" in rest or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--address {address!r}: expected auto, host:port or ray://host:port (port 1-65535)")
    return host.strip("[]"), int(port)


def check_ray_address(address: str | None, timeout_s: float = RAY_CONNECT_TIMEOUT_S) -> None:
    """``ValueError`` for a malformed ``address``; ``ConnectionError`` (one line naming it) when nothing answers
    at its host and port within ``timeout_s`` (``ray.init`` would wait for minutes). None, ``auto`` and
    ``local`` pass (Ray answers those at once)."""
    import socket

    if address is None:
        return
    target = _host_port(str(address))
    if target is None:
        return
    try:
        socket.create_connection(target, timeout=timeout_s).close()
    except OSError as exc:
        raise ConnectionError(f"--address {address!r}: nothing answers at {target[0]}:{target[1]} within "
                              f"{timeout_s:g} s ({exc.strerror or type(exc).__name__}); is the Ray cluster up?"
                              ) from None


def init_ray(address: str | None = None) -> Any:
    """The ``ray`` module, initialised (``ray.init(address=address)`` unless Ray is already running in this
    process). Raises ``ImportError`` with the install command when Ray is missing, ``ValueError`` /
    ``ConnectionError`` (one line naming the address) when the address is malformed or nothing answers there
    (`check_ray_address`: within `RAY_CONNECT_TIMEOUT_S`)."""
    try:
        import ray
    except ImportError:
        raise ImportError('the ray backend needs Ray: pip install -e ".[scale]"') from None
    if not ray.is_initialized():
        check_ray_address(address)
        path = os.pathsep.join(p for p in (_ROOT, os.environ.get("PYTHONPATH", "")) if p)
        try:
            ray.init(address=address, runtime_env={"env_vars": {"PYTHONPATH": path}}, log_to_driver=False,
                     include_dashboard=False)
        except (ConnectionError, ValueError, RuntimeError, TimeoutError) as exc:
            raise ConnectionError(f"--address {address!r}: Ray could not connect "
                                  f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]})") from None
    return ray


def ray_cpus(address: str | None = None) -> int:
    """CPUs of the Ray cluster (at least 1)."""
    ray = init_ray(address)
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def ray_map_actors(make: Callable[..., Any], args: tuple, method: str, items: Sequence[tuple],
                   workers: int | None = None, address: str | None = None) -> Iterator[Any]:
    """``getattr(make(*args), method)(*item)`` for every item, on ``workers`` Ray actors (default: the cluster's
    CPUs, at most one per item) each built once; yields the results as they finish (any order)."""
    if not items:
        return
    ray = init_ray(address)
    from ray.util import ActorPool

    n = min(workers or ray_cpus(), len(items))
    actor = ray.remote(num_cpus=1)(make)
    actors = [actor.remote(*args) for _ in range(n)]
    try:
        yield from ActorPool(actors).map_unordered(lambda a, item: getattr(a, method).remote(*item), list(items))
    finally:
        for a in actors:
            ray.kill(a)


def ray_map_tasks(fn: Callable[..., Any], items: Sequence[tuple], address: str | None = None) -> list[Any]:
    """``[fn(*item) for item in items]`` as Ray tasks (one CPU each), in the order of ``items``."""
    ray = init_ray(address)
    remote = ray.remote(num_cpus=1)(fn)
    return ray.get([remote.remote(*item) for item in items])
