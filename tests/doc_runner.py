"""Run the steps of one documentation page in one process (used by tests/test_docs.py).

    python tests/doc_runner.py STEPS.json

STEPS.json is a list of steps, run in order in the current folder:

- ``{"kind": "python", "where": ..., "code": ...}``: a python code block, executed in one namespace per page;
- ``{"kind": "run", "where": ..., "target": ..., "argv": [...]}``: ``python -m TARGET ARGV`` or ``python
  TARGET.py ARGV`` as ``runpy`` runs it (the module's ``__main__``, ``sys.argv`` set);
- ``{"kind": "parse", ...}``: the same, but stopped right after its ``argparse`` parse succeeds (a long command
  whose flags are checked without running it).

Prints one JSON line: a list of {"where", "ok", "error", "seconds"}.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import runpy
import sys
import time
import traceback
from typing import Any


class Parsed(Exception):
    """Raised once a command's arguments parsed: the parse-only check passed."""


_ORIGINAL = (argparse.ArgumentParser.parse_args, argparse.ArgumentParser.parse_known_args)
_STATE = {"parse_only": False, "inside_parse_args": False}


def _parse_args(self: argparse.ArgumentParser, args: Any = None, namespace: Any = None) -> Any:
    _STATE["inside_parse_args"] = True
    try:
        result = _ORIGINAL[0](self, args, namespace)
    finally:
        _STATE["inside_parse_args"] = False
    if _STATE["parse_only"]:
        raise Parsed
    return result


def _parse_known_args(self: argparse.ArgumentParser, args: Any = None, namespace: Any = None) -> Any:
    result = _ORIGINAL[1](self, args, namespace)
    if _STATE["parse_only"] and not _STATE["inside_parse_args"]:
        raise Parsed
    return result


def run_command(target: str, argv: list[str], parse_only: bool) -> None:
    """Run ``target`` (a ``.py`` path or a module name) as ``__main__`` with ``argv``."""
    _STATE["parse_only"] = parse_only
    saved = sys.argv[:]
    sys.argv = [target, *argv]
    try:
        if target.endswith(".py"):
            runpy.run_path(target, run_name="__main__")
        else:
            runpy.run_module(target, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        if exc.code not in (None, 0):
            raise RuntimeError(f"exit status {exc.code}") from None
    finally:
        sys.argv = saved
        _STATE["parse_only"] = False
    if parse_only:
        raise RuntimeError("the command never parsed its arguments with argparse (it ran to the end)")


def main() -> int:
    argparse.ArgumentParser.parse_args = _parse_args  # type: ignore[method-assign]
    argparse.ArgumentParser.parse_known_args = _parse_known_args  # type: ignore[method-assign]
    with open(sys.argv[1], encoding="utf-8") as f:
        steps = json.load(f)
    namespace: dict[str, Any] = {"__name__": "__doc__"}
    report = []
    for step in steps:
        t0, error = time.perf_counter(), None
        stderr = io.StringIO()
        try:
            with contextlib.redirect_stderr(stderr):
                if step["kind"] == "python":
                    exec(compile(step["code"], step["where"], "exec"), namespace)  # noqa: S102
                else:
                    run_command(step["target"], step["argv"], step["kind"] == "parse")
        except Parsed:
            pass
        except BaseException as exc:  # noqa: BLE001  (report every failure as one line)
            tail = stderr.getvalue().strip().splitlines()[-3:]
            error = f"{type(exc).__name__}: {exc} | {' / '.join(tail)}"
            if step["kind"] == "python":
                error += " | " + traceback.format_exc(limit=-2).replace("\n", " ")
        report.append({"where": step["where"], "ok": error is None, "error": error,
                       "seconds": round(time.perf_counter() - t0, 2)})
    print("DOC-RUNNER " + json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
