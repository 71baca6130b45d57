"""What the stages share: the _build layout agrees with the book's configuration, atomic writes,
copies and folder replacements leave either the old or the new, readable by other users, and one
definition of a CJK character."""
import os
import re
import stat

import pytest
import yaml

from kb import layout
from kb.files import (atomic_copy, atomic_folder, atomic_write, atomic_write_text, read_json, umask_mode,
                      write_if_changed, write_json)
from kb.text import CJK_CLASS, CJK_RANGES, is_cjk
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


def test_atomic_copy_keeps_the_time_takes_the_umask_mode_and_skips_an_unchanged_copy(tmp_path):
    src = tmp_path / "model.onnx"
    src.write_bytes(b"weights")
    os.chmod(src, 0o600)
    os.utime(src, ns=(1_000_000_000, 1_600_000_000_123_456_789))
    dest = tmp_path / "out" / "model.onnx"
    assert atomic_copy(src, dest)
    assert dest.read_bytes() == b"weights"
    assert dest.stat().st_mtime_ns == src.stat().st_mtime_ns
    assert stat.S_IMODE(dest.stat().st_mode) == umask_mode()
    assert not atomic_copy(src, dest, if_changed=True)
    src.write_bytes(b"WEIGHTS")  # same size, new time
    assert atomic_copy(src, dest, if_changed=True) and dest.read_bytes() == b"WEIGHTS"
    assert atomic_copy(src, dest)  # without if_changed it always copies
    assert sorted(p.name for p in dest.parent.iterdir()) == ["model.onnx"]


def test_atomic_copy_of_a_missing_source_keeps_the_old_copy(tmp_path):
    dest = tmp_path / "a.bin"
    dest.write_bytes(b"old")
    with pytest.raises(FileNotFoundError):
        atomic_copy(tmp_path / "missing.bin", dest, if_changed=True)
    assert dest.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_atomic_folder_replaces_the_whole_folder_with_the_umask_mode(tmp_path):
    dest = tmp_path / "browser"

    def fill(files):
        def _fill(tmp):
            assert tmp.parent == tmp_path and tmp != dest and not any(tmp.iterdir())
            for name, text in files.items():
                (tmp / name).parent.mkdir(parents=True, exist_ok=True)
                (tmp / name).write_text(text, encoding="utf-8")
        return _fill

    assert atomic_folder(dest, fill({"meta.json": "1", "model/a": "a"})) == dest
    assert stat.S_IMODE(dest.stat().st_mode) == umask_mode(directory=True)
    assert atomic_folder(dest, fill({"meta.json": "2"})) == dest
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*")) == ["meta.json"]
    assert (dest / "meta.json").read_text(encoding="utf-8") == "2"
    assert [p.name for p in tmp_path.iterdir()] == ["browser"]  # no temporary or old folder left


def test_a_failed_atomic_folder_keeps_the_old_folder_and_leaves_no_temporary(tmp_path):
    dest = tmp_path / "browser"
    atomic_folder(dest, lambda tmp: (tmp / "meta.json").write_text("old", encoding="utf-8"))

    def half_then_crash(tmp):
        (tmp / "vectors.bin").write_bytes(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_folder(dest, half_then_crash)
    assert [p.name for p in dest.iterdir()] == ["meta.json"]
    assert (dest / "meta.json").read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["browser"]


def test_atomic_folder_replaces_a_file_in_its_place(tmp_path):
    dest = tmp_path / "browser"
    dest.write_text("not a folder", encoding="utf-8")
    atomic_folder(dest, lambda tmp: (tmp / "x").write_text("x", encoding="utf-8"))
    assert dest.is_dir() and [p.name for p in tmp_path.iterdir()] == ["browser"]


def test_the_cjk_class_matches_exactly_the_characters_is_cjk_names():
    pattern = re.compile(f"[{CJK_CLASS}]")
    everything = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    assert [ch for ch in everything if pattern.fullmatch(ch)] == [ch for ch in everything if is_cjk(ch)]
    assert is_cjk("训") and is_cjk("\u3400") and is_cjk("\ufa6d") and not is_cjk("a") and not is_cjk("。")
    # Outside the BMP on purpose: the browser cuts bigrams by UTF-16 code units (kb.text).
    assert not is_cjk("\U00020000") and all(hi <= 0xFFFF for _, hi in CJK_RANGES)
