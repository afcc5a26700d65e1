"""`evaluate.py`'s files: ``results.csv`` appended as seeds finish and resumed (`ResultsStore`, `repair_tail`),
the hourly rows of each seed, atomic CSV/JSON writes, and the fingerprint check of the policies' models."""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

from .eval_config import CliError, Config

COLUMNS = ("policy", "seed", "cost_weighted", "total", "energy", "carbon", "delay", "emissions_kg", "water_l",
           "penalty", "violations", "oracle_cost_weighted", "gap_pct")
HOURLY_COLUMNS = ("policy", "seed", "hour", "cost_weighted", "energy", "carbon", "delay", "penalty",
                  "emissions_kg", "water_l", "grid_kwh")


def read_csv(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    """Rows of a CSV written by this script (``[]`` if absent); ``CliError`` on a foreign header."""
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) != columns:
            raise CliError(f"{path} has columns {reader.fieldnames}, not {list(columns)}; use another --out")
        return list(reader)


def write_csv_atomic(path: Path, columns: tuple[str, ...], rows: list[dict[str, Any]], fsync: bool = True) -> None:
    """Write ``rows`` to ``path`` via a temporary file and ``os.replace`` (never half-written, even if the process
    is killed; ``fsync``: also on the disk before the replace, against a power loss)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in row.items()})
        fh.flush()
        if fsync:
            os.fsync(fh.fileno())
    os.replace(tmp, path)


def _csv_cell(value: Any) -> Any:
    return repr(value) if isinstance(value, float) else value


def repair_tail(path: Path) -> int:
    """Cut a partial last line (a kill while a row was being appended) off ``path``; returns the bytes cut.
    The pair of that row counts as not done and is run again."""
    if not path.is_file():
        return 0
    with open(path, "rb+") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        if size == 0:
            return 0
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return 0
        back = min(size, 1 << 16)
        while True:  # find the last newline (a row is far shorter than 64 KiB; loop for safety)
            fh.seek(size - back)
            cut = fh.read(back).rfind(b"\n")
            if cut >= 0 or back == size:
                break
            back = min(size, back * 2)
        keep = size - back + cut + 1 if cut >= 0 else 0
        fh.truncate(keep)
        fh.flush()
        os.fsync(fh.fileno())
    return size - keep


class ResultsStore:
    """``results.csv`` appended as seeds finish (one write per seed, no re-sorting), sorted once by `finish`.

    Every row is flushed to the OS as it is appended (a killed process loses nothing that was appended; a kill
    in the middle of a row leaves a partial last line, which `repair_tail` cuts on resume), and fsynced at most
    every ``sync_s`` seconds and at the end (what a power loss could cost)."""

    def __init__(self, path: Path, columns: tuple[str, ...] = COLUMNS, sync_s: float = 2.0) -> None:
        self.path, self.columns, self.sync_s = Path(path), columns, float(sync_s)
        cut = repair_tail(self.path)
        if cut:
            print(f"resuming: cut a partial last row ({cut} bytes) off {self.path}", file=sys.stderr)
        self.rows: list[dict[str, Any]] = read_csv(self.path, columns)
        fresh = not self.path.is_file() or self.path.stat().st_size == 0
        self._fh = open(self.path, "a", newline="")
        self._writer = csv.DictWriter(self._fh, fieldnames=columns, extrasaction="ignore")
        if fresh:
            self._writer.writeheader()
            self._sync()
        self._synced = time.monotonic()

    def _sync(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._synced = time.monotonic()

    def append(self, rows: list[dict[str, Any]]) -> None:
        """Append ``rows`` (one finished seed's) and hand them to the OS."""
        if not rows:
            return
        self._writer.writerows([{k: _csv_cell(v) for k, v in row.items()} for row in rows])
        self.rows.extend(rows)
        self._fh.flush()
        if time.monotonic() - self._synced >= self.sync_s:
            os.fsync(self._fh.fileno())
            self._synced = time.monotonic()

    def close(self) -> None:
        if not self._fh.closed:
            self._sync()
            self._fh.close()

    def finish(self, sort_key: Any) -> list[dict[str, Any]]:
        """Close, then rewrite the file sorted by ``sort_key`` once (atomically) if it is not already; returns
        the rows as read back (strings, as `read_csv` gives them)."""
        self.close()
        rows = read_csv(self.path, self.columns)
        ordered = sorted(rows, key=sort_key)
        if ordered != rows:
            write_csv_atomic(self.path, self.columns, ordered)
        return ordered


def hourly_file(out: Path, seed: int) -> Path:
    """The hourly rows of one seed."""
    return out / "hourly" / f"seed_{seed}.csv"


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True, default=str))
    os.replace(tmp, path)


