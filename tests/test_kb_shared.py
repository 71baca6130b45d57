"""What the stages share: the _build layout agrees with the book's configuration, and atomic writes
leave either the old file or the new one, readable by other users."""
import os
import stat

import pytest
import yaml

from kb import layout
from kb.files import atomic_write, atomic_write_text, read_json, write_if_changed, write_json
from tests.conftest import REPO


def test_jupyter_book_reads_the_cache_the_runner_fills():
    config = yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf-8"))
    assert config["execute"]["cache"] == str(layout.JUPYTER_CACHE)
    assert config["execute"]["execute_notebooks"] == "cache"  # the book must never execute by itself


def test_atomic_write_creates_files_with_the_umask_mode(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    path = tmp_path / "sub" / "report.json"
    write_json(path, {"a": 1})
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert read_json(path) == {"a": 1}


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "a.txt"
    atomic_write_text(path, "old")

    def half_then_crash(tmp):
        tmp.write_text("half", encoding="utf-8")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(path, half_then_crash)
    assert path.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_write_if_changed_leaves_an_unchanged_file_alone(tmp_path):
    path = tmp_path / "a.md"
    assert write_if_changed(path, "same\n")
    mtime = path.stat().st_mtime_ns
    assert not write_if_changed(path, "same\n") and path.stat().st_mtime_ns == mtime
    assert write_if_changed(path, "different\n") and path.read_text(encoding="utf-8") == "different\n"


def test_read_json_gives_the_default_for_missing_or_broken_files(tmp_path):
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    assert read_json(tmp_path / "bad.json", default=[]) == []
    assert read_json(tmp_path / "missing.json") is None
