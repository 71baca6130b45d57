"""The execution record of one article: what ``_build/execution/records/<slug>.json`` holds.

Standard library only: the Sphinx extension and the report read records without importing
the engine (nbclient, tqdm, jupyter-cache).
"""
from __future__ import annotations

import platform
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from kb import layout
from kb.files import json_text, read_json, write_if_changed, write_json

STATUSES = ("ok", "no-code", "failed", "timeout")
PASSED = ("ok", "no-code")  # not failures: "no-code" is an article that has no implementation yet
NO_CODE_DEVICE = "none"  # an article without code cells: nothing ran, no kernel started
NO_CODE_LABEL = "待实现 · needs an implementation"


@dataclass
class ExecutionRecord:
    slug: str
    path: str
    status: str  # one of STATUSES
    cached: bool  # the latest run served it from the cache (no kernel started)
    seconds: float
    device: str
    started: str
    key: str
    versions: dict = field(default_factory=dict)
    failed_cell: int | None = None
    failed_source: str | None = None
    traceback: str | None = None
    python: str = platform.python_version()
    # Where it ran; not part of the key. Records written before these fields existed were all local.
    engine: str = "local"  # "local" (the worker pool) or "ray"
    host: str = ""  # the machine that ran the kernel (socket.gethostname()); the driver's for a no-code record

    @classmethod
    def from_json(cls, data: dict) -> "ExecutionRecord":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_json(self) -> dict:
        return asdict(self)

    @property
    def failed(self) -> bool:
        return self.status not in PASSED


def load_record(root: Path, slug: str) -> ExecutionRecord | None:
    data = read_json(layout.record_file(root, slug))
    try:
        return ExecutionRecord.from_json(data) if isinstance(data, dict) else None
    except TypeError:  # a record missing fields (written by a much older runner): run it again
        return None


def save_record(root: Path, rec: ExecutionRecord) -> None:
    # Unchanged bytes leave the file alone: pages that depend on it are not rebuilt for nothing.
    write_if_changed(layout.record_file(root, rec.slug), json_text(rec.to_json()))


def write_report(root: Path, slugs: list[str]) -> Path:
    """report.json: the latest record of every listed article (articles never run are absent)."""
    report = [r.to_json() for s in slugs if (r := load_record(root, s)) is not None]
    path = layout.report_file(root)
    write_json(path, report)
    return path


def failure_location(rec: dict | ExecutionRecord) -> str:
    """Where a run stopped: ``cell N`` (0-based, as in the notebook), or ``kernel`` (it died or never started)."""
    cell = rec.get("failed_cell") if isinstance(rec, dict) else rec.failed_cell
    return f"cell {cell}" if cell is not None else "kernel"


def device_label(device: str) -> str:
    """How the site and the report name a device: ``CPU``, the CUDA device's name, or that nothing ran."""
    return {"cpu": "CPU", NO_CODE_DEVICE: "no code"}.get(device, device)
