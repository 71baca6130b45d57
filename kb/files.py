"""Atomic file writes, copies and folders, and JSON: a reader never sees half a file (or a
half-filled folder), a crash never loses the old one.

Files and folders are created with the mode the umask gives (usually 0644 and 0755), like
``open()`` and ``mkdir`` would: the temporary file ``mkstemp`` makes is 0600 and the folder
``mkdtemp`` makes 0700, which would leave reports, executed notebooks and the site's search data
unreadable to a web server or a colleague running as another user.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
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


def _same_file_data(src: Path, dest: Path) -> bool:
    try:
        a, b = src.stat(), dest.stat()
    except FileNotFoundError:
        return False
    return a.st_size == b.st_size and a.st_mtime_ns == b.st_mtime_ns


def atomic_copy(src: Path, dest: Path, *, if_changed: bool = False) -> bool:
    """Copy the file ``src`` to ``dest`` atomically; returns whether it copied.

    The copy keeps ``src``'s modification time (its mode comes from the umask), so with
    ``if_changed`` a ``dest`` of the same size and time is taken to be that file already and left
    alone: incremental builds skip the 40 MB model without reading it.
    """
    src, dest = Path(src), Path(dest)
    if if_changed and _same_file_data(src, dest):
        return False

    def _copy(tmp: Path) -> None:
        shutil.copyfile(src, tmp)
        st = src.stat()
        os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))

    atomic_write(dest, _copy)
    return True


def atomic_folder(dest: Path, fill: Callable[[Path], None]) -> Path:
    """Call ``fill(tmp_dir)`` on a new empty folder beside ``dest``, then put it in ``dest``'s place.

    Returns ``dest``. A reader finds the old folder or the complete new one, never a half-filled
    one (POSIX cannot rename a folder over a non-empty one, so the old folder is renamed away
    first: for that instant ``dest`` is absent). When ``fill`` raises, the old folder is kept and
    the new one removed. The folder gets the umask's mode, not ``mkdtemp``'s 0700.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp"))
    old = tmp.with_suffix(".old")  # unique as ``tmp`` is: the old folder's name while it is removed
    try:
        os.chmod(tmp, umask_mode(directory=True))
        fill(tmp)
        moved = dest.exists() or dest.is_symlink()
        if moved:
            os.replace(dest, old)
        try:
            os.replace(tmp, dest)
        except BaseException:
            if moved:
                os.replace(old, dest)
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old, ignore_errors=True)
    elif old.exists() or old.is_symlink():
        old.unlink()
    return dest


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
