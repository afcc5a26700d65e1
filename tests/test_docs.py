"""The documentation: the site builds strictly, and every command and code block of README.md and docs/*.md runs.

Each shell command of a ``bash`` block is classified by its program (`classify`):

- run as written (``python -m green_llm_env.scenario``, ``python -m baselines.oracle``, python code blocks),
  in a scratch copy of the repository's layout (the repo's top-level entries linked, ``../shared/data``
  beside it; a page that reads the data skips when that folder is missing), each page's steps in one process
  (``tests/doc_runner.py``);
- long-running (`LONG`, with the reason): trainings, evaluations, the sweep, benchmarks, RL Zoo; their flags
  are parsed by the real parser and the command stopped there;
- not a python command (`EXTERNAL`, with the reason and a cheaper check where one exists: ``pip install``
  names real extras, ``./run.sh`` names a real subcommand and passes ``bash -n``).

A command that fits none of these fails `test_every_doc_command_is_classified`: add it to one of them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = sorted([REPO / "README.md", *(REPO / "docs").glob("*.md")])
RUNNER = REPO / "tests" / "doc_runner.py"
SHARED_DATA = REPO.parent / "shared" / "data"
"""The data folder beside the checkout (read by path, never shipped); pages that read it skip without it."""

RUN = ("green_llm_env.scenario", "baselines.oracle")
"""Modules run as written (each call takes a second or two)."""

LONG = {
    "train.py": "a training run (minutes to hours)",
    "evaluate.py": "an evaluation run (a minute per 20 seeds and policy; Ray commands need a cluster)",
    "green-llm-train": "console script of train.py: a training run",
    "green-llm-evaluate": "console script of evaluate.py: an evaluation run",
    "baselines.sweep": "the sensitivity sweep: 228 LP solves, about half a minute",
    "baselines.gap_split": "reads the folder of a long evaluate.py run (24 LPs per policy and seed)",
    "rl_zoo3.train": "RL Zoo training (the warm start alone takes about 15 minutes)",
    "rl_zoo3.enjoy": "needs a trained run in logs/",
    "rl_zoo3.plots.all_plots": "needs trained runs in logs/",
    "benchmarks/": "a benchmark (one to several minutes)",
    "agents.curves": "reads training runs' evaluations (parsed only: the runs live outside the repository)",
    "agents.ppo_diagnostics": "rewrites the docs' figure from the shipped runs' logs (parsed only: tests "
                              "check it on a small run, tests/test_ppo_diagnostics.py)",
}
"""Long-running programs (a path prefix or a module) -> why they are only parsed, not run."""

EXTERNAL = {
    "./run.sh": "the demo (6 minutes after the install) or the test suite; checked by bash -n and its subcommand",
    "pip": "installs packages; checked: the extras it names exist in pyproject.toml",
    "ray": "starts a Ray cluster",
    "mkdocs": "the site build, run by test_mkdocs_build_strict",
    "cat": "shows the output of the long command before it",
    "export": "sets GREEN_LLM_DATA for the commands after it; tests/test_data.py checks that it is honoured",
}
"""Programs that are not python commands -> why they are not run here."""

CONSOLE_SCRIPTS = {"green-llm-train": "train.py", "green-llm-evaluate": "evaluate.py"}


@dataclass(frozen=True)
class Block:
    """A fenced code block of a page."""

    path: Path
    line: int
    lang: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


def blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a markdown file."""
    out, lang, start, body = [], None, 0, []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fence = re.match(r"^\s*```(\S*)", line)
        if fence and lang is None:
            lang, start, body = fence.group(1) or "text", n, []
        elif fence:
            out.append(Block(path, start, lang, "\n".join(body)))
            lang = None
        elif lang is not None:
            body.append(line)
    return out


