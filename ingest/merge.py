"""Fold the same excerpt seen in several feeds, or cut at different lengths, into one."""
from __future__ import annotations

from dataclasses import dataclass, field

from ingest.feed import CUT_MARKS, FeedEntry


def normalize(text: str) -> str:
    """The comparable core of an excerpt: trimmed, without the trailing cut mark."""
    text = text.strip()
    for mark in CUT_MARKS:
        if text.endswith(mark):
            text = text[: -len(mark)].rstrip()
    return text


def same_excerpt(a: str, b: str) -> bool:
    """Same article when one excerpt is a (shorter or longer) cut of the other."""
    na, nb = normalize(a), normalize(b)
    return na.startswith(nb) or nb.startswith(na)


@dataclass
class Excerpt:
    text: str
    occurrences: list[tuple[str, int]] = field(default_factory=list)
    date: str | None = None
    category: str | None = None

    def absorb(self, entry: FeedEntry) -> None:
        if len(normalize(entry.text)) > len(normalize(self.text)):
            self.text = entry.text  # keep the longest cut
        self.occurrences.append((entry.file, entry.line))
        self.date = self.date or entry.date
        self.category = self.category or entry.category


def merge_entries(entries: list[FeedEntry]) -> list[Excerpt]:
    """Distinct excerpts in order of first appearance, each with every place it was seen."""
    merged: list[Excerpt] = []
    for entry in entries:
        target = next((ex for ex in merged if same_excerpt(ex.text, entry.text)), None)
        if target is None:
            target = Excerpt(entry.text)
            merged.append(target)
        target.absorb(entry)
    for ex in merged:
        ex.occurrences.sort()
    return merged
