"""Keep what a runaway cell prints to a size a page can hold: its head and its tail.

A loop that prints 40 MB would otherwise be stored whole in the executed notebook, the jupyter
cache and the page. Each cell's stdout and stderr are cut to their first and last
``limit / 2`` characters, with a visible note of how much was left out between them.
"""
from __future__ import annotations

DEFAULT_STREAM_LIMIT = 200_000  # characters per cell and stream; front matter `stream_limit` overrides


def cut_note(removed: int) -> str:
    return f"\n[… {removed:,} characters of output cut here (stream_limit) …]\n"


def cap_streams(nb, limit: int) -> int:
    """Cap every code cell's streams of ``nb`` in place; returns how many characters were cut."""
    removed_total = 0
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        for name in ("stdout", "stderr"):
            streams = [o for o in cell.get("outputs", []) if o.get("output_type") == "stream" and o.get("name") == name]
            text = "".join(_text(o) for o in streams)
            if len(text) <= limit:
                continue
            half = limit // 2
            removed = len(text) - 2 * half
            streams[0]["text"] = text[:half] + cut_note(removed) + text[len(text) - half:]
            dropped = {id(o) for o in streams[1:]}
            cell["outputs"] = [o for o in cell["outputs"] if id(o) not in dropped]
            removed_total += removed
    return removed_total


def _text(output) -> str:
    text = output.get("text", "")
    return "".join(text) if isinstance(text, list) else text
