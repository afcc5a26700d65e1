"""Generate the site's derived pages at build time (mkdocs-gen-files), so that they cannot drift from the code.

- ``envs/<id>.md``: one page per registered ``GreenLLM-*`` env id, from its entry point's docstring (the class
  docstring is the env's manual: spaces, reward, constraint handling, arguments with ranges, Version History);
  a factory entry point also shows the docstring of the wrapper it applies.
- ``api/<module>.md``: one mkdocstrings page per public module of green_llm_env, baselines and agents.
- ``results.svg``: a bar chart of the mean oracle gaps in the tables of ``training.md``.
- ``SUMMARY.md``: the navigation (mkdocs-literate-nav), listing the generated pages.
- ``cite.md`` reads CITATION.cff through pymdownx.snippets (see mkdocs.yml).
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import mkdocs_gen_files

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("green_llm_env", "baselines", "agents")


# ------------------------------------------------------------------------------ env pages
def registered_envs() -> dict[str, object]:
    """Env id -> its gymnasium EnvSpec, for every ``GreenLLM-*`` id, in registration order."""
    import gymnasium as gym

    import green_llm_env  # noqa: F401  (registers the ids)

    return {env_id: spec for env_id, spec in gym.registry.items() if env_id.startswith("GreenLLM-")}


def resolve(entry_point: str) -> object:
    """The object an ``module:name`` entry point names."""
    module, name = entry_point.split(":")
    return getattr(importlib.import_module(module), name)


def env_page(env_id: str, spec: object, ids: dict[str, object]) -> str:
    """The markdown page of one env id."""
    obj = resolve(spec.entry_point)
    doc = inspect.getdoc(obj) or "(no docstring)"
    lines = [f"# {env_id}", "", "```python", "import gymnasium as gym",
             f'env = gym.make("green_llm_env:{env_id}")', "```", "",
             "| registration | value |", "|---|---|", f"| entry point | `{spec.entry_point}` |",
             f"| vector entry point | `{spec.vector_entry_point or '-'}` |",
             f"| max_episode_steps | {spec.max_episode_steps or 'none: the episode ends at the horizon'} |", ""]
    if inspect.isclass(obj):
        lines += [doc, ""]
        return "\n".join(lines)
    lines += ["## Entry point", "", doc, ""]
    module = importlib.import_module(spec.entry_point.split(":")[0])
    for name in dict.fromkeys(re.findall(r"(?<!`)`([A-Za-z_][A-Za-z0-9_]*)`(?!`)", doc)):
        wrapper = getattr(module, name, None)
        if inspect.isclass(wrapper):
            lines += [f"## `{name}`", "", inspect.getdoc(wrapper) or "(no docstring)", ""]
    base = []  # the registered ids, or their env classes, that the factory's docstring names
    for other_id, other in ids.items():
        named_class = inspect.isclass(cls := resolve(other.entry_point)) and re.search(rf"\b{cls.__name__}\b", doc)
        if other_id != env_id and (named_class or re.search(rf"{re.escape(other_id)}(?![-\w])", doc)):
            base.append(other_id)
    if base:
        links = ", ".join(f"[{b}]({b}.md)" for b in dict.fromkeys(base))
        lines += ["## Base environment", "", f"Spaces, rewards and arguments of the base env: {links}.", ""]
    return "\n".join(lines)


def write_env_pages() -> list[str]:
    """Write ``envs/index.md`` and one page per id; return the ids."""
    ids = registered_envs()
    index = ["# Environments", "", "One page per registered id, generated from its docstring.", "",
             "| id | entry point | summary |", "|---|---|---|"]
    for env_id, spec in ids.items():
        with mkdocs_gen_files.open(f"envs/{env_id}.md", "w") as f:
            f.write(env_page(env_id, spec, ids))
        summary = _id_summary(env_id)
        index.append(f"| [{env_id}]({env_id}.md) | `{spec.entry_point}` | {summary} |")
    with mkdocs_gen_files.open("envs/index.md", "w") as f:
        f.write("\n".join(index) + "\n")
    return list(ids)


def _id_summary(env_id: str) -> str:
    """The attribute docstring of the id's constant in ``green_llm_env/__init__.py`` (one line)."""
    import ast

    tree = ast.parse((ROOT / "green_llm_env" / "__init__.py").read_text())
    body = tree.body
    for node, after in zip(body, body[1:]):
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and node.value.value == env_id
                and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)):
            return " ".join(str(after.value.value).split()).replace("|", "\\|")
    return ""


