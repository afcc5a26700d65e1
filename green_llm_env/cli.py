"""One clear line for every bad command-line input, shared by the project's command-line tools.

A bad value is one line on stderr, ``<prog>: error: <message>`` (the message names the argument, the rule and
the value), and exit status 2; never a usage block, never a traceback::

    parser = OneLineParser(prog="python -m baselines.oracle")
    ...
    sys.exit(run_cli(parser.prog, main_body, argv))
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

__all__ = ["CliError", "OneLineParser", "extra_hint", "int_at_least", "positive_float", "run_cli"]

EXTRAS = {"matplotlib": "plots", "tqdm": "train", "torch": "train", "stable_baselines3": "train",
          "sb3_contrib": "train", "yaml": "train", "rl_zoo3": "zoo", "optuna": "zoo", "torchrl": "torchrl",
          "tensordict": "torchrl", "scipy": "test"}
"""Optional module -> the pyproject extra that installs it."""


def extra_hint(exc: ImportError, what: str) -> str:
    """One line naming the missing module, what it was for and the install command of its extra."""
    module = (getattr(exc, "name", None) or str(exc)).split(".")[0]
    extra = EXTRAS.get(module, "all")
    return f"{what} skipped: {module} is not installed (pip install 'green-llm-env[{extra}]')"


class CliError(ValueError):
    """A bad command-line value; printed as one line, exit status 2."""


class OneLineParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors raise `CliError` (one line) instead of printing the usage."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise CliError(message)


def int_at_least(low: int) -> Callable[[str], int]:
    """An argparse ``type``: an integer >= ``low`` (argparse names the option in its message)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}; got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}; got {value}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def positive_float(text: str) -> float:
    """An argparse ``type``: a finite number > 0 (argparse names the option in its message)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number > 0; got {text!r}") from None
    if not (value > 0 and value < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0; got {text}")
    return value


def run_cli(prog: str, body: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    """``body(argv)``, with a `CliError` or a ``SystemExit("message")`` printed as one line
    ``<prog>: error: <message>`` on stderr and exit status 2 (``SystemExit`` with a status passes)."""
    try:
        return body(argv)
    except CliError as exc:
        message = str(exc)
    except SystemExit as exc:
        if not isinstance(exc.code, str):
            raise
        message = exc.code
    print(f"{prog}: error: {message}", file=sys.stderr)
    return 2
