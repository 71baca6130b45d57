"""Feed text is untrusted data: render it as MyST that can only ever display as text and math.

Every ASCII punctuation character outside math gets a backslash (CommonMark lets any of them be
escaped), so nothing in a feed can open HTML, a role or directive, a code fence, a link, a list,
a substitution or a comment. Only three things are given meaning:

* ``\\( \\)`` and ``\\[ \\]`` become ``$ $`` and ``$$ $$`` math, unless the formula could break out
  of math mode or carries a macro that reaches outside the formula (links, styles, definitions);
  such a formula is shown literally instead;
* ``[公式]``, ``[Math]``, ``[代码]`` (content the feed lost) become visible placeholders, and so
  does a formula the excerpt cut off before its closing ``\\)`` / ``\\]`` (raw TeX is no use to a reader);
* the trailing ``...`` becomes a visible "excerpt" mark.
"""
from __future__ import annotations

import re
import string

from ingest.feed import strip_cut_mark

_ESCAPED = str.maketrans({c: "\\" + c for c in string.punctuation})
_SEGMENT_RE = re.compile(
    r"\\\((?P<inline>.+?)\\\)"
    r"|\\\[(?P<display>.+?)\\\]"
    r"|\[(?P<lost>公式|Math|代码)\]"
)
# MathJax macros that can link, style, load, or redefine: not allowed from a feed.
_UNSAFE_MATH_RE = re.compile(
    r"\\(?:href|url|class|cssId|style|html|data|require|unicode|def|gdef|edef|xdef|let|"
    r"newcommand|renewcommand|newenvironment|input|include|mmlToken|texttip|toggle)(?![A-Za-z])"
)
PLACEHOLDER_LABEL = {"公式": "公式缺失 · formula lost", "Math": "公式缺失 · formula lost", "代码": "代码缺失 · code lost"}
CUT_FORMULA_LABEL = "公式被截断 · formula cut off"
_UNCLOSED_MATH_RE = re.compile(r"\\[(\[]")


def escape_text(text: str) -> str:
    """Plain text → MyST inline text that renders exactly as the input (no markup at all)."""
    text = re.sub(r"\s+", " ", text)  # one line: no indentation that could open a code block
    return text.translate(_ESCAPED)


def _math_is_safe(tex: str) -> bool:
    return bool(tex.strip()) and "$" not in tex and "\n" not in tex and not _UNSAFE_MATH_RE.search(tex)


def feed_text_to_myst(text: str) -> str:
    """One excerpt → one MyST paragraph with math, placeholders and the excerpt mark."""
    body, was_cut = strip_cut_mark(" ".join(text.split()))
    out: list[str] = []
    pos = 0
    for m in _SEGMENT_RE.finditer(body):
        out.append(escape_text(body[pos:m.start()]))
        if m.group("lost"):
            label = escape_text(PLACEHOLDER_LABEL[m.group("lost")])
            out.append(f"[\\[{label}\\]]{{.kb-placeholder}}")
        else:
            tex = m.group("inline") or m.group("display")
            if _math_is_safe(tex):
                out.append(f"${tex}$" if m.group("inline") else f"$${tex}$$")
            else:
                out.append(escape_text(m.group(0)))
        pos = m.end()
    tail = body[pos:]
    unclosed = _UNCLOSED_MATH_RE.search(tail)  # every closed formula was consumed above
    if unclosed:
        out.append(escape_text(tail[:unclosed.start()]))
        out.append(f"[\\[{escape_text(CUT_FORMULA_LABEL)}\\]]{{.kb-placeholder}}")
    else:
        out.append(escape_text(tail))
    rendered = "".join(out)
    if was_cut:
        rendered += " [……（节选 · excerpt）]{.kb-excerpt-cut}"
    return rendered