def check_fingerprints(out: Path, runner: Any) -> dict[str, str | None]:
    """Each policy's fingerprint (``policy.fingerprint``: a trained agent's model and normalisation files,
    `agents.registry.fingerprint`; None for the baselines), by spec; `CliError` when ``out`` holds rows of a
    policy recorded in ``policies.json`` with another fingerprint (its model was retrained)."""
    from baselines.policy import spec_label

    meta_path = out / "policies.json"
    try:
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    except json.JSONDecodeError:
        raise CliError(f"{meta_path} is not valid JSON; use a new --out") from None
    scored = {r["policy"] for r in read_csv(out / "results.csv", COLUMNS)}
    marks = {}
    for spec, pol in runner.policies.items():
        label, mark = spec_label(spec), getattr(pol, "fingerprint", None)
        old = meta.get(label, {}).get("fingerprint") if isinstance(meta.get(label), dict) else None
        if label in scored and old != mark:
            raise CliError(f"{out} holds rows of policy {label!r} from another model (fingerprint "
                           f"{str(old)[:12]} in {meta_path.name}, now {str(mark)[:12]}); use a new --out")
        marks[spec] = mark
    return marks


def open_out(cfg: Config) -> tuple[Path, dict[str, Any]]:
    """The output folder, writable, holding no results of another configuration; returns it and the identity."""
    out = Path(cfg.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write_test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise CliError(f"--out {cfg.out}: not a writable folder ({exc.strerror or exc})") from None
    ident = cfg.identity()
    cfg_path = out / "config.json"
    if cfg_path.is_file():
        try:
            old = json.loads(cfg_path.read_text())
        except json.JSONDecodeError:
            old = None
        if old != json.loads(json.dumps(ident, sort_keys=True, default=str)):
            raise CliError(f"{out} holds results of another configuration ({cfg_path}); use a new --out")
    return out, ident


def write_meta(out: Path, ident: dict[str, Any], runner: Any) -> dict[str, Any]:
    """config.json and policies.json (each policy's spec, kind, env, kwargs, fingerprint); returns the latter."""
    from baselines.policy import spec_label

    cut = repair_tail(out / "results.csv")  # a row half-written by a killed run is not a row
    if cut:
        print(f"resuming: cut a partial last row ({cut} bytes) off {out / 'results.csv'}", file=sys.stderr)
    marks = check_fingerprints(out, runner)  # before anything is written: never mix rows of two models
    write_json_atomic(out / "config.json", ident)
    meta_path = out / "policies.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    for spec, pol in runner.policies.items():
        kind = getattr(pol, "kind", None) or ("learned" if "=" in spec.split(":")[0] else "other")
        meta[spec_label(spec)] = {"spec": spec, "kind": kind, "env": runner.env_id(spec),
                                  "env_kwargs": runner.env_kwargs(spec), "fingerprint": marks[spec],
                                  "training": getattr(pol, "training", None)}
    write_json_atomic(meta_path, meta)
    return meta


def pending(cfg: Config, labels: list[str], store: ResultsStore, out: Path) -> dict[int, list[str]]:
    """Seed -> the specs not yet in results.csv (a rerun resumes)."""
    done = {(r["policy"], int(r["seed"])) for r in store.rows}
    todo = {s: [spec for spec, lab in zip(cfg.policies, labels) if (lab, s) not in done] for s in cfg.seeds}
    todo = {s: specs for s, specs in todo.items() if specs}
    skipped = sum(len(cfg.policies) for _ in cfg.seeds) - sum(len(v) for v in todo.values())
    if skipped:
        print(f"resuming: {skipped} (policy, seed) pairs already in {out / 'results.csv'}", file=sys.stderr)
    return todo


def row_order(labels: list[str]) -> Callable[[dict[str, Any]], tuple]:
    """The rows' sort key: policies in --policies order, then seeds."""
    rank = {lab: q for q, lab in enumerate(labels)}
    return lambda r: (rank.get(r["policy"], len(rank)), r["policy"], int(r["seed"]))


def collector(out: Path, store: ResultsStore, sort_key: Callable[[dict[str, Any]], tuple],
              errors: list[str]) -> Callable[[dict[str, Any]], None]:
    """What is done with one finished seed: its hourly file first (rows of pairs re-run now replace any left by
    a killed run), its rows appended to results.csv last (a pair counts as done only once its row is there)."""
    def collect(res: dict[str, Any]) -> None:
        errors.extend(res["errors"])
        for e in res["errors"]:
            print(f"error: {e}", file=sys.stderr)
        if res["rows"]:
            path = hourly_file(out, res["seed"])
            new = {r["policy"] for r in res["rows"]}
            keep = [h for h in read_csv(path, HOURLY_COLUMNS) if h["policy"] not in new]
            hourly = sorted(keep + res["hourly"], key=lambda h: sort_key(h) + (int(h["hour"]),))
            write_csv_atomic(path, HOURLY_COLUMNS, hourly, fsync=False)  # one small file per seed: no fsync each
        store.append(res["rows"])
    return collect
