"""The one `Scenario`: every parameter of the Green-LLM model, its JSON format and a seeded generator.

Arrays are time-first: per-slot series are ``(T, J)`` or ``(T, I, K)``; plans elsewhere in the project
are ``(T, I, K, J)``. The JSON format is the schema of ``paper_reference_scenario.json``: each array is
stored with its ``dims`` (for example ``["j", "t"]``), and reading transposes to the order used here.

The seeded generator lives in `green_llm_env.generator`. Command line::

    python -m green_llm_env.scenario --seed 7 --out s.json
    python -m green_llm_env.scenario --seed 7 --traces ../shared/data --start 2024-06-01T00 --out s.json
    python -m green_llm_env.scenario --seed 7 --traces --start 2024-06-01T00 --out s.json  # from $GREEN_LLM_DATA
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import InitVar, dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

__all__ = ["ARRAY_FIELDS", "CARBON_TRACE_FILE", "Scenario", "ScenarioFileError", "carbon_from_traces", "scale"]


@dataclass(frozen=True)
class _Spec:
    json_name: str
    dims: str  # axis letters in this module's order, e.g. "tj"
    json_dims: str  # axis letters in the JSON file's order, e.g. "jt"
    unit: str
    meaning: str


# name -> (json name, our dims, JSON dims, unit, meaning). Axis letters: t slot, i area, j DC, k type, r resource.
ARRAY_FIELDS: dict[str, _Spec] = {
    "lam": _Spec("lambda", "tik", "ikt", "queries/slot", "demand of query type k from area i in slot t"),
    "h": _Spec("h", "k", "k", "tokens", "mean input tokens per query"),
    "f": _Spec("f", "k", "k", "tokens", "mean output tokens per query"),
    "tau_in": _Spec("tau_in", "k", "k", "kWh/token", "energy per input token"),
    "tau_out": _Spec("tau_out", "k", "k", "kWh/token", "energy per output token"),
    "PUE": _Spec("PUE", "j", "j", "1", "power usage effectiveness"),
    "c": _Spec("c", "tj", "jt", "$/kWh", "grid electricity price"),
    "theta": _Spec("theta", "tj", "jt", "kgCO2/kWh", "grid carbon intensity"),
    "delta": _Spec("delta", "j", "j", "$/kgCO2", "carbon price"),
    "P_w": _Spec("P_w", "tj", "jt", "kW", "on-site renewable generation (kWh per 1-hour slot)"),
    "P_max": _Spec("P_max", "tj", "jt", "kW", "grid import cap"),
    "WUE": _Spec("WUE", "tj", "jt", "L/kWh", "direct water usage effectiveness"),
    "EWIF": _Spec("EWIF", "tj", "jt", "L/kWh", "electricity water intensity factor"),
    "C": _Spec("C", "rj", "rj", "resource units", "capacity of resource r at DC j"),
    "alpha": _Spec("alpha", "kr", "kr", "resource units/token", "resource per token of type k"),
    "beta": _Spec("beta", "tik", "ikt", "s*Mbps/token", "token size factor in transmission delay"),
    "B": _Spec("B", "ij", "ij", "Mbps", "bandwidth area i to DC j"),
    "d": _Spec("d", "ij", "ij", "s", "network (propagation) delay area i to DC j"),
    "v": _Spec("v", "jk", "jk", "s/token", "processing delay per token"),
    "rho": _Spec("rho", "k", "k", "$/s", "delay penalty per second of average delay"),
    "Delta": _Spec("Delta", "ik", "ik", "s", "average-delay cap"),
}

# Fields that must be >= 0 (c may be negative: real-time prices), and those that must be > 0.
_NONNEGATIVE = ("lam", "h", "f", "tau_in", "tau_out", "theta", "delta", "P_w", "P_max", "WUE", "EWIF", "C",
                "alpha", "beta", "d", "v", "rho")
_POSITIVE = ("B", "Delta")


class ScenarioFileError(ValueError):
    """A scenario file or trace file that cannot be read; the message names the file and the problem."""


def _frozen(name: str, a: Any) -> np.ndarray:
    if isinstance(a, np.ndarray) and a.dtype == np.float64 and not a.flags.writeable and a.flags.owndata:
        return a  # already frozen (a field kept by `Scenario.replace`)
    try:
        raw = np.asarray(a)
        arr = None if np.iscomplexobj(raw) or raw.dtype == bool else np.array(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"Scenario.{name} must be an array of real numbers; got {_short(a)}") from None
    if arr is None:
        raise ValueError(f"Scenario.{name} must be an array of real numbers; got dtype {raw.dtype}")
    arr.setflags(write=False)
    return arr


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True, eq=False)
class Scenario:
    """Every parameter of the model (MODEL.md section 2), time-first.

    Sizes: I areas, J DCs, K query types, T hourly slots, R resource types.

    ========  =========  ==================  ==============================================
    field     shape      unit                meaning
    ========  =========  ==================  ==============================================
    lam       (T, I, K)  queries/slot        demand λ
    h, f      (K,)       tokens              mean input / output tokens per query
    tau_in    (K,)       kWh/token           energy per input token
    tau_out   (K,)       kWh/token           energy per output token
    PUE       (J,)       1                   power usage effectiveness (>= 1)
    c         (T, J)     $/kWh               grid price (may be negative)
    theta     (T, J)     kgCO2/kWh           grid carbon intensity
    delta     (J,)       $/kgCO2             carbon price
    P_w       (T, J)     kW                  on-site renewable generation
    P_max     (T, J)     kW                  grid import cap
    WUE       (T, J)     L/kWh               direct water usage effectiveness
    EWIF      (T, J)     L/kWh               water intensity of grid electricity
    Z         scalar     L                   water budget over the whole horizon
    C         (R, J)     resource units      capacity
    alpha     (K, R)     units/token         resource need per token
    beta      (T, I, K)  s*Mbps/token        token-size factor of transmission delay
    B         (I, J)     Mbps                bandwidth (> 0)
    d         (I, J)     s                   network (propagation) delay
    v         (J, K)     s/token             processing delay per token
    rho       (K,)       $/s                 delay penalty per second of average delay
    Delta     (I, K)     s                   cap on average delay (> 0)
    ========  =========  ==================  ==============================================

    ``dc_names`` (J) and ``query_types`` (K) label the axes; ``start`` is the UTC start of slot 0
    (ISO-8601) or None; ``start_hour`` is the hour of day of slot 0 (0-23).
    Arrays are converted to read-only float64 and checked (`validate`) on construction, so every Scenario,
    ``replace`` and `scale` included, is valid; ``infinite_Z=True`` also admits ``Z = inf`` (no water budget,
    the MPC's windows).
    """

    lam: np.ndarray
    h: np.ndarray
    f: np.ndarray
    tau_in: np.ndarray
    tau_out: np.ndarray
    PUE: np.ndarray
    c: np.ndarray
    theta: np.ndarray
    delta: np.ndarray
    P_w: np.ndarray
    P_max: np.ndarray
    WUE: np.ndarray
    EWIF: np.ndarray
    Z: float
    C: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    B: np.ndarray
    d: np.ndarray
    v: np.ndarray
    rho: np.ndarray
    Delta: np.ndarray
    dc_names: tuple[str, ...] = ()
    query_types: tuple[str, ...] = ()
    start: str | None = None
    start_hour: int = 0
    description: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)
    infinite_Z: InitVar[bool] = False

    def __post_init__(self, infinite_Z: bool = False) -> None:
        for name in ARRAY_FIELDS:
            object.__setattr__(self, name, _frozen(name, getattr(self, name)))
        if isinstance(self.Z, (bool, complex, np.bool_, np.complexfloating)):
            raise ValueError(f"Scenario.Z (water budget, L) must be a real number; got {self.Z!r}")
        try:
            object.__setattr__(self, "Z", float(self.Z))
        except (TypeError, ValueError):
            raise ValueError(f"Scenario.Z (water budget, L) must be a number; got {_short(self.Z)}") from None
        for name in ("dc_names", "query_types"):
            names = getattr(self, name)
            if isinstance(names, str) or not all(isinstance(n, str) for n in names):
                raise ValueError(f"Scenario.{name} must be a sequence of strings; got {_short(names)}")
            object.__setattr__(self, name, tuple(names))
        object.__setattr__(self, "_infinite_Z", bool(infinite_Z))
        self.validate()

    # ------------------------------------------------------------------ sizes
    @property
    def sizes(self) -> dict[str, int]:
        """``{"I", "J", "K", "T", "R"}`` read from ``lam`` (T, I, K) and ``C`` (R, J)."""
        T, I, K = self.lam.shape if self.lam.ndim == 3 else (0, 0, 0)
        R, J = self.C.shape if self.C.ndim == 2 else (0, 0)
        return {"I": I, "J": J, "K": K, "T": T, "R": R}

    I = property(lambda self: self.sizes["I"], doc="number of user areas")
    J = property(lambda self: self.sizes["J"], doc="number of data centres")
    K = property(lambda self: self.sizes["K"], doc="number of query types")
    T = property(lambda self: self.sizes["T"], doc="number of hourly slots")
    R = property(lambda self: self.sizes["R"], doc="number of resource types")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Scenario):
            return NotImplemented
        return all(
            np.array_equal(getattr(self, n), getattr(other, n)) for n in ARRAY_FIELDS
        ) and all(getattr(self, n) == getattr(other, n)
                  for n in ("Z", "dc_names", "query_types", "start", "start_hour", "description"))

    __hash__ = None  # type: ignore[assignment]

    def replace(self, **changes: Any) -> "Scenario":
        """A copy with some fields replaced (``dataclasses.replace``), validated like every Scenario;
        ``infinite_Z=True`` admits ``Z = inf``."""
        return dataclasses.replace(self, **changes)

    def with_water_budget(self, Z: float) -> "Scenario":
        """A copy with water budget ``Z`` (L), equal to ``replace(Z=Z)`` but cheaper: it shares this scenario's
        validated read-only arrays, checks only Z, and carries the memoised coefficients over with the new budget
        (Z enters nothing else)."""
        if isinstance(Z, (bool, complex, np.bool_, np.complexfloating)) or not (
                isinstance(Z, (int, float, np.integer, np.floating)) and math.isfinite(Z) and Z >= 0):
            raise ValueError(f"Scenario.Z (water budget, L) must be finite and >= 0; got {_short(Z)}")
        out = object.__new__(Scenario)
        out.__dict__.update({k: v for k, v in self.__dict__.items() if k != "_coefficients"})
        object.__setattr__(out, "Z", float(Z))
        object.__setattr__(out, "_infinite_Z", False)
        coef = self.__dict__.get("_coefficients")
        if coef is not None:
            object.__setattr__(out, "_coefficients", dataclasses.replace(coef, water_budget_l=float(Z)))
        return out

    # ------------------------------------------------------------- validation
    def validate(self) -> "Scenario":
        """Check shapes, finiteness, signs and names; raise ``ValueError`` naming field, rule and value.

        Returns ``self`` so that ``Scenario(...).validate()`` chains.
        """
        if self.lam.ndim != 3:
            raise ValueError(f"Scenario.lam must have shape (T, I, K); got shape {self.lam.shape}")
        if self.C.ndim != 2:
            raise ValueError(f"Scenario.C must have shape (R, J); got shape {self.C.shape}")
        sizes = self.sizes
        axis = {"t": sizes["T"], "i": sizes["I"], "k": sizes["K"], "j": sizes["J"], "r": sizes["R"]}
        for letter, n in axis.items():
            if n < 1:
                raise ValueError(f"Scenario size {letter.upper()} must be >= 1; got {n}")
        for name, spec in ARRAY_FIELDS.items():
            arr = getattr(self, name)
            want = tuple(axis[a] for a in spec.dims)
            if arr.shape != want:
                dims = ", ".join(a.upper() for a in spec.dims)
                raise ValueError(f"Scenario.{name} must have shape ({dims}) = {want}; got {arr.shape}")
            if not np.isfinite(arr).all():
                bad = ~np.isfinite(arr)
                raise ValueError(f"Scenario.{name} must be finite; got {name}{_at(bad)} = {arr[bad][0]}")
        for name in _NONNEGATIVE:
            arr = getattr(self, name)
            if arr.min() < 0:
                _check(name, arr, arr < 0, ">= 0")
        for name in _POSITIVE:
            arr = getattr(self, name)
            if arr.min() <= 0:
                _check(name, arr, arr <= 0, "> 0")
        if self.PUE.min() < 1:
            _check("PUE", self.PUE, self.PUE < 1, ">= 1")
        if not (self.Z >= 0 and (math.isfinite(self.Z) or self.__dict__.get("_infinite_Z"))):
            raise ValueError(f"Scenario.Z (water budget, L) must be finite and >= 0; got {self.Z}")
        if self.dc_names and len(self.dc_names) != sizes["J"]:
            raise ValueError(f"Scenario.dc_names must have J = {sizes['J']} names; got {len(self.dc_names)}")
        if self.query_types and len(self.query_types) != sizes["K"]:
            raise ValueError(
                f"Scenario.query_types must have K = {sizes['K']} names; got {len(self.query_types)}")
        if isinstance(self.start_hour, (bool, np.bool_)) or not isinstance(self.start_hour, (int, np.integer)):
            raise ValueError(f"Scenario.start_hour must be an integer in 0..23; got {self.start_hour!r}")
        if not 0 <= self.start_hour <= 23:
            raise ValueError(f"Scenario.start_hour must be in 0..23; got {self.start_hour}")
        check_derived(self)
        return self

    # ------------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready dict in the schema of ``paper_reference_scenario.json``."""
        out: dict[str, Any] = {
            "description": self.description,
            "sizes": self.sizes,
            "dc_names": list(self.dc_names),
            "query_types": list(self.query_types),
        }
        if self.start is not None:
            out["start"] = self.start
        out["start_hour"] = int(self.start_hour)
        out["scalars"] = {"Z": {"unit": "L", "meaning": "water budget over the horizon", "value": self.Z}}
        arrays = {}
        for name, spec in ARRAY_FIELDS.items():
            arr = np.transpose(getattr(self, name), [spec.dims.index(a) for a in spec.json_dims])
            arrays[spec.json_name] = {"dims": list(spec.json_dims), "unit": spec.unit, "meaning": spec.meaning,
                                      "values": arr.tolist()}
        out["arrays"] = arrays
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out

    def to_json(self, path: str | Path | None = None) -> str:
        """Serialise (floats are written with full precision, so the round trip is exact)."""
        text = json.dumps(self.to_dict())
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "scenario") -> "Scenario":
        """Build from a dict in the JSON schema; ``ScenarioFileError`` names what is missing or malformed.

        Checked in this order, so that the message blames the right entry: ``sizes`` (optional; each of I, J,
        K, T, R an integer >= 1), each array's values (numbers, not ``true``/``false``) and its shape against
        ``sizes`` (or, without ``sizes``, against the length most arrays agree on), then the scalars and names,
        then `validate`.
        """
        if not isinstance(data, Mapping):
            raise ScenarioFileError(f"{source}: top level must be a JSON object")
        sizes = _read_sizes(data.get("sizes"), source)
        arrays = data.get("arrays")
        if not isinstance(arrays, Mapping):
            raise ScenarioFileError(f"{source}: missing object 'arrays'")
        kwargs: dict[str, Any] = {}
        for name, spec in ARRAY_FIELDS.items():
            entry = arrays.get(spec.json_name)
            if entry is None:
                raise ScenarioFileError(f"{source}: missing array '{spec.json_name}'")
            values = entry.get("values") if isinstance(entry, Mapping) else entry
            dims = "".join(entry.get("dims", spec.json_dims)) if isinstance(entry, Mapping) else spec.json_dims
            if sorted(dims) != sorted(spec.dims):
                raise ScenarioFileError(
                    f"{source}: array '{spec.json_name}' has dims {list(dims)}; expected {list(spec.json_dims)}")
            if _has_bool(values):
                raise ScenarioFileError(f"{source}: array '{spec.json_name}' must hold numbers; got true/false")
            try:
                arr = np.array(values, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise ScenarioFileError(f"{source}: array '{spec.json_name}' is not numeric ({exc})") from None
            if arr.ndim != len(dims):
                raise ScenarioFileError(
                    f"{source}: array '{spec.json_name}' has {arr.ndim} axes; dims say {len(dims)}")
            kwargs[name] = np.transpose(arr, [dims.index(a) for a in spec.dims])
        _check_shapes(kwargs, sizes, source)
        try:
            z = data["scalars"]["Z"]
            z = z["value"] if isinstance(z, Mapping) else z
            if isinstance(z, bool) or not isinstance(z, (int, float)):
                raise TypeError
            kwargs["Z"] = float(z)
        except (KeyError, TypeError, ValueError):
            raise ScenarioFileError(f"{source}: missing or non-numeric scalar 'Z' (scalars.Z.value)") from None
        hour = data.get("start_hour", 0)
        if isinstance(hour, bool) or not isinstance(hour, int):
            raise ScenarioFileError(f"{source}: start_hour must be an integer in 0..23; got {hour!r}")
        for key in ("dc_names", "query_types"):
            names = data.get(key, [])
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ScenarioFileError(f"{source}: {key} must be a list of strings; got {_short(names)}")
        for key in ("start", "description"):
            if data.get(key) is not None and not isinstance(data[key], str):
                raise ScenarioFileError(f"{source}: {key} must be a string; got {_short(data[key])}")
        known = {"description", "sizes", "dc_names", "query_types", "start", "start_hour", "scalars", "arrays"}
        try:
            return cls(**kwargs, dc_names=tuple(data.get("dc_names", ())),
                       query_types=tuple(data.get("query_types", ())), start=data.get("start"),
                       start_hour=hour, description=str(data.get("description", "")),
                       extra={k: v for k, v in data.items() if k not in known})
        except ValueError as exc:
            raise ScenarioFileError(f"{source}: {exc}") from None

    @classmethod
    def from_json(cls, path_or_text: str | Path) -> "Scenario":
        """Read a scenario from a JSON file path (or a JSON string starting with ``{``)."""
        text = str(path_or_text)
        if isinstance(path_or_text, str) and text.lstrip().startswith("{"):
            source = "scenario JSON"
        else:
            source = str(path_or_text)
            try:
                text = Path(path_or_text).read_text()
            except OSError as exc:
                raise ScenarioFileError(f"{source}: cannot read ({exc.strerror or exc})") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ScenarioFileError(f"{source}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        return cls.from_dict(data, source)


_SIZE_KEYS = ("I", "J", "K", "T", "R")
SIZE_KEYS = _SIZE_KEYS
"""The size names of the JSON schema (``sizes``), in order."""


def _read_sizes(sizes: Any, source: str) -> dict[str, int]:
    """The JSON ``sizes`` object checked ({} if absent): known keys, integer values >= 1."""
    if sizes is None:
        return {}
    if not isinstance(sizes, Mapping):
        raise ScenarioFileError(f"{source}: sizes must be an object like {{\"I\": 9, ...}}; got {_short(sizes)}")
    unknown = sorted(set(sizes) - set(_SIZE_KEYS))
    if unknown:
        raise ScenarioFileError(f"{source}: sizes has unknown key(s) {unknown}; known: {', '.join(_SIZE_KEYS)}")
    for key, n in sizes.items():
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ScenarioFileError(f"{source}: sizes.{key} must be an integer >= 1; got {n!r}")
    return dict(sizes)


def _has_bool(values: Any) -> bool:
    if isinstance(values, bool):
        return True
    return isinstance(values, list) and any(_has_bool(v) for v in values)


def _check_shapes(arrays: dict[str, np.ndarray], sizes: dict[str, int], source: str) -> None:
    """Each array's shape against ``sizes`` (blamed when every array disagrees with it); an axis ``sizes``
    leaves out takes the length most arrays have (so that one short array is blamed, not the arrays that
    agree with each other)."""
    votes: dict[str, list[int]] = {}
    for name, spec in ARRAY_FIELDS.items():
        for letter, n in zip(spec.dims, arrays[name].shape):
            votes.setdefault(letter.upper(), []).append(n)
    for key, ns in votes.items():
        if key in sizes and set(ns) == {ns[0]} and ns[0] != sizes[key]:
            raise ScenarioFileError(f"{source}: sizes.{key} = {sizes[key]} but the arrays have {key} = {ns[0]}")
    want = {key: sizes.get(key, max(set(ns), key=ns.count)) for key, ns in votes.items()}
    for name, spec in ARRAY_FIELDS.items():
        expected = tuple(want[a.upper()] for a in spec.dims)
        if arrays[name].shape != expected:
            got = dict(zip(spec.dims.upper(), arrays[name].shape))
            bad = next(a for a in spec.dims.upper() if got[a] != want[a])
            rule = "sizes" if bad in sizes else "the other arrays"
            raise ScenarioFileError(
                f"{source}: array '{spec.json_name}' (Scenario.{name}) has {bad} = {got[bad]}; {rule} say "
                f"{bad} = {want[bad]}")


def _at(mask: np.ndarray) -> str:
    idx = np.argwhere(mask)[0]
    return "[" + ", ".join(str(int(i)) for i in idx) + "]" if idx.size else ""


def _check(name: str, arr: np.ndarray, bad: np.ndarray, rule: str) -> None:
    if np.any(bad):
        value = arr[bad][0] if arr.ndim else arr
        raise ValueError(f"Scenario.{name} must be {rule}; got {name}{_at(np.asarray(bad))} = {value}")


# ----------------------------------------------------------------------------- scaling
def scale(scenario: Scenario, *, theta: float = 1.0, P_w: float = 1.0, tau: float = 1.0,
          rho: float = 1.0) -> Scenario:
    """The letter's sensitivity factors: Ψθ scales ``theta``, ΨPw ``P_w``, Ψτ ``tau_in`` and ``tau_out``,
    Ψρ ``rho``. Exactly the named parameter is scaled, nothing else."""
    for name, value in (("theta", theta), ("P_w", P_w), ("tau", tau), ("rho", rho)):
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"scale factor {name} must be finite and >= 0; got {value}")
    return scenario.replace(theta=scenario.theta * theta, P_w=scenario.P_w * P_w,
                            tau_in=scenario.tau_in * tau, tau_out=scenario.tau_out * tau,
                            rho=scenario.rho * rho)


# ------------------------------------------------------------------------------ traces
CARBON_TRACE_FILE = "carbon_intensity_2024_hourly_by_dc.csv"


def parse_start(start: str) -> "np.datetime64":
    """A whole UTC hour (``2024-06-01T00``, ``2024-06-01T00:00``, ``...:00:00Z``) as datetime64[h]; minutes
    or seconds other than 0 are refused rather than dropped."""
    text = str(start).strip().rstrip("Z")
    if len(text) == 13:  # 2024-06-01T00
        text += ":00"
    try:
        stamp = np.datetime64(text, "s")
    except ValueError:
        stamp = None
    if stamp is None or len(text) < 13 or stamp != stamp.astype("datetime64[h]"):
        raise ValueError(f"start must be a whole UTC hour like 2024-06-01T00; got {start!r}") from None
    return stamp.astype("datetime64[h]")


def carbon_from_traces(traces: str | Path, start: str, T: int, dc_names: tuple[str, ...]) -> np.ndarray:
    """Carbon intensity (T, J) in kg/kWh from ``carbon_intensity_2024_hourly_by_dc.csv`` in ``traces``.

    ``start`` is the UTC hour of slot 0 (``2024-06-01T00``). Raises ``ScenarioFileError`` for a missing
    file or column, NaN cells, or a window outside the data.
    """
    import pandas as pd

    path = Path(traces)
    if path.is_dir():
        path = path / CARBON_TRACE_FILE
    if not path.is_file():
        raise ScenarioFileError(f"{path}: carbon trace file not found")
    try:
        frame = pd.read_csv(path)
    except Exception as exc:  # pandas raises many types for bad CSVs
        raise ScenarioFileError(f"{path}: cannot read CSV ({exc})") from None
    if "timestamp_utc" not in frame.columns:
        raise ScenarioFileError(f"{path}: missing column 'timestamp_utc'")
    missing = [n for n in dc_names if n not in frame.columns]
    if missing:
        raise ScenarioFileError(f"{path}: missing column(s) {missing} (DC names of the scenario)")
    stamps = pd.to_datetime(frame["timestamp_utc"], utc=True).dt.tz_localize(None).to_numpy("datetime64[h]")
    t0 = parse_start(start)
    hits = np.nonzero(stamps == t0)[0]
    if hits.size == 0:
        raise ScenarioFileError(
            f"{path}: start {t0} is outside the data ({stamps[0]} .. {stamps[-1]})")
    first = int(hits[0])
    if first + T > len(frame):
        raise ScenarioFileError(
            f"{path}: window {t0} + {T} h runs past the data's last hour {stamps[-1]}")
    window = frame[list(dc_names)].iloc[first:first + T].to_numpy(dtype=float)
    if np.any(np.diff(stamps[first:first + T]).astype(int) != 1):
        raise ScenarioFileError(f"{path}: hours missing in the window starting {t0}")
    if np.isnan(window).any():
        r, col = np.argwhere(np.isnan(window))[0]
        raise ScenarioFileError(f"{path}: NaN in column '{dc_names[col]}' at {stamps[first + r]}")
    return window / 1000.0


# ------------------------------------------------------------------- derived magnitudes
_TYPICAL = {"lam": 500.0, "h": 80.0, "f": 100.0, "tau_in": 5.783186244089971e-06, "tau_out": 1.4118439382340681e-05,
            "PUE": 1.3253080956801089, "c": 0.09835120752932622, "theta": 0.4173490287120308, "delta": 0.025,
            "P_w": 1.0, "P_max": 4765.0, "WUE": 0.5878278103012795, "EWIF": 0.5315894611749433, "C": 47297.0,
            "alpha": 0.0012707306101245458, "beta": 0.0035994237810747696, "B": 2472.1806087546147,
            "d": 0.0019942662119965117, "v": 1.0341248829387262e-06, "rho": 8.333333333333334,
            "Delta": 6.617973778935625}
"""The seeded generator's typical magnitude of each field (the median |entry| of ``make_scenario(0, I=J=K=T=R=1,
water_fraction=None)``, 1 where that is 0), written out so that this module does not import the generator."""


def extreme_field(s: Scenario, fields: tuple[str, ...] | list[str]) -> tuple[str, float]:
    """(name, entry) of the field among ``fields`` whose nonzero entry lies most orders of magnitude away from
    the seeded generator's typical value of that field (the likely cause of an overflow)."""
    best = (fields[0], float(np.asarray(getattr(s, fields[0])).reshape(-1)[0]), -1.0)
    for name in fields:
        a = np.asarray(getattr(s, name), np.float64).reshape(-1)
        a = a[a != 0]
        if a.size:
            decades = np.abs(np.log10(np.abs(a)) - math.log10(_TYPICAL.get(name, 1.0)))
            q = int(np.argmax(decades))
            if decades[q] > best[2]:
                best = (name, float(a[q]), float(decades[q]))
    return best[0], best[1]


def check_derived(s: Scenario) -> None:
    """``ValueError`` naming the scenario field to blame when a derived per-share quantity (energy, water,
    resources, delay, their $: `green_llm_env.cost.derived_bounds`) is not finite, so that no overflow reaches
    a reward or the solver. Called by `Scenario.validate`."""
    from .cost import coefficients, derived_bounds

    with np.errstate(over="ignore", invalid="ignore"):
        bounds = derived_bounds(coefficients(s))
    for meaning, total, fields in bounds:
        if not math.isfinite(total):
            name, value = extreme_field(s, fields)
            raise ValueError(f"Scenario.{name} must keep the derived {meaning} finite; got an entry {name} = "
                             f"{value:g}, which makes it overflow")


if __name__ == "__main__":  # python -m green_llm_env.scenario: the command line lives in green_llm_env.scenario_cli
    import runpy

    runpy.run_module("green_llm_env.scenario_cli", run_name="__main__")
