"""Atomic file writes and JSON: a reader never sees half a file, a crash never loses the old one.

Files are created with the mode the umask gives (usually 0644), like ``open()`` would: the
temporary file ``mkstemp`` makes is 0600, which would leave reports and executed notebooks
unreadable to a web server or a colleague running as another user.
"""
from __future__ import annotations

import functools
import json
import os
import tempfile
from pathlib import Path
from typing import Callable


@functools.cache
def _umask() -> int:
    # Reading the umask means setting it; doing it once keeps the moment when another thread
    # could create a file under umask 0 to the first write.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def umask_mode(directory: bool = False) -> int:
    """The mode ``open()`` (or ``mkdir``) would give a new file (folder) under the process's umask."""
    return (0o777 if directory else 0o666) & ~_umask()


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp_path)``, then rename the temporary file over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, umask_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda p: p.write_bytes(data))


def atomic_write_text(path: Path, text: str) -> None:
    """UTF-8 with ``\\n`` line ends on every platform (article files are shared through git)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def write_if_changed(path: Path, text: str) -> bool:
    """Write only when the bytes differ, so a no-op run leaves mtimes (and caches) alone."""
    path = Path(path)
    data = text.encode("utf-8")
    if path.exists() and path.read_bytes() == data:
        return False
    atomic_write_bytes(path, data)
    return True


def json_text(obj, indent: int | None = 1) -> str:
    """The project's JSON: UTF-8 text as is (Chinese stays readable), one trailing newline."""
    return json.dumps(obj, ensure_ascii=False, indent=indent) + "\n"


def write_json(path: Path, obj, indent: int | None = 1) -> None:
    atomic_write_text(path, json_text(obj, indent))


def read_json(path: Path, default=None):
    """The parsed file, or ``default`` when it is missing or not valid JSON."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default