# ------------------------------------------------------------------------------ API pages
def public_modules() -> list[str]:
    """Dotted names of the public modules (no leading underscore) of `PACKAGES`, found on disk."""
    names = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if any(p.startswith("_") and p != "__init__" for p in parts):
                continue
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def write_api_pages() -> list[str]:
    """Write ``api/index.md`` and one page per public module; return the module names."""
    index = ["# API reference", "", "Generated from the docstrings of the public modules.", ""]
    for name in public_modules():
        with mkdocs_gen_files.open(f"api/{name}.md", "w") as f:
            f.write(f"# `{name}`\n\n::: {name}\n")
        index.append(f"- [`{name}`]({name}.md)")
    with mkdocs_gen_files.open("api/index.md", "w") as f:
        f.write("\n".join(index) + "\n")
    return public_modules()


# ------------------------------------------------------------------------------ results chart
def gap_rows(markdown: str) -> list[tuple[str, list[tuple[str, float]]]]:
    """(section title, [(policy, mean gap %)]) for every table with a ``mean gap %`` column in ``markdown``."""
    sections, title, header = [], "", None
    for line in markdown.splitlines():
        if line.startswith("#"):
            title, header = line.lstrip("#").strip(), None
        elif line.startswith("|") and "mean gap %" in line:
            header = [c.strip() for c in line.strip("|").split("|")]
            sections.append((title, []))
        elif header and line.startswith("|") and not set(line) <= set("|-: "):
            cells = [c.strip() for c in line.strip("|").split("|")]
            name = re.sub(r"[*`]|\(.*?\)", "", cells[0]).strip()
            sections[-1][1].append((name, float(cells[header.index("mean gap %")].strip("*"))))
        elif not line.startswith("|"):
            header = None
    return sections


def bar_chart(sections: list[tuple[str, list[tuple[str, float]]]]) -> str:
    """A small horizontal bar chart (SVG, no plotting library) of the mean gaps, one block per table."""
    width, label_w, bar_h, pad = 720, 230, 16, 4
    top = max((g for _, rows in sections for _, g in rows), default=1.0) or 1.0
    y, parts = 10, []
    for title, rows in sections:
        parts.append(f'<text x="0" y="{y + 12}" font-weight="bold">{_esc(title)}</text>')
        y += 22
        for name, gap in rows:
            w = (width - label_w - 60) * gap / top
            parts.append(f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end">{_esc(name)}</text>'
                         f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="#4a7c59"/>'
                         f'<text x="{label_w + w + 4:.1f}" y="{y + 12}">{gap:.2f}%</text>')
            y += bar_h + pad
        y += 12
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{y}" font-family="sans-serif" '
            f'font-size="12"><title>Mean oracle gap per policy (%)</title>{"".join(parts)}</svg>\n')


def _esc(text: str) -> str:
    """``text`` escaped for SVG."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_results_chart() -> None:
    """Write ``results.svg`` from the tables of ``docs/training.md``."""
    sections = gap_rows((ROOT / "docs" / "training.md").read_text(encoding="utf-8"))
    with mkdocs_gen_files.open("results.svg", "w") as f:
        f.write(bar_chart(sections))


BEFORE_ENVS = (("Home", "index.md"), ("Install and quickstart", "install.md"),
               ("Tutorial: train and score an agent", "tutorial.md"), ("The model", "model.md"))
AFTER_ENVS = (("Environment guide", "environments.md"), ("The oracle and the baselines", "oracle.md"),
              ("The agents", "agents.md"), ("PPO's diagnostics (table)", "ppo-diagnostics.md"),
              ("Training and evaluation", "training.md"),
              ("Torch backend (GPU)", "torch.md"), ("Tests and benchmarks", "testing.md"),
              ("Data and licences", "data.md"), ("How to cite", "cite.md"))
"""The hand-written pages, in navigation order, around the generated environment pages."""


def write_nav(env_ids: list[str], modules: list[str]) -> None:
    """``SUMMARY.md``: the hand-written pages, then every generated env and API page."""
    lines = [f"- [{title}]({page})" for title, page in BEFORE_ENVS]
    lines += ["- [Environments](envs/index.md)"] + [f"    - [{e}](envs/{e}.md)" for e in env_ids]
    lines += [f"- [{title}]({page})" for title, page in AFTER_ENVS]
    lines += ["- [API reference](api/index.md)"] + [f"    - [{m}](api/{m}.md)" for m in modules]
    with mkdocs_gen_files.open("SUMMARY.md", "w") as f:
        f.write("\n".join(lines) + "\n")


write_nav(write_env_pages(), write_api_pages())
write_results_chart()
