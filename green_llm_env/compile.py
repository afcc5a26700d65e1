"""Compile (or load from numba's disk cache) every kernel of the package: ``./run.sh`` calls `warm_up` first.

About 60-90 s the first time on a 2-core machine, under 2 s once cached.
"""

from __future__ import annotations

import time

import numpy as np

__all__ = ["warm_up"]


def warm_up() -> float:
    """Compile every kernel (v0/v1's `green_llm_env.kernels`, v2's core and its batch generator); returns the
    seconds it took."""
    from . import kernels
    from .batch_generator import warm_up as warm_generator
    from .env_v2 import GreenLLMEnvV2
    from .vector_v2 import GreenLLMVectorEnvV2

    t0 = time.perf_counter()
    kernels.warm_up()
    warm_generator()
    # v2's core through the envs themselves, so that exactly the argument layouts they pass are compiled (the
    # step, the observation after resets, the tables' kernels on 1 and 2 threads; small sizes: the same types)
    small = {"I": 2, "J": 3, "K": 2, "T": 3, "R": 1}
    for mode in ("project", "softmax"):
        env = GreenLLMEnvV2(generator_kwargs=small, action_mode=mode, forecast_hours=1)
        env.reset(seed=0)
        for dtype in (np.float32, np.float64):
            env.step(np.zeros(env.action_space.shape, dtype))
        for threads in (1, 2):
            vec = GreenLLMVectorEnvV2(num_envs=12, generator_kwargs=small, action_mode=mode, threads=threads)
            vec.reset(seed=0)
            for k in range(4):  # through one autoreset
                vec.step(np.zeros((12,) + vec.single_action_space.shape, np.float32 if k % 2 else np.float64))
    return time.perf_counter() - t0
