"""Report figures drawn only when what they show has changed.

A report is rebuilt after every command that adds to a run (robustness, optimise, curves, report), and
drawing its ~40 figures is most of the time taken. Each PNG carries in its metadata a digest of what
it was drawn from: the figure function's inputs and the source of its module (and of this one). A
figure whose file already holds the same digest is not drawn again; a copied run folder keeps its
figures valid.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
from pathlib import Path

import matplotlib
import numpy as np

KEY = "digit-bench-inputs"
_pending: dict[Path, str] = {}  # path -> digest, while its figure function draws it


@functools.cache
def _source(module_file: str) -> bytes:
    code = Path(module_file).read_bytes() + Path(__file__).read_bytes() + matplotlib.__version__.encode()
    return hashlib.sha256(code).digest()


def _digest(value, h) -> None:
    if isinstance(value, np.ndarray):
        h.update(f"{value.dtype}{value.shape}".encode())
        h.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, dict):
        for k in sorted(value, key=str):
            h.update(repr(k).encode())
            _digest(value[k], h)
    elif isinstance(value, (list, tuple)):
        h.update(f"{type(value).__name__}{len(value)}".encode())
        for v in value:
            _digest(v, h)
    else:
        h.update(repr(value).encode())


def _drawn_from(path: Path) -> str | None:
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.text.get(KEY)
    except (OSError, ValueError, AttributeError):
        return None


def redrawn_when_changed(draw):
    """Decorator for a figure function with a `path` argument: skip drawing when the file at path was
    drawn from the same inputs by the same code."""
    signature = inspect.signature(draw)
    module_file = inspect.getsourcefile(draw)

    @functools.wraps(draw)
    def wrapper(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        path = Path(bound.arguments["path"])
        h = hashlib.sha256(_source(module_file) + draw.__name__.encode())
        _digest({k: v for k, v in bound.arguments.items() if k != "path"}, h)
        key = h.hexdigest()
        if path.is_file() and _drawn_from(path) == key:
            return path
        _pending[path] = key
        try:
            return draw(*args, **kwargs)
        finally:
            _pending.pop(path, None)

    return wrapper


def png_metadata(path) -> dict | None:
    """savefig's `metadata` for a figure being drawn at path: its digest, so it is not drawn again."""
    key = _pending.get(Path(path))
    return {KEY: key} if key else None
