"""Fold the same excerpt seen in several feeds, or cut at different lengths, into one."""
from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from dataclasses import dataclass, field

from ingest.feed import FeedEntry, strip_cut_mark

# Excerpts are hundreds of characters long, so nearly every one has a key of this length, and
# unrelated excerpts rarely share one (a shared opening heading is shorter).
KEY_LEN = 32


def normalize(text: str) -> str:
    """The comparable core of an excerpt: trimmed, without the trailing cut mark."""
    return strip_cut_mark(text)[0]


def same_excerpt(a: str, b: str) -> bool:
    """Same article when one excerpt is a (shorter or longer) cut of the other."""
    na, nb = normalize(a), normalize(b)
    return na.startswith(nb) or nb.startswith(na)


class PrefixIndex:
    """Normalized excerpts, numbered in the order added, that answer "which is the first one
    that this text is a cut of, or that is a cut of this text?" without a pass over all of them.

    Two related texts of at least KEY_LEN characters share their first KEY_LEN, so items are
    bucketed by that key (a shorter text is its own key) and a query compares only within its
    bucket. Shorter related texts are keys that are prefixes of the query (one lookup per length
    that short keys have) or, for a short query, keys that start with it (a range of the sorted
    keys). Only the first item of a bucket is ever the answer there: all of it is related.
    """

    def __init__(self) -> None:
        self._texts: list[str] = []
        self._buckets: dict[str, list[int]] = {}  # key -> item numbers, ascending
        self._keys: list[str] = []  # the buckets' keys, sorted
        self._short_lens: dict[int, int] = {}  # length -> how many keys shorter than KEY_LEN have it

    def add(self, norm: str) -> int:
        self._texts.append(norm)
        self._file(len(self._texts) - 1, norm[:KEY_LEN])
        return len(self._texts) - 1

    def replace(self, item: int, norm: str) -> None:
        """Item ``item`` now reads ``norm`` (its article took a longer cut)."""
        old_key, new_key = self._texts[item][:KEY_LEN], norm[:KEY_LEN]
        self._texts[item] = norm
        if new_key != old_key:
            self._unfile(item, old_key)
            self._file(item, new_key)

    def first_related(self, norm: str) -> int | None:
        """The lowest-numbered item that is a prefix of ``norm`` or has ``norm`` as a prefix."""
        key = norm[:KEY_LEN]
        found = [self._first_in_bucket(key, norm)]
        found += [self._buckets[key[:n]][0] for n in self._short_lens if n < len(key) and key[:n] in self._buckets]
        if len(key) < KEY_LEN:
            found += [self._buckets[k][0] for k in self._keys_extending(key)]
        return min((i for i in found if i is not None), default=None)

    def _first_in_bucket(self, key: str, norm: str) -> int | None:
        for item in self._buckets.get(key, ()):
            text = self._texts[item]
            if text.startswith(norm) or norm.startswith(text):
                return item
        return None

    def _keys_extending(self, key: str) -> list[str]:
        """The keys longer than ``key`` that start with it: every item under them extends it."""
        start = end = bisect_right(self._keys, key)
        while end < len(self._keys) and self._keys[end].startswith(key):
            end += 1
        return self._keys[start:end]

    def _file(self, item: int, key: str) -> None:
        bucket = self._buckets.get(key)
        if bucket is None:
            self._buckets[key] = [item]
            insort(self._keys, key)
            if len(key) < KEY_LEN:
                self._short_lens[len(key)] = self._short_lens.get(len(key), 0) + 1
        else:
            insort(bucket, item)

    def _unfile(self, item: int, key: str) -> None:
        bucket = self._buckets[key]
        bucket.remove(item)
        if not bucket:
            del self._buckets[key]
            del self._keys[bisect_left(self._keys, key)]
            if len(key) < KEY_LEN:
                self._short_lens[len(key)] -= 1
                if not self._short_lens[len(key)]:
                    del self._short_lens[len(key)]


@dataclass
class Excerpt:
    text: str
    occurrences: list[tuple[str, int]] = field(default_factory=list)
    date: str | None = None
    category: str | None = None
    normalized: str = field(init=False, repr=False, compare=False)  # normalize(text), kept in step

    def __post_init__(self) -> None:
        self.normalized = normalize(self.text)

    def absorb(self, entry: FeedEntry, normalized: str | None = None) -> bool:
        """Add one sighting (``normalized``: its text normalized, when known); True if the text grew."""
        norm = normalize(entry.text) if normalized is None else normalized
        grew = len(norm) > len(self.normalized)
        if grew:
            self.text, self.normalized = entry.text, norm  # keep the longest cut
        self.occurrences.append((entry.file, entry.line))
        self.date = self.date or entry.date
        self.category = self.category or entry.category
        return grew


def merge_entries(entries: list[FeedEntry]) -> list[Excerpt]:
    """Distinct excerpts in order of first appearance, each with every place it was seen.

    An entry joins the first excerpt (in order of appearance) it is a cut of or extends.
    """
    merged: list[Excerpt] = []
    index = PrefixIndex()
    for entry in entries:
        norm = normalize(entry.text)
        at = index.first_related(norm)
        if at is None:
            at = index.add(norm)
            merged.append(Excerpt(entry.text))
        if merged[at].absorb(entry, norm):
            index.replace(at, norm)
    for ex in merged:
        ex.occurrences.sort()
    return merged
