"""Files: the one atomic write every file the project writes goes through, and paths kept inside folders.

`atomic_write(path, write)` hands `write` a temporary path beside `path` with the same suffix (Keras,
matplotlib and OpenCV pick the format by suffix), then renames it over `path`: a killed process never
leaves half a file, and a reader never sees one. `inside(path, roots)` resolves a path a results file
names and refuses it unless it lies in one of the given folders. Nothing here imports another
bench module.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

# What a model's name may hold wherever it comes from (registry, results file, command line): it
# becomes part of file names (figures/cm_<name>.png, models/<name>.keras).
MODEL_NAME = re.compile(r"[A-Za-z0-9_-]+")


class UnsafePathError(ValueError):
    """A path or name read from a file would reach outside the folders it belongs in."""


def check_model_name(name, where: str) -> str:
    """`name` when it is a registry-style model name (letters, digits, '-', '_'); UnsafePathError naming
    `where` it came from otherwise."""
    if not isinstance(name, str) or not MODEL_NAME.fullmatch(name):
        raise UnsafePathError(f"{where}: {name!r} is not a model name (letters, digits, '-' and '_' only)")
    return name


def as_typed(path: str | None) -> str | None:
    """A path a worker reports (absolute) as a user would type it here: relative to the working directory when it
    lies inside it, so a results file names no folder of the machine that made it."""
    if path is None or not Path(path).is_absolute():
        return path
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return path


def inside(path, roots, where: str) -> Path:
    """`path` resolved (a relative one against the first root) when it lies inside one of `roots`;
    UnsafePathError naming `where` the path came from and the folders it may be in otherwise."""
    roots = [Path(r).resolve() for r in roots]
    candidate = Path(path)
    resolved = (candidate if candidate.is_absolute() else roots[0] / candidate).resolve()
    if not any(resolved == r or r in resolved.parents for r in roots):
        folders = " or ".join(str(r) for r in roots)
        raise UnsafePathError(f"{where}: {str(path)!r} lies outside {folders}")
    return resolved


def atomic_write(path, write: Callable[[Path], object]) -> Path:
    """Call write(tmp) on a temporary file beside `path` (same suffix), fsync it, rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results and models are ordinary files
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write `data` to `path` atomically (see `atomic_write`)."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
