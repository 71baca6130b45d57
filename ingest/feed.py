"""Read one transmission feed: header, one excerpt per line, metadata lines, pagination.

The format (docs/ingest.md says more)::

    INCOMING TRANSMISSION
    <blank>
    LATEST UPDATES
    <excerpt>...
    Python            <- category of the next excerpt
    2026-01-11        <- date of the next excerpt
    <excerpt>...
    1 2               <- pagination, ignored
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from kb.cli import InputError

HEADER = ("INCOMING TRANSMISSION", "LATEST UPDATES")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
PAGINATION_RE = re.compile(r"^\d+(?:\s+\d+)*$")
# A category is a short label; an excerpt is a long cut-off paragraph. 40 characters separates
# every sample comfortably (labels are one word, excerpts hundreds of characters).
MAX_CATEGORY_LEN = 40
CUT_MARKS = ("...", "…")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # below U+0020, except tab, LF, CR


class FeedError(InputError):
    """A feed that cannot be ingested; the message names the file and the problem."""


@dataclass(frozen=True)
class FeedEntry:
    text: str
    file: str  # the feed's file name: provenance is by name, wherever the feed sits
    line: int  # 1-based
    date: str | None = None
    category: str | None = None


def strip_cut_mark(text: str) -> tuple[str, bool]:
    """``text`` trimmed and without its trailing cut mark(s), and whether it had one."""
    core, cut = text.strip(), False
    # Each mark is tried once, in CUT_MARKS order, so "…..." loses both: dedupe has always
    # compared excerpts that way.
    for mark in CUT_MARKS:
        if core.endswith(mark):
            core, cut = core[: -len(mark)].rstrip(), True
    return core, cut


def decode_feed(path: Path, data: bytes) -> str:
    """UTF-8 (with or without BOM) first, then GB18030 (a superset of GBK/GB2312)."""
    if not data.strip():
        raise FeedError(path, "the file is empty")
    if b"\x00" in data:
        raise FeedError(path, "the file is binary (it contains NUL bytes), not a text feed")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if _looks_like_text(text):
            return text
    raise FeedError(path, "cannot decode the file as UTF-8 or GB18030/GBK text")


def _looks_like_text(text: str) -> bool:
    # GB18030 decodes almost any byte string; random bytes show up as control characters.
    controls = len(_CONTROL_RE.findall(text))
    return controls <= max(2, len(text) // 1000)


def parse_feed(path: Path, text: str) -> list[FeedEntry]:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    header_end = _check_header(path, lines)
    entries: list[FeedEntry] = []
    date = category = None
    for number, raw in enumerate(lines[header_end:], start=header_end + 1):
        line = raw.strip()
        if not line or PAGINATION_RE.match(line):
            continue
        if DATE_RE.match(line):
            date = line
        elif len(line) <= MAX_CATEGORY_LEN and not line.endswith(CUT_MARKS):
            category = line
        else:
            entries.append(FeedEntry(line, path.name, number, date, category))
            date = category = None
    if not entries:
        raise FeedError(path, "the feed has a header but no entries")
    return entries


def _check_header(path: Path, lines: list[str]) -> int:
    """Return the index of the first line after the header, or raise."""
    seen = [(i, l.strip()) for i, l in enumerate(lines[:10]) if l.strip()]
    if len(seen) < 2 or (seen[0][1], seen[1][1]) != HEADER:
        first = seen[0][1][:40] if seen else ""
        raise FeedError(path, f"missing the feed header {HEADER[0]!r} / {HEADER[1]!r} (first line: {first!r})")
    return seen[1][0] + 1


def read_feed(path: Path) -> list[FeedEntry]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FeedError(path, f"cannot read the file ({exc.strerror})") from exc
    return parse_feed(path, decode_feed(path, data))
