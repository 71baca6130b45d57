"""Which characters are Chinese (CJK) ideographs, for every stage that treats them apart.

The ranges are the ideographs of the Basic Multilingual Plane: Extension A, the unified block and
the compatibility ideographs. The supplementary planes (Extension B onwards) are left out on
purpose: the browser's tokenizer (``book/_static/kb-search/core.mjs``) cuts Chinese runs into
bigrams by UTF-16 code units, which would split a character outside the BMP in two. The browser
receives these ranges inside the token pattern (``search.lexical.TOKEN_PATTERN``, shipped in
``tokens.json``), so it has no copy of its own.
"""
from __future__ import annotations

CJK_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))
# What Chinese text holds besides those, for whoever works on text rather than cuts it by code
# units (the model's vocabulary trimming): CJK punctuation, full-width forms, the supplementary
# ideographs.
CJK_TEXT_RANGES = CJK_RANGES + ((0x3000, 0x303F), (0xFF00, 0xFFEF), (0x20000, 0x2FFFF))
# The ranges as the inside of a regular-expression character class (the characters themselves,
# not escapes, so Python's ``re`` and JavaScript's ``RegExp`` read the same text): "[" + CJK_CLASS + "]".
CJK_CLASS = "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in CJK_RANGES)


def is_cjk(ch: str, text_ranges: bool = False) -> bool:
    """True for one CJK ideograph of ``CJK_RANGES`` (or any character of ``CJK_TEXT_RANGES``)."""
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in (CJK_TEXT_RANGES if text_ranges else CJK_RANGES))
