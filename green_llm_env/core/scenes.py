"""Where GreenLLM-v2's episodes get their scenarios, and the cache of their `SceneTables`.

An episode's scenario is named by a key: ``("seed", n)`` (the config's generator with seed n), ``("traces", n,
start)`` (a 2024 trace window, `green_llm_env.scenario_from_traces`), or ``("object", id)`` (a `Scenario` given
by the caller). `ScenarioSource.draw` picks the key of an episode from the env's random generator and the
reset options; `ScenarioSource.tables` builds the tables of many keys at once (the batch generator draws all
new seeds in one call) and keeps the last `CACHE_SIZE` in an LRU cache.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Hashable

import numpy as np

from ..scenario import Scenario
from .config import EnvConfig
from .tables import SCENE_FIELDS, SceneTables, build_tables, tables_from_scenarios

__all__ = ["CACHE_SIZE", "ScenarioSource", "TRACE_DAYS"]

CACHE_SIZE = 256
TRACE_DAYS = 366  # 2024 is a leap year
_SEED_HIGH = 2 ** 31 - 1


class ScenarioSource:
    """Draws episode scenarios for one `EnvConfig` and builds their tables (see the module docstring).

    Args:
        config: the env's settings (generator, its kwargs, pool, traces, weights).
        pinned: a scenario every episode plays (the env's ``scenario=`` argument), or None.
    """

    def __init__(self, config: EnvConfig, pinned: Scenario | None = None) -> None:
        self.config = config
        self.pinned = pinned
        self._cache: OrderedDict[Hashable, SceneTables] = OrderedDict()
        self._objects: dict[Hashable, Scenario] = {}
        self._lazy: dict[Hashable, Callable[[], Scenario]] = {}

    # ------------------------------------------------------------------------------ keys
    @staticmethod
    def check_options(options: Any) -> None:
        """``ValueError`` unless the reset ``options`` are None or a dict of the known keys."""
        if options is not None and not isinstance(options, dict):
            raise ValueError(f"options must be a dict or None; got {options!r}")
        unknown = set(options or {}) - {"scenario", "scenario_seed"}
        if unknown:
            raise ValueError(f"options: unknown key(s) {sorted(unknown)}; known: 'scenario', 'scenario_seed'")

    def draw(self, rng: np.random.Generator, options: dict[str, Any] | None) -> Hashable:
        """The key of the next episode's scenario (``options``: ``{"scenario": s}`` or ``{"scenario_seed": n}``)."""
        cfg = self.config
        options = options or {}
        if "scenario" in options:
            return self.key_of(options["scenario"], "options['scenario']")
        if "scenario_seed" in options:
            n = options["scenario_seed"]
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 0 <= n < 2 ** 63:
                raise ValueError(f"options['scenario_seed'] must be an integer >= 0; got {n!r}")
            return ("seed", int(n))
        if self.pinned is not None:
            return self.key_of(self.pinned, "scenario")
        n = int(rng.integers(cfg.scenario_pool if cfg.scenario_pool else _SEED_HIGH))
        if cfg.traces is None:
            return ("seed", n)
        T, hour = cfg.sizes()[0], int(cfg.gen_kwargs.get("start_hour", 0))
        day = int(rng.integers(TRACE_DAYS - (hour + T + 23) // 24))
        start = str(np.datetime64("2024-01-01T00", "h") + np.timedelta64(day * 24 + hour, "h"))[:13]
        return ("traces", n, start)

    def key_of(self, s: Any, name: str) -> Hashable:
        """The key of a given `Scenario` (checked against the env's sizes)."""
        if not isinstance(s, Scenario):
            raise ValueError(f"{name} must be a green_llm_env.Scenario; got {type(s).__name__}")
        T, I, K, J, R = self.config.sizes()
        if (s.I, s.K, s.J, s.R) != (I, K, J, R):
            raise ValueError(f"{name} has (I, K, J, R) = {(s.I, s.K, s.J, s.R)}; this env's spaces need "
                             f"{(I, K, J, R)} (set generator_kwargs to match)")
        key = ("object", id(s))
        self._objects[key] = s
        return key

    @staticmethod
    def seed_of(key: Hashable) -> int:
        """The generator seed of a key (-1 for a given scenario)."""
        return int(key[1]) if key[0] in ("seed", "traces") else -1

    # --------------------------------------------------------------------------- scenarios
    def scenario(self, key: Hashable) -> Scenario:
        """The `Scenario` object of a key (built on first use for generated ones)."""
        if key[0] == "object":
            return self._objects[key]
        hit = self._lazy.get(key)
        if hit is not None:
            s = hit()
            self._lazy[key] = lambda: s
            return s
        return self._build_scenarios([key])[0]

    def _build_scenarios(self, keys: list[Hashable]) -> list[Scenario]:
        from ..generator import make_scenario, scenario_from_traces

        gk = self.config.gen_kwargs
        out = []
        for key in keys:
            if key[0] == "object":
                out.append(self._objects[key])
            elif key[0] == "traces":
                kw = {k: v for k, v in gk.items() if k != "start_hour"}
                out.append(scenario_from_traces(self.config.traces, key[2], key[1], **kw))
            elif self.config.generator == "v1":
                out.append(make_scenario(key[1], **gk))
            else:
                from ..batch_generator import scenario_of_seed

                out.append(scenario_of_seed(key[1], **gk))
        return out

    # ------------------------------------------------------------------------------ tables
    def tables(self, keys: list[Hashable]) -> tuple[SceneTables, np.ndarray]:
        """(tables, index): the tables of every key, ``index[i]`` the row of ``keys[i]`` in ``tables``. New keys
        are built in one batch; the last `CACHE_SIZE` keys stay cached."""
        distinct = list(dict.fromkeys(keys))
        have: dict[Hashable, SceneTables] = {}
        for k in distinct:
            hit = self._cache.get(k)
            if hit is not None:
                self._cache.move_to_end(k)
                have[k] = hit
        fresh = [k for k in distinct if k not in have]
        built = self._build(fresh) if fresh else None
        if built is not None:
            for q, k in enumerate(fresh):
                have[k] = _select(built, q)
                self._cache[k] = have[k]
                self._cache.move_to_end(k)
            while len(self._cache) > CACHE_SIZE:
                old, _ = self._cache.popitem(last=False)
                if old not in have:
                    self._lazy.pop(old, None)
                    if old[0] == "object":
                        self._objects.pop(old, None)
        where = {k: q for q, k in enumerate(distinct)}
        index = np.array([where[k] for k in keys], np.int64)
        if built is not None and len(fresh) == len(distinct):
            return built, index  # all new: the batch as built, in the order of `distinct`
        parts = [have[k] for k in distinct]
        return (parts[0] if len(parts) == 1 else _stack(parts)), index

    def prepare(self, keys: list[Hashable]) -> None:
        """Build (in one batch) and cache the tables of the keys not cached yet (what the next episodes play)."""
        fresh = [k for k in dict.fromkeys(keys) if k not in self._cache]
        if fresh:
            self.tables(fresh)

    def _build(self, keys: list[Hashable]) -> SceneTables:
        cfg = self.config
        seeds = np.array([self.seed_of(k) for k in keys], np.int64)
        if cfg.generator == "batch" and all(k[0] == "seed" for k in keys):
            from ..batch_generator import draw_batch

            batch = draw_batch(seeds, **cfg.gen_kwargs)
            for q, k in enumerate(keys):
                self._lazy[k] = (lambda b=batch, i=q: b.scenario(i))
            T, I, K, J, R = cfg.sizes()
            return build_tables(batch.hour_flat(cfg.weights), batch.lam_flat(), batch.delta, batch.Z,
                                np.full(len(keys), batch.start_hour), seeds, (T, I, K, J, R), cfg.weights,
                                cfg.water_price_factor, threads=cfg.threads)
        scen = self._build_scenarios(keys)
        for k, s in zip(keys, scen):
            if k[0] != "object":
                self._lazy[k] = (lambda s=s: s)
        return tables_from_scenarios(scen, cfg.weights, seeds, cfg.water_price_factor)


def _select(tab: SceneTables, q: int) -> SceneTables:
    """Scenario q of a batch as a batch of one (views)."""
    return tab.take(slice(q, q + 1))


def _stack(parts: list[SceneTables]) -> SceneTables:
    p0 = parts[0]
    for p in parts:
        if p.T != p0.T:
            raise ValueError(f"scenarios of one batched step must share T; got {p0.T} and {p.T}")
    return SceneTables(T=p0.T, I=p0.I, K=p0.K, J=p0.J, R=p0.R, weights=p0.weights,
                       **{f: np.concatenate([getattr(p, f) for p in parts]) for f in SCENE_FIELDS})
