"""What a result shows under its title: the sentence of the matched passage that best meets the
query, and TeX written the way a reader reads it.

``snippet`` has a twin in the browser (``book/_static/kb-search/core.mjs``, ``snippet``); a test
runs both on the same passages and queries. Highlighting the query's terms is the page's job, done
with text nodes, so passage text never becomes markup.
"""
from __future__ import annotations

import re

from search.lexical import tokens

SNIPPET_CHARS = 160
ELLIPSIS = "…"
_SENTENCE_END = re.compile(r"(?<=[。！？；!?;])|(?<=\.)(?=\s)")

# TeX → text, for snippets and for what the model reads: "$1\times1$" is "1×1" to a reader.
_TEX_SYMBOLS = {
    "times": "×", "cdot": "·", "sigma": "σ", "mu": "μ", "alpha": "α", "beta": "β", "gamma": "γ",
    "delta": "δ", "epsilon": "ε", "varepsilon": "ε", "theta": "θ", "lambda": "λ", "pi": "π", "tau": "τ",
    "phi": "φ", "psi": "ψ", "omega": "ω", "eta": "η", "rho": "ρ", "xi": "ξ", "nabla": "∇", "partial": "∂",
    "sum": "Σ", "prod": "Π", "int": "∫", "infty": "∞", "approx": "≈", "neq": "≠", "ne": "≠", "leq": "≤",
    "le": "≤", "geq": "≥", "ge": "≥", "to": "→", "rightarrow": "→", "leftarrow": "←", "in": "∈",
    "log": "log", "exp": "exp", "det": "det", "max": "max", "min": "min", "Sigma": "Σ", "Delta": "Δ",
    "mid": "|", "sim": "~", "pm": "±", "ldots": "…", "cdots": "⋯", "odot": "⊙", "top": "ᵀ",
}
_SUPER = str.maketrans("0123456789+-=()nT", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿᵀ")
_SUB = str.maketrans("0123456789+-=()t", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₜ")
_MATH = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$", re.DOTALL)


def _tex_to_text(tex: str) -> str:
    t = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", r"(\1)/(\2)", tex)
    t = re.sub(r"\\sqrt\{([^{}]*)\}", r"√(\1)", t)
    t = re.sub(r"\\(?:mathbf|mathrm|mathcal|boldsymbol|text|operatorname|hat|bar|tilde|mathbb)\{([^{}]*)\}", r"\1", t)
    t = re.sub(r"\\([A-Za-z]+)", lambda m: _TEX_SYMBOLS.get(m.group(1), m.group(1)), t)

    def sup(m):
        body = m.group(1) or m.group(2)
        return body.translate(_SUPER) if all(c in "0123456789+-=()nT" for c in body) else "^" + body

    def sub(m):
        body = m.group(1) or m.group(2)
        return body.translate(_SUB) if all(c in "0123456789+-=()t" for c in body) else "_" + body

    t = re.sub(r"\^\{([^{}]*)\}|\^(\w)", sup, t)
    t = re.sub(r"_\{([^{}]*)\}|_(\w)", sub, t)
    t = t.replace("{", "").replace("}", "").replace("\\,", " ").replace("\\;", " ").replace("\\!", "")
    return re.sub(r"\s+", " ", t).strip()


def readable_math(text: str) -> str:
    return _MATH.sub(lambda m: _tex_to_text(m.group(1) or m.group(2)), text)


def sentences(text: str) -> list[tuple[int, str]]:
    """(offset, sentence) pairs covering ``text``."""
    out, pos = [], 0
    for piece in _SENTENCE_END.split(text):
        if piece:
            out.append((pos, piece))
            pos += len(piece)
    return out


def snippet(body: str, query: str | None = None, limit: int = SNIPPET_CHARS) -> str:
    """``limit`` characters of ``body`` from the sentence sharing most terms with ``query``."""
    text = re.sub(r"\s+", " ", body).strip()
    start = 0
    wanted = set(tokens(query)) if query else set()
    if wanted:
        best = 0
        for offset, sentence in sentences(text):
            hits = len(wanted & set(tokens(sentence)))
            if hits > best:
                best, start = hits, offset
    while start < len(text) and text[start] == " ":
        start += 1
    head = ELLIPSIS if start > 0 else ""
    rest = text[start:]
    if len(rest) <= limit:
        return head + rest
    return head + rest[: limit - 1].rstrip() + ELLIPSIS
