"""The execution records as text: the table ``book execute`` and ``book report`` print."""
from __future__ import annotations

from runner.records import ExecutionRecord, device_label, failure_location


def format_table(records: list[ExecutionRecord]) -> str:
    rows = [("article", "status", "cached", "seconds", "device")]
    rows += [(r.slug, r.status, "yes" if r.cached else "no", f"{r.seconds:.1f}", device_label(r.device))
             for r in records]
    widths = [max(len(str(row[i])) for row in rows) for i in range(5)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def summary(records: list[ExecutionRecord], wall: float | None = None) -> str:
    n_ok = sum(r.status == "ok" for r in records)
    n_no_code = sum(r.status == "no-code" for r in records)
    n_failed = sum(r.failed for r in records)
    n_cached = sum(r.cached for r in records)
    text = (f"{len(records)} notebooks: {n_ok} ok, {n_no_code} without code yet, {n_failed} failed/timed out, "
            f"{n_cached} from cache")
    return text + (f"; {wall:.1f} s wall" if wall is not None else "")


def failures_text(records: list[ExecutionRecord]) -> str:
    parts = [f"--- {r.slug} ({r.path}): {r.status} at {failure_location(r)}\n{(r.traceback or '')[-1500:]}"
             for r in records if r.failed]
    return "\n".join(parts)
