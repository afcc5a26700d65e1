"""GreenLLM-v2 on a GPU: env-only env-steps/s of the torch backend at several batch sizes, and PPO end to end.

    python benchmarks/bench_gpu.py                       # on the first CUDA device (under 10 minutes on an H100)
    python benchmarks/bench_gpu.py --device cpu --sizes 256 1024 --ppo-envs 64 --ppo-steps 20000   # a dry run

Env only: ``gymnasium.make_vec("green_llm_env:GreenLLM-v2", num_envs=E, vectorization_mode="vector_entry_point",
backend="torch", device=..., dtype="float32", scenario_bank=4096)``, random actions drawn on the device
beforehand, one warm-up episode, then ``--steps`` steps timed with the device synchronised (a size that does not
fit in memory is reported and skipped). PPO: `agents.device_ppo.train` (MlpPolicy 256x256, one episode of every
env per rollout, 4 epochs) on the same backend, env-steps/s end to end (rollouts, GAE and updates). The same
run's figures of the numba batched env (x1024, 2 threads, fresh scenarios) are printed as the CPU reference.
The last line is one JSON object with every figure and the device's name.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.bench_env import ENV_ID_V2, batched_env_steps_per_s, torch_env_steps_per_s  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--sizes", type=int, nargs="+", default=[4096, 65536, 262144], help="num_envs of the env rows")
    p.add_argument("--steps", type=int, default=48, help="timed steps per size")
    p.add_argument("--bank", type=int, default=4096, help="scenario_bank (scenarios held on the device)")
    p.add_argument("--ppo-envs", type=int, default=16384, help="envs of the PPO run (0: skip)")
    p.add_argument("--ppo-steps", type=int, default=10_000_000, help="env steps of the PPO run")
    p.add_argument("--ppo-batch", type=int, default=32768, help="PPO minibatch size")
    args = p.parse_args()

    dev = torch.device(args.device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else (platform.processor() or platform.machine())
    res: dict[str, object] = {"device": name, "torch": torch.__version__, "cpus": os.cpu_count()}
    print(f"== {name} (torch {torch.__version__})", flush=True)
    threads = min(2, os.cpu_count() or 1)
    ref = batched_env_steps_per_s(1024, 49, env_id=ENV_ID_V2, threads=threads)
    res["numba_cpu_x1024_fresh_env_steps_per_s"] = ref
    print(f"numba batched x1024 (CPU, {threads} threads, fresh) {ref:>16,.0f} env-steps/s", flush=True)
    for E in args.sizes:
        try:
            v = torch_env_steps_per_s(E, args.steps, args.device, scenario_bank=args.bank, dtype="float32")
        except torch.OutOfMemoryError:
            print(f"torch x{E}: out of device memory, skipped", flush=True)
            res[f"torch_{E}_env_steps_per_s"] = None
            continue
        finally:
            if dev.type == "cuda":
                torch.cuda.empty_cache()
        res[f"torch_{E}_env_steps_per_s"] = v
        peak = (f" (peak {torch.cuda.max_memory_allocated(dev) / 2 ** 30:.1f} GiB)" if dev.type == "cuda" else "")
        print(f"torch x{E:<7} bank {args.bank}, float32       {v:>16,.0f} env-steps/s{peak}", flush=True)
    if args.ppo_envs > 0:
        from agents.device_ppo import DevicePPOSettings, train

        settings = DevicePPOSettings(n_envs=args.ppo_envs, batch_size=args.ppo_batch, dtype="float32",
                                     scenario_bank=args.bank)
        t0 = time.perf_counter()
        _, stats = train(args.ppo_steps, settings, args.device, seed=0,
                         progress=lambda s, tot, n: print(f"  ppo {s:>11,}/{tot:,}  return {n['episode_return']:.2f}"
                                                          f"  {s / n['seconds']:,.0f} env-steps/s", flush=True))
        res["ppo_env_steps_per_s"] = stats.env_steps_per_s
        res["ppo_seconds"] = time.perf_counter() - t0
        res["ppo_first_return"], res["ppo_last_return"] = stats.episode_return[0], stats.episode_return[-1]
        print(f"PPO end to end x{args.ppo_envs}                  {stats.env_steps_per_s:>16,.0f} env-steps/s", flush=True)
    res["goals"] = {"env_only_env_steps_per_s": 50e6, "ppo_env_steps_per_s": 1e6}
    print(json.dumps({k: (round(v) if isinstance(v, float) and np.isfinite(v) and v > 100 else v)
                      for k, v in res.items()}))


if __name__ == "__main__":
    main()
