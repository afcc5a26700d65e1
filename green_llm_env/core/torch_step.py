"""GreenLLM-v2's batched step in torch: the twin of `green_llm_env.core.kernels` for tensors on any device.

The same step as the compiled kernels, written over whole batches (E envs at once) instead of a loop per
element: the action map (simplex projection or softmax), the continuous repair, the cost model
(`green_llm_env.kernels.hour_element`'s formulas), the penalty, the bookkeeping and the observation. The hour
rows are read through `green_llm_env.kernels.field_slices` and the observation is laid out by
`green_llm_env.core.features.FeatureLayout`, so both backends read one layout. The two are kept equal by tests
(`tests/test_torch_backend.py`: float64 to 1e-9 relative, float32 to its round-off), not by hand.

Every function here is pure (no state, no host sync): `TorchTables` holds a bank of scenario slots on the
device, `advance` steps E envs whose slots and hours are given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .. import kernels
from .features import BOUND, GLOBAL_FEATURES, FeatureLayout
from .kernels import OVER
from .tables import SceneTables

__all__ = ["StepOut", "TorchTables", "advance", "hour_terms", "map_actions", "observe", "penalty", "repair"]


@dataclass
class TorchTables:
    """B scenario slots of one size on one device (`SceneTables`' fields, hour rows flattened ``slot*T + t``).

    ``flat`` (B*T, W), ``xref`` (B*T, N, J), ``ref_delay`` (B*T, N), ``ref_use`` (B*T, 1+R, J), ``ref_fac``
    (B*T, J), ``pen`` (B*T, 10), ``lam`` (B*T, N); per slot ``delta`` (B, J), ``budget`` (B,) L, ``price_w``
    (B,) $/L, ``start`` (B,) hour of day (int64), ``seed`` (B,) int64.
    """

    flat: torch.Tensor
    xref: torch.Tensor
    ref_delay: torch.Tensor
    ref_use: torch.Tensor
    ref_fac: torch.Tensor
    pen: torch.Tensor
    lam: torch.Tensor
    delta: torch.Tensor
    budget: torch.Tensor
    price_w: torch.Tensor
    start: torch.Tensor
    seed: torch.Tensor
    positive: bool = True
    """Every delay cap and resource capacity of the slots is > 0 (the observation needs no 0·inf guard)."""

    _TENSORS = ("flat", "xref", "ref_delay", "ref_use", "ref_fac", "pen", "lam", "delta", "budget", "price_w",
                "start", "seed")
    _HOURLY = ("flat", "xref", "ref_delay", "ref_use", "ref_fac", "pen", "lam")
    _SOURCE = {"budget": "water_budget_l", "price_w": "water_price", "start": "start_hour"}

    @classmethod
    def empty(cls, slots: int, sizes: tuple[int, int, int, int, int], device: Any, dtype: torch.dtype
              ) -> "TorchTables":
        """``slots`` zeroed slots for scenarios of sizes (T, I, K, J, R)."""
        T, I, K, J, R = sizes
        N = I * K
        W = kernels.layout(R, N, J)[-1]
        f = {"device": device, "dtype": dtype}
        i = {"device": device, "dtype": torch.int64}
        BT = slots * T
        return cls(flat=torch.zeros(BT, W, **f), xref=torch.zeros(BT, N, J, **f), ref_delay=torch.zeros(BT, N, **f),
                   ref_use=torch.zeros(BT, R + 1, J, **f), ref_fac=torch.zeros(BT, J, **f),
                   pen=torch.zeros(BT, 10, **f), lam=torch.zeros(BT, N, **f), delta=torch.zeros(slots, J, **f),
                   budget=torch.ones(slots, **f), price_w=torch.zeros(slots, **f), start=torch.zeros(slots, **i),
                   seed=torch.full((slots,), -1, **i))

    @classmethod
    def from_scenes(cls, tables: SceneTables, device: Any, dtype: torch.dtype) -> "TorchTables":
        """All scenarios of ``tables`` as slots (in their order)."""
        out: dict[str, Any] = {}
        for name in cls._TENSORS:
            src = getattr(tables, cls._SOURCE.get(name, name))
            if name in cls._HOURLY:
                src = src.reshape((-1,) + src.shape[2:])
            kind = torch.int64 if name in ("start", "seed") else dtype
            out[name] = torch.as_tensor(np.ascontiguousarray(src)).to(device=device, dtype=kind)
        sl = kernels.field_slices(tables.R, tables.N, tables.J)
        caps = tables.flat[..., sl["dcap"][0]], tables.flat[..., sl["capacity"][0]]
        return cls(**out, positive=bool(all((c > 0.0).all() for c in caps)))

    def put(self, slots: torch.Tensor, tables: SceneTables, which: np.ndarray) -> None:
        """Write scenarios ``which`` of ``tables`` into ``slots`` (a host-to-device copy of those rows only)."""
        src = TorchTables.from_scenes(tables.take(which), self.flat.device, self.flat.dtype)
        T = self.flat.shape[0] // self.budget.shape[0]
        rows = (slots[:, None] * T + torch.arange(T, device=slots.device)).reshape(-1)
        for name in self._TENSORS:
            getattr(self, name)[rows if name in self._HOURLY else slots] = getattr(src, name)
        self.positive = self.positive and src.positive


# --------------------------------------------------------------------------------------------- fields
def _fields(tb: torch.Tensor, R: int, N: int, J: int) -> dict[str, torch.Tensor]:
    """The named fields of hour rows ``tb`` (E, W) (`green_llm_env.kernels.FIELDS`), each (E, *shape)."""
    E = tb.shape[0]
    return {name: tb[:, sl].reshape((E,) + shape) for name, (sl, shape) in kernels.field_slices(R, N, J).items()}


# ---------------------------------------------------------------------------------------- action maps
def map_actions(a: torch.Tensor, softmax: bool, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row of ``a`` (E, N, J) (already within [-1, 1]) onto the simplex: the Euclidean projection (or
    ``softmax(a / temperature)``). Returns (shares (E, N, J), distance |x - a| per env (E,))."""
    if softmax:
        x = torch.softmax(a / temperature, dim=-1)
    else:
        srt = torch.sort(a, dim=-1, descending=True).values
        k = torch.arange(1, a.shape[-1] + 1, device=a.device, dtype=a.dtype)
        theta = ((torch.cumsum(srt, dim=-1) - 1.0) / k).amax(dim=-1, keepdim=True)
        x = torch.clamp(a - theta, min=0.0)
    return x, torch.sqrt(((x - a) ** 2).sum(dim=(1, 2)))


# ----------------------------------------------------------------------------------------- cost model
@dataclass
class Terms:
    """The cost model's numbers of E allocations: ``nums`` (E, 8) (`cost.NUMBERS`), ``viol`` (E, 5)
    (`cost.FAMILIES`), ``use`` (E, 1+R, J) IT kW and resource units, ``fac`` (E, J) facility kW, ``delay``
    (E, N) s."""

    nums: torch.Tensor
    viol: torch.Tensor
    use: torch.Tensor
    fac: torch.Tensor
    delay: torch.Tensor


def _use(f: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """IT kW and resource units per DC (E, 1+R, J) of shares ``x``: ``QT @ x``."""
    return torch.matmul(f["QT"], x)


def _delay(f: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Average delay (s) per (i, k) (E, N) of shares ``x``."""
    return (f["DT"].transpose(1, 2) * x).sum(dim=-1)


def hour_terms(f: dict[str, torch.Tensor], x: torch.Tensor, left: torch.Tensor, use: torch.Tensor | None = None,
               delay: torch.Tensor | None = None) -> Terms:
    """MODEL.md section 3 for shares ``x`` (E, N, J) >= 0 on hour fields ``f`` (`_fields`) with ``left`` (E,)
    litres left (the formulas of `green_llm_env.kernels.hour_element`, batched); ``use`` and ``delay`` of ``x``
    when the caller has them (they are linear in x)."""
    relu = torch.relu
    use = _use(f, x) if use is None else use  # (E, 1+R, J)
    delay = _delay(f, x) if delay is None else delay  # (E, N)
    d_usd = (f["rho"] * delay).sum(dim=-1)
    v_alloc = (x.sum(dim=-1) - 1.0).abs().sum(dim=-1)
    v_delay = relu(delay - f["dcap"]).sum(dim=-1)
    fac = use[:, 0] * f["pue"]
    need = fac - f["ren"]
    grid = torch.where(f["gp"] < 0.0, torch.minimum(fac, f["cap"]), relu(need))
    water = (f["wlpk"] * fac).sum(dim=-1)
    price, c_usd = f["price"], f["carbon"]
    nums = torch.stack([
        (f["gp"] * grid).sum(dim=-1) + f["sd"][:, 0] * d_usd,
        (price * grid).sum(dim=-1),
        (c_usd * grid).sum(dim=-1),
        d_usd,
        ((price + c_usd) * grid).sum(dim=-1) + d_usd,
        (f["theta"] * grid).sum(dim=-1),
        water,
        grid.sum(dim=-1)], dim=1)
    viol = torch.stack([
        v_alloc,
        relu(use[:, 1:] - f["capacity"]).sum(dim=(1, 2)),
        v_delay,
        relu(need - f["cap"]).sum(dim=-1),
        relu(water - relu(left))], dim=1)
    return Terms(nums, viol, use, fac, delay)


def penalty(viol: torch.Tensor, pen: torch.Tensor) -> torch.Tensor:
    """Penalty ($) per env: ``Σ_f mu_f·max(v_f - tol_f, 0)`` with ``pen`` (E, 10) = (mu (5), tol (5))."""
    return (pen[:, :kernels.N_FAMILIES] * torch.relu(viol - pen[:, kernels.N_FAMILIES:])).sum(dim=-1)


# --------------------------------------------------------------------------------------------- repair
def _fraction(g: torch.Tensor, g_ref: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Least s in [0, 1] with (1 - s)·g + s·g_ref <= b (0 if g <= b; 1 if no fraction does)."""
    s = torch.clamp((g - b) / (g - g_ref) * (1.0 + OVER), max=1.0)
    s = torch.where(g > g_ref, s, torch.ones_like(s))
    return torch.where(g <= b, torch.zeros_like(s), s)


def repair(f: dict[str, torch.Tensor], xr: torch.Tensor, ref_delay: torch.Tensor, ref_use: torch.Tensor,
           ref_fac: torch.Tensor, x: torch.Tensor, left: torch.Tensor) -> tuple[torch.Tensor, Terms, torch.Tensor]:
    """The continuous repair of shares ``x`` (E, N, J) toward the reference points ``xr`` (the rule of
    `green_llm_env.core.kernels`): returns (repaired shares, their `Terms`, distance moved (E,))."""
    # Delay and use are linear in x, so a blend x + s·(xr - x) moves them by s·(their value at xr - theirs).
    delay = _delay(f, x)
    s_n = _fraction(delay, ref_delay, f["dcap"])  # 1. delay caps, per (i, k)
    d = s_n[:, :, None] * (xr - x)
    x = x + d
    moved = (d * d).sum(dim=(1, 2))
    delay = delay + s_n * (ref_delay - delay)
    use = _use(f, x)
    s_fac = _fraction(use[:, 0] * f["pue"], ref_fac, f["ren"] + f["cap"]).amax(dim=-1)  # 2. the DC rows, one blend
    s_use = _fraction(use[:, 1:], ref_use[:, 1:], f["capacity"]).amax(dim=(1, 2))
    s = torch.maximum(s_fac, s_use)
    d = s[:, None, None] * (xr - x)
    x = x + d
    moved = moved + (d * d).sum(dim=(1, 2))
    use = use + s[:, None, None] * (ref_use - use)
    delay = delay + s[:, None] * (ref_delay - delay)
    return x, hour_terms(f, x, left, use, delay), torch.sqrt(moved)


# -------------------------------------------------------------------------------------------- the step
@dataclass
class StepOut:
    """One step of E envs: applied shares ``x`` (E, N, J), ``nums`` (E, 9) (`cost.NUMBERS` then the penalty
    $), ``viol`` (E, 5), ``dist`` (E,) action to simplex, ``moved`` (E,) the repair's move."""

    x: torch.Tensor
    nums: torch.Tensor
    viol: torch.Tensor
    dist: torch.Tensor
    moved: torch.Tensor


def step_terms(tab: TorchTables, rows: torch.Tensor, a: torch.Tensor, left: torch.Tensor, softmax: bool,
               temperature: float, R: int) -> StepOut:
    """Action map, repair, cost model and penalty of E envs on hour rows ``rows`` (E,) of ``tab``, actions
    ``a`` (E, N, J) (clipped to [-1, 1] here; the caller checks NaN/inf) and ``left`` (E,) litres."""
    N, J = tab.xref.shape[1], tab.xref.shape[2]
    f = _fields(tab.flat[rows], R, N, J)
    u = torch.clamp(a.to(tab.flat.dtype), -1.0, 1.0)
    x, dist = map_actions(u, softmax, temperature)
    x, t, moved = repair(f, tab.xref[rows], tab.ref_delay[rows], tab.ref_use[rows], tab.ref_fac[rows], x, left)
    pen = penalty(t.viol, tab.pen[rows])
    return StepOut(x, torch.cat([t.nums, pen[:, None]], dim=1), t.viol, dist, moved)


def advance(tab: TorchTables, slot: torch.Tensor, t: torch.Tensor, water: torch.Tensor, ep: torch.Tensor,
            a: torch.Tensor, softmax: bool, temperature: float, R: int, T: int, layout: FeatureLayout,
            hour: int | None = None) -> tuple[StepOut, torch.Tensor]:
    """One step of E envs on slots ``slot`` at hours ``t`` (all < T), then their next observations: advances
    ``t``, ``water`` (litres left) and ``ep`` (E, 2) (running weighted cost, penalty) in place; returns
    (`StepOut`, observations (E, D) float32). ``hour``: the hour all envs play, if they run in lockstep."""
    out = step_terms(tab, slot * T + t, a, water, softmax, temperature, R)
    water -= out.nums[:, 6]
    t += 1
    ep[:, 0] += out.nums[:, 0]
    ep[:, 1] += out.nums[:, kernels.N_NUMBERS]
    return out, observe(tab, slot, t, water, T, R, layout, None if hour is None else hour + 1)


# ---------------------------------------------------------------------------------------- observation
def _put(dst: torch.Tensor, value: torch.Tensor, scale: float, lo: float, hi: float) -> None:
    """``dst = clip(value / scale, lo, hi)`` (cast to dst's float32 as it is written)."""
    dst.copy_(torch.clamp(value / scale, lo, hi) if scale != 1.0 else torch.clamp(value, lo, hi))


def _hourly(out: torch.Tensor, tab: TorchTables, slot: torch.Tensor, rows: torch.Tensor, R: int,
            layout: FeatureLayout) -> None:
    """The hourly parts (options, dcs, areas) of hour rows ``rows`` (E,) of slots ``slot`` into ``out`` (E, D)."""
    N, J = tab.xref.shape[1], tab.xref.shape[2]
    E = rows.shape[0]
    f = _fields(tab.flat[rows], R, N, J)
    parts = layout.parts
    i_opt = [1.0 / float(v) for v in parts["options"].scales]
    p = parts["options"]
    opt = out[:, p.start:p.start + p.size].view(E, N, J, R + 4)
    dl = f["DT"].transpose(1, 2)  # (E, N, J)
    dcap, c = f["dcap"], f["capacity"]  # (E, N), (E, R, J)
    pj = f["pue"][:, None, :]
    it = f["QT"][:, 0, :, None]
    a_n = (f["sd"] * f["rho"] * i_opt[R + 3])[:, :, None]
    f_kw = pj * i_opt[R + 1]  # per-DC factors of the option features (E, 1, J), scales folded in
    f_w = pj * f["wlpk"][:, None, :] * i_opt[R + 2]
    f_c = pj * f["gp"][:, None, :] * i_opt[R + 3]
    if tab.positive:  # every cap > 0 (no 0·inf to guard against): the (E, N, J) products in float32, written in place
        f32 = torch.float32
        dl32, it32 = dl.to(f32), it.to(f32)
        torch.mul(dl32, (i_opt[0] / dcap)[:, :, None].to(f32), out=opt[..., 0])
        for r in range(R):
            torch.mul(f["QT"][:, 1 + r, :, None].to(f32), (i_opt[1 + r] / c[:, r, None, :]).to(f32),
                      out=opt[..., 1 + r])
        torch.mul(it32, f_kw.to(f32), out=opt[..., R + 1])
        torch.mul(it32, f_w.to(f32), out=opt[..., R + 2])
        torch.mul(it32, f_c.to(f32), out=opt[..., R + 3])
        opt[..., R + 3].addcmul_(a_n.to(f32), dl32)
        opt.clamp_(-BOUND, BOUND)
    else:
        i_d = torch.where(dcap > 0.0, i_opt[0] / dcap, math.inf)[:, :, None]
        _put(opt[..., 0], torch.where(dl != 0.0, dl * i_d, 0.0), 1.0, -BOUND, BOUND)
        for r in range(R):
            q = f["QT"][:, 1 + r, :, None]
            icap = torch.where(c[:, r] > 0.0, i_opt[1 + r] / c[:, r], math.inf)[:, None, :]
            _put(opt[..., 1 + r], torch.where(q != 0.0, q * icap, 0.0), 1.0, -BOUND, BOUND)
        _put(opt[..., R + 1], it * f_kw, 1.0, -BOUND, BOUND)
        _put(opt[..., R + 2], it * f_w, 1.0, -BOUND, BOUND)
        _put(opt[..., R + 3], it * f_c + a_n * dl, 1.0, -BOUND, BOUND)

    p = parts["dcs"]
    dcs = out[:, p.start:p.start + p.size].view(E, J, R + 8)
    for q, v in enumerate((f["price"], f["theta"], tab.delta[slot], f["gp"], f["ren"], f["cap"], f["pue"],
                           f["wlpk"])):
        _put(dcs[..., q], v, p.scales[q], -BOUND, BOUND)
    need = f["QT"][:, 1:].sum(dim=-1)[:, :, None]  # (E, R, 1)
    head = torch.where(need > 0.0, c / need, 10.0)
    for r in range(R):
        _put(dcs[..., 8 + r], head[:, r], p.scales[8 + r], 0.0, 10.0)

    p = parts["areas"]
    areas = out[:, p.start:p.start + p.size].view(E, N, 3)
    for q, v in enumerate((tab.lam[rows], dcap, f["rho"])):
        _put(areas[..., q], v, p.scales[q], -BOUND, BOUND)


def observe(tab: TorchTables, slot: torch.Tensor, t: torch.Tensor, left: torch.Tensor, T: int, R: int,
            layout: FeatureLayout, hour: int | None = None) -> torch.Tensor:
    """(E, D) float32 observations of envs on slots ``slot`` at hours ``t`` with ``left`` litres left, in the order
    and scales of ``layout`` (as `green_llm_env.core.kernels.observe`; hourly parts 0 at t = T). ``hour``: the
    hour every env is at, where the caller knows it (envs in lockstep; spares the masks)."""
    dev, dt = tab.flat.device, tab.flat.dtype
    N, J = tab.xref.shape[1], tab.xref.shape[2]
    E = slot.shape[0]
    H = layout.forecast_hours
    parts = layout.parts
    out = torch.empty(E, layout.size, dtype=torch.float32, device=dev)
    g = parts["globals"].start
    if hour is not None and hour >= T:
        out[:, :g].zero_()
    else:
        _hourly(out, tab, slot, slot * T + (torch.clamp(t, max=T - 1) if hour is None else hour), R, layout)
        if hour is None:
            out[:, :g].masked_fill_((t >= T)[:, None], 0.0)

    tf = t.to(dt)
    Z = tab.budget[slot]
    frac = torch.where(Z > 0.0, left / Z, 0.0)
    pace = torch.where(t < T, frac * T / (T - tf), 0.0)
    ang = 2.0 * math.pi * ((tab.start[slot] + t) % 24).to(dt) / 24.0
    vals = (frac, -frac, pace, tab.price_w[slot], torch.sin(ang), torch.cos(ang), (T - tf) / T)
    for q, (v, spec) in enumerate(zip(vals, GLOBAL_FEATURES)):
        _put(out[:, g + q], v, spec[1], spec[3], spec[4])

    if H > 0:  # forecasts: hours t+1..t+H, 0 past the horizon
        tt = t[:, None] + 1 + torch.arange(H, device=dev)
        frows = (slot[:, None] * T + torch.where(tt < T, tt, 0)).reshape(-1)
        ff = _fields(tab.flat[frows], R, N, J)
        past = (tt >= T)[:, :, None]
        named = (("forecast_price", ff["price"], J), ("forecast_renewable", ff["ren"], J),
                 ("forecast_carbon", ff["theta"], J), ("forecast_water", ff["wlpk"], J),
                 ("forecast_demand", tab.lam[frows], N))
        for name, v, width in named:
            p = parts[name]
            dst = out[:, p.start:p.start + p.size].view(E, H, width)
            _put(dst, v.reshape(E, H, width), p.scales[0], -BOUND, BOUND)
            dst.masked_fill_(past, 0.0)
    return out