def shell_commands(block: Block) -> list[tuple[str, list[str]]]:
    """(where, argv) of each command of a bash block; a backslash-newline continues the line, as in bash."""
    text = block.text.replace("\\\n", "")
    out = []
    for offset, line in enumerate(text.splitlines()):
        argv = shlex.split(line, comments=True)
        if argv:
            out.append((f"{block.where}+{offset + 1}", argv))
    return out


def classify(argv: list[str]) -> tuple[str, str | None]:
    """("run" | "parse" | "external", target) of a command: the module or script it runs."""
    program = argv[0]
    if program == "python":
        if argv[1] == "-m":
            target = argv[2]
        elif argv[1] == "-c":
            return "run", "-c"
        else:
            target = argv[1]
        if target in RUN:
            return "run", target
        if target in LONG or any(target.startswith(p) for p in LONG if p.endswith("/")):
            return "parse", target
        return "unknown", target
    if program in CONSOLE_SCRIPTS:
        return "parse", CONSOLE_SCRIPTS[program]
    if program in EXTERNAL:
        return "external", program
    return "unknown", program


def all_commands() -> list[tuple[Path, str, list[str]]]:
    return [(b.path, where, argv) for path in DOCS for b in blocks(path) if b.lang in ("bash", "sh", "shell")
            for where, argv in shell_commands(b)]


def test_every_doc_command_is_classified() -> None:
    unknown = [f"{where}: {' '.join(argv)}" for _, where, argv in all_commands() if classify(argv)[0] == "unknown"]
    assert not unknown, "commands neither run, parsed nor listed in tests/test_docs.py:\n" + "\n".join(unknown)
    langs = {b.lang for path in DOCS for b in blocks(path)}
    assert langs <= {"bash", "python", "yaml", "text"}, f"a code block language the snippet test ignores: {langs}"


def _steps(path: Path) -> list[dict]:
    """The runnable steps of one page, in page order: python blocks and run/parse commands."""
    steps = []
    for b in blocks(path):
        if b.lang == "python":
            steps.append({"kind": "python", "where": b.where, "code": b.text})
        elif b.lang == "bash":
            for where, argv in shell_commands(b):
                kind, target = classify(argv)
                if kind == "run" and target == "-c":
                    steps.append({"kind": "python", "where": where, "code": argv[2]})
                elif kind in ("run", "parse"):
                    if not target.endswith(".py") and importlib.util.find_spec(target.split(".")[0]) is None:
                        continue  # an optional extra that is not installed (rl_zoo3 without the zoo extra)
                    rest = argv[3:] if argv[0] == "python" and argv[1] == "-m" else (
                        argv[2:] if argv[0] == "python" else argv[1:])
                    steps.append({"kind": kind, "where": where, "target": target, "argv": rest})
    return steps


def _scratch_repo(tmp: Path) -> Path:
    """``tmp/repo`` with links to the repository's top-level entries and ``tmp/shared/data`` beside it."""
    repo = tmp / "repo"
    repo.mkdir()
    for entry in REPO.iterdir():
        if entry.name not in (".git", ".venv", "runs", "logs", "site"):
            (repo / entry.name).symlink_to(entry)
    (tmp / "shared").mkdir()
    if SHARED_DATA.is_dir():
        (tmp / "shared" / "data").symlink_to(SHARED_DATA)
    return repo


def needs_data(path: Path) -> bool:
    """Whether a page's code reads the data (the letter's scenario or the 2024 traces), which is not shipped."""
    text = path.read_text(encoding="utf-8")
    return any(m in text for m in ("shared/data", "oracle tables", "reference_scenario_path", "traces_dir",
                                   "--traces"))


