"""Slim a trained agent's zip for shipping: the optimizer's moment estimates zeroed, the rest byte-for-byte.

    python -m agents.slim MODEL.zip [MODEL.zip ...]

An SB3 zip holds the policy's weights (``policy.pth``) and each optimizer's state (``*.optimizer.pth``: Adam's
two moment estimates per weight, twice the weights' size), stored with little compression. Playing an agent
needs only the weights; the optimizer state matters only to a run that continues training (``-i`` / ``--resume``
restart Adam's moments from zero instead). Zeroed moments compress to almost nothing, so an MlpPolicy over
GreenLLM-v2's 3,076 features shrinks to about a third. The step counts and learning rates in the state are
kept, so the zip still loads with ``exact_match`` and plays exactly as before (`tests/test_price_mode.py`).
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path
from typing import Any, Sequence

__all__ = ["slim_zip"]


def _zeroed(state: Any) -> Any:
    import torch

    if isinstance(state, torch.Tensor):
        return torch.zeros_like(state) if state.numel() > 1 else state
    if isinstance(state, dict):
        return {k: (v if k == "step" else _zeroed(v)) for k, v in state.items()}
    if isinstance(state, list):
        return [_zeroed(v) for v in state]
    return state


def slim_zip(path: str | Path) -> tuple[int, int]:
    """Rewrite ``path`` in place with its optimizer moments zeroed and every member deflated; (bytes before,
    bytes after)."""
    import torch

    path = Path(path)
    before = path.stat().st_size
    members: list[tuple[zipfile.ZipInfo, bytes]] = []
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            data = zf.read(info)
            if info.filename.endswith("optimizer.pth"):
                state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)
                buf = io.BytesIO()
                torch.save(_zeroed(state), buf)
                data = buf.getvalue()
            members.append((info, data))
    tmp = path.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as out:
        for info, data in members:
            info.compress_type = zipfile.ZIP_DEFLATED
            out.writestr(info, data)
    tmp.replace(path)
    return before, path.stat().st_size


def main(argv: Sequence[str] | None = None) -> int:
    paths = list(sys.argv[1:] if argv is None else argv)
    if not paths:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    for p in paths:
        before, after = slim_zip(p)
        print(f"{p}: {before / 1e6:.2f} MB -> {after / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
