"""The pairwise dedupe the indexed one must match: the definition, shared by the tests and the
ingest benchmark."""
from ingest.merge import Excerpt, same_excerpt


def reference_merge(entries):
    """The original pairwise dedupe, kept as the definition the indexed one must match."""
    merged = []
    for e in entries:
        target = next((ex for ex in merged if same_excerpt(ex.text, e.text)), None)
        if target is None:
            target = Excerpt(e.text)
            merged.append(target)
        target.absorb(e)
    for ex in merged:
        ex.occurrences.sort()
    return merged
