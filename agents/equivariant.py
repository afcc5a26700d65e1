"""A permutation-equivariant actor-critic for GreenLLM-v1 and GreenLLM-v2: a learned allocation policy with no
solver inside.

On GreenLLM-v2 (``obs="v2"``, `policy_kwargs_of` fills it from the env) the network reads v2's named observation
(`green_llm_env.core.features.FeatureLayout`) by part and feature name, prices water below the scenario's water
price μ_w and couples the hour's water with its share of the water left (`AllocationNet`); the module shapes are
v1's, and v1's saved agents load and act as before (their constructor parameters carry none of the new kwargs).
The description below is v1's; v2 differs where `AllocationNet`'s docstring says.

`EquivariantPolicy` (SB3 ``ActorCriticPolicy``; ``policy: EquivariantPolicy`` in hyperparams/ppo.yml once this
module is imported, which ``train.py`` does) reads GreenLLM-v1's flat observation through its layout
(`green_llm_env.observation_v1.V1Layout`) and scores every option, a share of (area i, type k) sent to DC j:

1. **Encode** each option from its own features (``options``: delay vs cap, resource use vs capacity, facility
   kW, water, weighted cost), its DC's (``dcs``: prices, carbon, renewables, grid cap, PUE, water per kWh,
   headroom, and the DC's forecasts when the env has them), its (area, type)'s (``areas``: demand, delay cap,
   delay price, and its demand forecast) and the hour's ``globals`` (water left, the guard's water cap, the
   hour's least water, hour of day, time left), all through ``sign(v)·log(1 + |v|)``: one shared MLP, so the
   same weights serve any numbers of areas, types and DCs.
2. **Couple** the options in ``rounds`` rounds: the current scores give shares (softmax over DCs per (i, k));
   from those shares each DC's load is computed as the env would (resource use over capacity per resource,
   facility power over renewables and over renewables plus grid cap), with the hour's water use over the
   water the guard allows and each (i, k)'s delay over its cap; every option then sees its DC's load, its own
   (i, k)'s delay, the water ratio and the mean embedding over its DC's options and over its (i, k)'s DCs
   (message passing both ways), and its embedding and score are updated (residual MLP).
3. **Act**: the allocation is ``softmax_j(score[n, j])`` per (i, k), a point on the simplex, which is the mean
   of a Gaussian with one shared ``log_std`` (so no parameter depends on the sizes); GreenLLM-v1's
   ``action_mode="project"`` maps a point of the simplex to itself and the env's feasibility guard is the only
   correction. The critic reads the mean embedding and the globals.

`EquivariantPolicy.imitation_loss` is the behaviour-cloning loss `agents.imitation.behaviour_clone` uses for it:
cross-entropy between the expert's shares and the policy's, each (i, k) weighted by its cost at stake.
`resize_policy` gives the same weights for an env of other sizes (evaluate.py does this by itself when an
agent plays a scenario of other sizes, see `agents.policy.TrainedPolicy.reset`).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch as th
from stable_baselines3 import A2C, PPO
from stable_baselines3.common.policies import ActorCriticPolicy
from torch import nn

from green_llm_env.core.features import FeatureLayout
from green_llm_env.core.water import WATER_PRICE_FACTOR
from green_llm_env.observation_v1 import V1Layout, dc_features as v1_dc_features, option_features as v1_option_features

__all__ = ["AllocationNet", "EquivariantPolicy", "OBS_KINDS", "layout_of", "obs_kind_of", "policy_kwargs_of",
           "resize_policy"]

OBS_KINDS = ("v1", "v2")
"""Observations the network reads: GreenLLM-v1's (`V1Layout`) or GreenLLM-v2's named table (`FeatureLayout`)."""

_EPS = 1e-6
CAPACITY_MARGIN = 1e-3
"""Relative margin the output layer keeps below each DC's capacity (the guard replaces an hour that exceeds
a capacity by a blend that may reach the whole least-water allocation)."""
CAPACITY_PASSES = 4
"""Rescaling passes of the output layer (`AllocationNet._within_capacity`)."""


def _env_layout(env: Any) -> Any:
    base = env
    if hasattr(base, "get_attr"):  # a VecEnv
        lay = base.get_attr("layout")[0]
    else:
        lay = getattr(getattr(base, "unwrapped", base), "layout")
    if not isinstance(lay, (V1Layout, FeatureLayout)):
        raise ValueError("EquivariantPolicy needs GreenLLM-v1's or GreenLLM-v2's observation; the env's layout is "
                         f"{type(lay).__name__}")
    return lay


def layout_of(env: Any) -> tuple[int, int, int, int, int]:
    """(I, K, J, R, H) of a GreenLLM-v1 or GreenLLM-v2 env (any wrapper or vector env of one)."""
    lay = _env_layout(env)
    return (lay.I, lay.K, lay.J, lay.R, lay.forecast_hours)


def obs_kind_of(env: Any) -> str:
    """``"v2"`` for GreenLLM-v2's named observation (`FeatureLayout`), ``"v1"`` for GreenLLM-v1's."""
    return "v2" if isinstance(_env_layout(env), FeatureLayout) else "v1"


def policy_kwargs_of(env: Any) -> dict[str, Any]:
    """The policy kwargs an env fixes: ``layout`` and ``obs`` (what ``train.py`` fills in)."""
    return {"layout": layout_of(env), "obs": obs_kind_of(env)}


def _squash(x: th.Tensor) -> th.Tensor:
    return th.sign(x) * th.log1p(x.abs())


def _mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.SiLU(), nn.Linear(hidden, n_out))


class AllocationNet(nn.Module):
    """The shared network (see the module docstring): ``forward(obs)`` -> (shares (B, N·J), value latent (B, d)).

    Scores are reduced costs, ``score[n, j] = -(cost[n, j] + λ·water[n, j] + ν_j·kW[n, j] + Σ_r μ_jr·use[n, j, r]
    + κ_n·delay[n, j]) / τ_n`` (the ``options`` features), with prices predicted by small MLPs over tokens:
    λ (water) from the globals, ν_j (power: below 0 where renewables make energy cheaper than the grid) and
    μ_jr >= 0 (resources) from DC j's token, κ_n >= 0 (delay cap) and the temperature τ_n from (i, k)'s token.
    Each coupling round recomputes the loads of the current shares and corrects every price from them.

    On GreenLLM-v2's observation (``obs="v2"``, read by feature name through `FeatureLayout`) the water is a
    price, not a cap: λ = μ_w·sigmoid(·) is bounded by the scenario's water price μ_w (``globals.water_price``,
    what a litre beyond the budget costs, so no dual exceeds it), the water load of the coupling rounds is the
    hour's water valued at μ_w relative to its weighted cost, and the globals enter as water left, squashed
    water over the budget and pace, the water price relative to the hour's costs, hour of day and time left.
    The same module shapes as on v1 (the 7 globals, one water load), so the code of both is one.

    Args:
        layout: (I, K, J, R, H) of the observation it reads (`layout_of`); `set_layout` changes it later.
        hidden: width d of the token embeddings and MLPs.
        rounds: coupling rounds (>= 1).
        obs: ``"v1"`` (GreenLLM-v1's `V1Layout`) or ``"v2"`` (GreenLLM-v2's `FeatureLayout`).
        capacity_margin: relative margin the output layer keeps below each DC's capacity; None: no output
            layer (the shares are the softmax alone).
        capacity_passes: rescaling passes of the output layer.
        detach_critic: the critic reads the token embeddings without back-propagating into them (the value loss
            then cannot move the actor's prices, e.g. those a warm start cloned).
        value_gain: None, or g > 0: the value latent is multiplied by ``g·C_h·time_left`` (C_h = Σ_n min_j
            cost_usd, the hour's least cost, $; time_left the fraction of the day left): a per-scenario scale of
            the return to come, so that the critic's linear head only learns a ratio, and learns it g times
            faster (SB3 gives the actor and the critic one learning rate, which a warm-started actor needs small).
    """

    def __init__(self, layout: Sequence[int], hidden: int = 64, rounds: int = 2, obs: str = "v1",
                 capacity_margin: float | None = CAPACITY_MARGIN, capacity_passes: int = CAPACITY_PASSES,
                 detach_critic: bool = False, value_gain: float | None = None) -> None:
        super().__init__()
        I, K, J, R, H = (int(v) for v in layout)
        if rounds < 1:
            raise ValueError(f"rounds must be >= 1; got {rounds}")
        if obs not in OBS_KINDS:
            raise ValueError(f"obs must be one of {OBS_KINDS}; got {obs!r}")
        self.R, self.H, self.hidden, self.rounds, self.obs = R, H, int(hidden), int(rounds), obs
        self.capacity_margin = None if capacity_margin is None else float(capacity_margin)
        self.capacity_passes = int(capacity_passes)
        self.detach_critic = bool(detach_critic)
        self.value_gain = None if value_gain is None else float(value_gain)
        self.set_layout(layout)
        d, F = self.hidden, R + 4
        n_dc, n_area = (R + 8 + 4 * H) + 2 * F, (3 + H) + 2 * F
        self.dc_enc = _mlp(n_dc + 7, d, d)
        self.area_enc = _mlp(n_area + 7, d, d)
        self.glob_enc = _mlp(7 + 2 * d, d, d)
        self.dc_head = nn.Linear(d, R + 1)  # ν_j, μ_jr
        self.area_head = nn.Linear(d, 2)  # κ_n, τ_n
        self.glob_head = nn.Linear(d, 1)  # λ
        # coupling: each round corrects the token embeddings from the loads of the current shares
        self.dc_upd = nn.ModuleList([_mlp(2 * d + R + 3, d, d) for _ in range(self.rounds)])
        self.area_upd = nn.ModuleList([_mlp(2 * d + 2, d, d) for _ in range(self.rounds)])
        self.glob_upd = nn.ModuleList([_mlp(3 * d + 1, d, d) for _ in range(self.rounds)])
        self.critic = _mlp(3 * d + 7, d, d)
        self.latent_dim_vf = d
        with th.no_grad():  # start near the greedy allocation: small prices, a sharp but finite temperature
            for head in (self.dc_head, self.area_head, self.glob_head):
                head.weight.mul_(0.1)
                head.bias.zero_()
            # v1: λ = exp(·) from 0.05; v2: λ = μ_w·sigmoid(·) from 0.2 μ_w (the budget's dual, at most 0.5 μ_w)
            self.glob_head.bias.fill_(np.log(0.05) if obs == "v1" else np.log(0.25))
            self.area_head.bias[1] = np.log(0.05)

    def set_layout(self, layout: Sequence[int]) -> None:
        """Read observations of sizes ``layout`` = (I, K, J, R, H) from now on (R and H must not change)."""
        I, K, J, R, H = (int(v) for v in layout)
        if (R, H) != (self.R, self.H):
            raise ValueError(f"layout {tuple(layout)}: R and H must stay ({self.R}, {self.H}); the weights depend on them")
        N = I * K
        if self.obs == "v1":
            self.layout = V1Layout(I, K, J, R, H)
            opt_names, dc_names = v1_option_features(R), v1_dc_features(R)
            self._spans = {k: (sl.start, sl.stop) for k, sl in self.layout.slices.items()}
            self._scales = {"facility_kw": 10.0, "water_l": 10.0, "renewable": 100.0, "grid_cap": 5000.0}
        else:
            self.layout = FeatureLayout(I, K, J, R, H)
            parts = self.layout.parts
            opt_names, dc_names = parts["options"].features, parts["dcs"].features
            self._spans = {k: (p.start, p.start + p.size) for k, p in parts.items()}
            self._scales = {f: parts["options"].scales[opt_names.index(f)] for f in ("facility_kw", "water_l")}
            self._scales.update({f: parts["dcs"].scales[dc_names.index(f)] for f in ("renewable", "grid_cap")})
            self._glob = {f: q for q, f in enumerate(parts["globals"].features)}
        self._opt = {f: q for q, f in enumerate(opt_names)}
        self._dc = {f: q for q, f in enumerate(dc_names)}
        self._res = [self._opt[f"resource_rel_{r}"] for r in range(R)]
        if self._res != list(range(self._res[0], self._res[0] + R)):
            raise ValueError("the resource features of an option must be contiguous")
        self.N, self.J = N, J
        self.latent_dim_pi = self.N * J

    # ------------------------------------------------------------------ pieces
    def _part(self, obs: th.Tensor, name: str) -> th.Tensor:
        a, b = self._spans[name]
        return obs[:, a:b]

    def _parts(self, obs: th.Tensor) -> dict[str, th.Tensor]:
        B, N, J, H = obs.shape[0], self.N, self.J, self.H
        opt = self._part(obs, "options").reshape(B, N, J, -1)
        dcs = self._part(obs, "dcs").reshape(B, J, -1)
        areas = self._part(obs, "areas").reshape(B, N, 3)
        glob = self._part(obs, "globals")
        # the hour's least cost, Σ_n min_j cost_usd ($, (B,)): the v2 water allowance's and the value gain's scale
        least = opt[..., self._opt["cost_usd"]].amin(-1).sum(-1).abs()
        raw = {"options": opt, "dcs": dcs, "areas": areas, "globals": glob, "least_cost_usd": least}
        if self.obs == "v2":
            raw["globals"], raw["water_price"], raw["allowance_usd"] = self._v2_globals(opt, glob, least)
        if H > 0:
            fc = [self._part(obs, k).reshape(B, H, J).transpose(1, 2)
                  for k in ("forecast_price", "forecast_renewable", "forecast_carbon", "forecast_water")]
            raw["dcs"] = th.cat([dcs] + fc, dim=-1)
            raw["areas"] = th.cat([areas, self._part(obs, "forecast_demand").reshape(B, H, N).transpose(1, 2)], dim=-1)
        return raw

    def _v2_globals(self, opt: th.Tensor, glob: th.Tensor, c_h: th.Tensor) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """GreenLLM-v2's globals as the network reads them (B, 7; O(1)), μ_w ($ per observed water unit, (B,)) and
        the hour's allowance of the water left valued at μ_w ($, (B,))."""
        g = self._glob
        price = glob[:, g["water_price"]].clamp_min(0.0) * self._scales["water_l"]  # $ per option water unit
        water = opt[..., self._opt["water_l"]].mean(-1).sum(-1)  # (B,) the hour's water at an even split
        cost = opt[..., self._opt["cost_usd"]].mean(-1).sum(-1).abs().clamp_min(_EPS)
        rel_price = _squash(price * water / cost)  # the hour's water valued at μ_w, over its cost
        out = th.stack([glob[:, g["water_left"]], _squash(glob[:, g["water_over"]]), _squash(glob[:, g["water_pace"]]),
                        rel_price, glob[:, g["hour_sin"]], glob[:, g["hour_cos"]], glob[:, g["time_left"]]], -1)
        # the hour's share of the water left, valued at μ_w ($): μ_w·Z = WATER_PRICE_FACTOR·Σ_t C_t (`core.water`),
        # with C_t = Σ_n min_j cost_usd, estimated by this hour's C_h for every hour: μ_w·Z·left / hours left
        # = WATER_PRICE_FACTOR·C_h·water_left / time_left
        allowance = (WATER_PRICE_FACTOR * c_h * glob[:, g["water_left"]].clamp_min(0.0)
                     / glob[:, g["time_left"]].clamp_min(1e-3)).clamp_min(1e-3 * cost)
        return out, price, allowance

    def _loads(self, p: th.Tensor, raw: dict[str, th.Tensor]) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """Loads of shares ``p`` (B, N, J) in the env's units: per DC (B, J, R + 2) resource use over capacity
        and facility power over renewables and over renewables + grid cap; per (i, k) (B, N, 1) average
        delay over its cap; the hour's water (B, 1): v1 over the guard's cap, v2 valued at the water price over
        the hour's weighted cost."""
        opt, dcs, glob = raw["options"], raw["dcs"], raw["globals"]
        R, o, sc = self.R, self._opt, self._scales
        r0 = self._res[0]
        res = th.einsum("bnj,bnjr->bjr", p, opt[..., r0:r0 + R])
        fac_kw = (p * opt[..., o["facility_kw"]]).sum(1) * sc["facility_kw"]
        ren_kw = dcs[..., self._dc["renewable"]] * sc["renewable"]
        cap_kw = dcs[..., self._dc["grid_cap"]] * sc["grid_cap"]
        dc = th.cat([res, (fac_kw / (ren_kw + 1.0))[..., None], (fac_kw / (ren_kw + cap_kw + 1.0))[..., None]], -1)
        if self.obs == "v1":
            water_l = (p * opt[..., o["water_l"]]).sum((1, 2)) * 10.0
            cap_l = glob[:, 2] * 10.0 * glob[:, 3] * 100.0  # (cap / least / 10)·10 · (least / 100)·100
            water = (water_l / (cap_l.clamp_min(0.0) + 1.0))[:, None]
        else:  # the hour's water over its share of the water left (`_allowance_usd`: valued at μ_w, in $)
            usd = (p * opt[..., o["water_l"]]).sum((1, 2)) * raw["water_price"]
            water = (usd / raw["allowance_usd"])[:, None]
        delay = (p * opt[..., o["delay_rel"]]).sum(-1, keepdim=True)
        return _squash(dc), _squash(delay), _squash(water)

    def _scores(self, raw: dict[str, th.Tensor], dc_h: th.Tensor, area_h: th.Tensor, glob_h: th.Tensor) -> th.Tensor:
        opt, R, o = raw["options"], self.R, self._opt
        r0 = self._res[0]
        dc_out, area_out = self.dc_head(dc_h), self.area_head(area_h)  # (B, J, R + 1), (B, N, 2)
        nu, mu = dc_out[..., 0], nn.functional.softplus(dc_out[..., 1:])
        kappa, tau = nn.functional.softplus(area_out[..., 0]), th.exp(area_out[..., 1].clamp(-12.0, 4.0))
        if self.obs == "v1":
            lam = th.exp(self.glob_head(glob_h).clamp(-15.0, 5.0))  # (B, 1)
        else:  # at most the water price: no litre is worth more than what a litre beyond the budget costs
            lam = raw["water_price"][:, None] * th.sigmoid(self.glob_head(glob_h))
        cost = opt[..., o["cost_usd"]]
        scale = cost.abs().mean(-1, keepdim=True).clamp_min(_EPS)  # (B, N, 1): $ at stake in the row
        reduced = (cost + lam[:, :, None] * opt[..., o["water_l"]] + nu[:, None] * opt[..., o["facility_kw"]]
                   + th.einsum("bjr,bnjr->bnj", mu, opt[..., r0:r0 + R]) + kappa[..., None] * opt[..., o["delay_rel"]])
        return -reduced / (scale * tau[..., None])

    def _within_capacity(self, p: th.Tensor, raw: dict[str, th.Tensor]) -> th.Tensor:
        """The output layer: shares (B, N, J) kept within each DC's capacity (every resource, and facility power
        within renewables + grid cap) by `CAPACITY_PASSES` closed-form passes: a DC over ``1 - capacity_margin``
        of a limit has its column scaled down to it, and what its rows lose goes to their DCs with room, in
        proportion to their shares. No solver; differentiable; shares that fit pass unchanged."""
        if self.capacity_margin is None:
            return p
        opt, dcs, R, sc = raw["options"], raw["dcs"], self.R, self._scales
        r0 = self._res[0]
        use_rel = opt[..., r0:r0 + R]
        kw = opt[..., self._opt["facility_kw"]] * sc["facility_kw"]
        supply_kw = (dcs[..., self._dc["renewable"]] * sc["renewable"]
                     + dcs[..., self._dc["grid_cap"]] * sc["grid_cap"]).clamp_min(_EPS)  # (B, J)
        limit = 1.0 - self.capacity_margin
        for _ in range(self.capacity_passes):
            load = th.maximum(th.einsum("bnj,bnjr->bjr", p, use_rel).amax(-1), (p * kw).sum(1) / supply_kw)
            over = load > limit
            if not bool(over.any()):
                break
            f = th.where(over, limit / load.clamp_min(_EPS), th.ones_like(load))  # (B, J)
            q = p * f[:, None]
            lost = 1.0 - q.sum(-1, keepdim=True)  # (B, N, 1)
            room = q * (~over)[:, None].to(q.dtype)
            total = room.sum(-1, keepdim=True)
            p = th.where(total > _EPS, q + lost * room / total.clamp_min(_EPS), q / q.sum(-1, keepdim=True))
        return p

    def scores(self, obs: th.Tensor) -> tuple[dict[str, th.Tensor], th.Tensor, th.Tensor]:
        """The coupling rounds: (the observation's parts, scores (B, N, J) before the softmax, the critic's
        input (B, 3d + 7))."""
        raw = self._parts(obs)
        B, N, J = obs.shape[0], self.N, self.J
        opt, glob = _squash(raw["options"]), raw["globals"]
        g = glob[:, None].expand(B, J, 7)
        dc_h = self.dc_enc(th.cat([_squash(raw["dcs"]), opt.mean(1), opt.amin(1), g], -1))
        area_h = self.area_enc(th.cat([_squash(raw["areas"]), opt.mean(2), opt.amin(2), glob[:, None].expand(B, N, 7)], -1))
        glob_h = self.glob_enc(th.cat([glob, dc_h.mean(1), area_h.mean(1)], -1))
        score = self._scores(raw, dc_h, area_h, glob_h)
        for dc_u, area_u, glob_u in zip(self.dc_upd, self.area_upd, self.glob_upd):
            dc_load, delay, water = self._loads(th.softmax(score, -1), raw)
            gd = glob_h[:, None].expand(B, J, -1)
            dc_h = dc_h + dc_u(th.cat([dc_h, gd, dc_load, water[:, None].expand(B, J, 1)], -1))
            area_h = area_h + area_u(th.cat([area_h, glob_h[:, None].expand(B, N, -1), delay,
                                            water[:, None].expand(B, N, 1)], -1))
            glob_h = glob_h + glob_u(th.cat([glob_h, dc_h.mean(1), area_h.mean(1), water], -1))
            score = self._scores(raw, dc_h, area_h, glob_h)
        critic_in = th.cat([glob_h, dc_h.mean(1), area_h.mean(1), glob], -1)
        return raw, score, critic_in.detach() if self.detach_critic else critic_in

    def _shares(self, raw: dict[str, th.Tensor], score: th.Tensor) -> th.Tensor:
        return self._within_capacity(th.softmax(score, -1), raw).reshape(score.shape[0], self.N * self.J)

    def _value_latent(self, raw: dict[str, th.Tensor], critic_in: th.Tensor) -> th.Tensor:
        latent = self.critic(critic_in)
        if self.value_gain is None:
            return latent
        c_h = raw["least_cost_usd"]
        left = raw["globals"][:, -1] if self.obs == "v2" else raw["globals"][:, 6]  # time_left
        return latent * (self.value_gain * c_h * left).detach()[:, None]

    def forward(self, obs: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        raw, score, critic_in = self.scores(obs)
        return self._shares(raw, score), self._value_latent(raw, critic_in)

    def forward_actor(self, obs: th.Tensor) -> th.Tensor:
        raw, score, _ = self.scores(obs)
        return self._shares(raw, score)

    def forward_critic(self, obs: th.Tensor) -> th.Tensor:
        raw, _, critic_in = self.scores(obs)
        return self._value_latent(raw, critic_in)

    def stakes(self, raw: dict[str, th.Tensor]) -> th.Tensor:
        """(B, N) weight of each (i, k) (``raw``: `scores`' parts): its mean weighted cost over DCs ($),
        normalised to mean 1 per row."""
        c = raw["options"][..., self._opt["cost_usd"]].abs().mean(-1)
        return c / c.mean(-1, keepdim=True).clamp_min(_EPS)


class EquivariantPolicy(ActorCriticPolicy):
    """SB3 actor-critic over `AllocationNet` (see the module docstring).

    Policy kwargs: ``layout`` (I, K, J, R, H) of the env's observation and ``obs`` (``"v1"`` or ``"v2"``: which
    env's observation; ``train.py`` fills both from the env, `policy_kwargs_of`), ``hidden`` (64), ``rounds`` (2),
    ``capacity_margin`` (the output layer's margin below capacity, None: no output layer), ``capacity_passes``
    (its rescaling passes), ``detach_critic`` (the value loss leaves the shared embeddings alone), ``value_gain``
    (the value latent scaled per scenario, `AllocationNet`), ``log_std_init`` (one shared value). Needs
    ``action_mode="project"`` (the default): the action is the allocation itself.
    """

    def __init__(self, observation_space: Any, action_space: Any, lr_schedule: Any,
                 layout: Sequence[int] | None = None, hidden: int = 64, rounds: int = 2, load_weight: float = 1.0,
                 obs: str = "v1", capacity_margin: float | None = CAPACITY_MARGIN,
                 capacity_passes: int = CAPACITY_PASSES, detach_critic: bool = False, value_gain: float | None = None,
                 **kwargs: Any) -> None:
        if layout is None:
            raise ValueError("EquivariantPolicy needs layout=(I, K, J, R, H) in policy_kwargs (train.py fills it "
                             "from the env: agents.equivariant.layout_of)")
        if obs not in OBS_KINDS:
            raise ValueError(f"EquivariantPolicy obs must be one of {OBS_KINDS}; got {obs!r}")
        self.alloc_layout = tuple(int(v) for v in layout)
        self.hidden, self.rounds, self.load_weight = int(hidden), int(rounds), float(load_weight)
        self.obs_kind = obs
        self.capacity_margin = None if capacity_margin is None else float(capacity_margin)
        self.capacity_passes = int(capacity_passes)
        self.detach_critic = bool(detach_critic)
        self.value_gain = None if value_gain is None else float(value_gain)
        want = (V1Layout if obs == "v1" else FeatureLayout)(*self.alloc_layout).size
        if observation_space.shape != (want,):
            raise ValueError(f"EquivariantPolicy layout={self.alloc_layout} reads observations of shape ({want},); "
                             f"the env's are {observation_space.shape}")
        kwargs.setdefault("ortho_init", False)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)

    def _build_mlp_extractor(self) -> None:
        self.mlp_extractor = AllocationNet(self.alloc_layout, self.hidden, self.rounds, self.obs_kind,
                                           self.capacity_margin, self.capacity_passes, self.detach_critic,
                                           self.value_gain)

    def _build(self, lr_schedule: Any) -> None:
        super()._build(lr_schedule)
        self.action_net = nn.Identity()  # the network's output is the action mean (shares on the simplex)
        self.log_std = nn.Parameter(th.full((1,), float(self.log_std_init)))
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(layout=self.alloc_layout, hidden=self.hidden, rounds=self.rounds, load_weight=self.load_weight)
        if (self.obs_kind, self.capacity_margin, self.capacity_passes, self.detach_critic, self.value_gain) != (
                "v1", CAPACITY_MARGIN, CAPACITY_PASSES, False, None):  # v1's saved agents keep their parameters
            data.update(obs=self.obs_kind, capacity_margin=self.capacity_margin, capacity_passes=self.capacity_passes,
                        detach_critic=self.detach_critic, value_gain=self.value_gain)
        return data

    def imitation_loss(self, obs: th.Tensor, actions: th.Tensor) -> th.Tensor:
        """Behaviour cloning: Σ_n w_n·CE(expert shares_n, policy shares_n) / N, with w the cost at stake of each
        (i, k) (`AllocationNet.stakes`). ``obs`` as the policy sees them, ``actions`` (B, N·J) the expert's."""
        net: AllocationNet = self.mlp_extractor  # type: ignore[assignment]
        raw, score, _ = net.scores(self.extract_features(obs))
        logp = th.log_softmax(score, -1)
        y = actions.reshape(logp.shape).clamp_min(0.0)
        y = y / y.sum(-1, keepdim=True).clamp_min(_EPS)
        ce = (-(y * logp).sum(-1) * net.stakes(raw)).mean()
        # the loads the expert's shares put on each DC, on the water and on each delay cap
        got, want = net._loads(logp.exp(), raw), net._loads(y, raw)
        return ce + self.load_weight * sum(((g - w) ** 2).mean() for g, w in zip(got, want))

    def imitation_parameters(self) -> list[nn.Parameter]:
        """What behaviour cloning trains: the actor's part of the network (not the critic, not ``log_std``)."""
        net: AllocationNet = self.mlp_extractor  # type: ignore[assignment]
        return [p for name, p in net.named_parameters() if not name.startswith("critic")]


def resize_policy(policy: EquivariantPolicy, observation_space: Any, action_space: Any,
                  layout: Sequence[int]) -> EquivariantPolicy:
    """The same weights reading an env of other sizes (``layout`` = (I, K, J, R, H), same R and H)."""
    params = policy._get_constructor_parameters()
    params.update(observation_space=observation_space, action_space=action_space, layout=tuple(layout))
    new = type(policy)(**params)
    new.load_state_dict(policy.state_dict())
    return new.to(policy.device)


for _algo in (PPO, A2C):  # ``policy: EquivariantPolicy`` in hyperparams/<algo>.yml
    _algo.policy_aliases["EquivariantPolicy"] = EquivariantPolicy
