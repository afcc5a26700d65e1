"""The batch-first core of GreenLLM-v2: frozen per-scenario tables, pure compiled functions over them, and one
batched step that the single env, the vector env and the SB3 VecEnv all call.

| module | holds |
|---|---|
| `config` | `EnvConfig`: one frozen, validated settings object per env (a version is a config, not a subclass) |
| `features` | `FeatureLayout`: the observation as a named table (part, feature, scale, unit); ``decode`` by name |
| `tables` | `SceneTables`: batch-first arrays of S scenarios (hour rows, reference points, water price, penalty rows) |
| `reference` | each hour's interior reference allocation (slack on every hourly row), no LP on the usual path |
| `water` | the water price that charges the horizon's budget (an exact penalty; the oracle's elastic row) |
| `kernels` | the compiled repair, step and observation kernels (numba), batch-first |
| `scenes` | where episodes' scenarios come from (fresh, pool, pinned, traces) and the tables' cache |
| `batch` | `BatchCore`: the state of E envs and the one step they share |

Nothing here imports gymnasium; the envs (`green_llm_env.env_v2`, `green_llm_env.vector_v2`) are thin faces.
"""