def run_page(path: Path, tmp: Path) -> list[dict]:
    """Run a page's steps in one process in a scratch copy of the layout; the runner's report."""
    repo = _scratch_repo(tmp)
    steps_file = tmp / "steps.json"
    steps_file.write_text(json.dumps(_steps(path)))
    env = {**os.environ, "PYTHONPATH": str(repo), "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, str(RUNNER), str(steps_file)], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=600)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("DOC-RUNNER ")]
    assert proc.returncode == 0 and line, f"runner failed: {proc.stderr[-2000:]}"
    return json.loads(line[-1][len("DOC-RUNNER "):])


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.name)
def test_doc_page_runs(page: Path, tmp_path: Path) -> None:  # 1-8 s a page on 2 cores
    if needs_data(page) and not SHARED_DATA.is_dir() and not os.environ.get("GREEN_LLM_DATA"):
        pytest.skip(f"{page.name} reads the data: {SHARED_DATA} not found and GREEN_LLM_DATA not set")
    report = run_page(page, tmp_path)
    failed = [f"{r['where']}: {r['error']}" for r in report if not r["ok"]]
    assert not failed, "\n".join(failed)


def test_parse_only_check_catches_bad_flags(tmp_path: Path) -> None:
    """The parse-only check fails a long command with a wrong or missing flag, and passes a good one."""
    steps = [{"kind": "parse", "where": "bad", "target": "evaluate.py", "argv": ["--policies", "oracle", "--bogus"]},
             {"kind": "parse", "where": "no-out", "target": "evaluate.py", "argv": ["--policies", "oracle"]},
             {"kind": "parse", "where": "good", "target": "evaluate.py",
              "argv": ["--policies", "oracle", "--seeds", "1000", "--out", "x"]}]
    (tmp_path / "steps.json").write_text(json.dumps(steps))
    proc = subprocess.run([sys.executable, str(RUNNER), str(tmp_path / "steps.json")], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    report = json.loads(proc.stdout.split("DOC-RUNNER ")[-1])
    assert [r["ok"] for r in report] == [False, False, True], report


def test_external_commands_are_sound() -> None:
    """``pip install`` names real extras; ``./run.sh`` names a real subcommand and is valid bash."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    extras = set(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    run_sh = (REPO / "run.sh").read_text()
    subprocess.run(["bash", "-n", str(REPO / "run.sh")], check=True)
    for _, where, argv in all_commands():
        if argv[0] == "pip" and argv[1] == "install":
            for arg in argv[2:]:
                named = re.findall(r"\[([\w,-]+)\]", arg)
                for extra in (e for group in named for e in group.split(",")):
                    assert extra in extras, f"{where}: extra {extra!r} not in pyproject.toml"
        if argv[0] == "./run.sh":
            sub = argv[1] if len(argv) > 1 else "demo"
            assert re.search(rf"^\s*{re.escape(sub)}\)", run_sh, re.M), f"{where}: run.sh has no {sub!r}"


def test_yaml_blocks_parse() -> None:
    yaml = pytest.importorskip("yaml")
    for path in DOCS:
        for b in blocks(path):
            if b.lang == "yaml" and "--8<--" not in b.text:
                assert isinstance(yaml.safe_load(b.text), dict), b.where


_DOCS_PLUGINS = ("mkdocs", "material", "mkdocstrings_handlers.python", "mkdocs_gen_files", "mkdocs_literate_nav")


@pytest.mark.skipif(any(importlib.util.find_spec(m.split(".")[0]) is None for m in _DOCS_PLUGINS),
                    reason='the docs extra is not installed (pip install -e ".[docs]")')
def test_mkdocs_build_strict(tmp_path: Path) -> None:
    env = {**os.environ, "DISABLE_MKDOCS_2_WARNING": "true", "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    warnings = [ln for ln in proc.stderr.splitlines() if ln.startswith(("WARNING", "ERROR"))]
    assert proc.returncode == 0 and not warnings, proc.stderr[-3000:]
    site = tmp_path / "site"
    import gymnasium as gym

    import green_llm_env  # noqa: F401

    for env_id in (i for i in gym.registry if i.startswith("GreenLLM-")):
        assert (site / "envs" / env_id / "index.html").is_file(), f"no page for {env_id}"
    assert (site / "api" / "baselines.oracle" / "index.html").is_file()
