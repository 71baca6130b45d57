"""Feed text becomes MyST that can only display as text and math."""
import re

from ingest.escape import escape_text, feed_text_to_myst
from ingest.merge import normalize


def unescaped(myst: str) -> list[str]:
    """ASCII punctuation that is NOT preceded by a backslash, outside math and our own spans."""
    without_math = re.sub(r"\$\$.+?\$\$|\$[^$]+\$", "", myst)
    without_spans = re.sub(r"\]\{\.kb-[a-z-]+\}", "", without_math)
    return re.findall(r"(?<!\\)[<>`{}|*_#&]", without_spans)


def test_every_markup_character_is_escaped():
    hostile = "<script>alert(1)</script> ```{code-cell} {eval-rst} {{ var }} |sub| **b** _i_ # h & &amp;"
    out = escape_text(hostile)
    assert unescaped(out) == []
    assert "\\<script\\>" in out and "\\`\\`\\`\\{code\\-cell\\}" in out


def test_line_start_constructs_cannot_form():
    for text in ("1. list item", "- bullet", "# heading", "% comment", "::: fence", "    indented code", "> quote"):
        out = feed_text_to_myst(text)
        assert not re.match(r"^(\d+\.|-|#|%|:::|\s|>)\s", out), out


def test_tex_delimiters_become_myst_math():
    out = feed_text_to_myst(r"互信息 \(X\) 定义为 \[I(X;Y)=\sum_{x} p(x)\] 结束")
    assert "$X$" in out and "$$I(X;Y)=\\sum_{x} p(x)$$" in out


def test_math_that_could_escape_or_link_is_shown_literally():
    out = feed_text_to_myst(r"\(\href{javascript:alert(1)}{x}\) and \(a$b\)")
    assert "$" not in out.replace("\\$", "")
    assert "\\\\href" in out


def test_lost_content_shows_as_visible_placeholders():
    out = feed_text_to_myst("训练集 [公式] 其中 [Math] 和 [代码]")
    assert out.count("{.kb-placeholder}") == 3
    assert "公式缺失" in out and "代码缺失" in out


def test_cut_off_excerpt_is_marked():
    assert feed_text_to_myst("一段被截断的文字...").endswith("{.kb-excerpt-cut}")
    assert "kb-excerpt-cut" not in feed_text_to_myst("一段完整的文字。")


def test_formula_cut_off_by_the_excerpt_becomes_a_placeholder():
    out = feed_text_to_myst(r"概率 \(p\) 可以写成 \[\begin{aligned} p\left(w_{1}\right)&=p...")
    assert "$p$" in out and "公式被截断" in out
    assert "begin" not in out and "\\\\[" not in out


def test_the_excerpt_mark_drops_what_dedupe_ignores():
    for text in ("一段被截断的文字…...", "一段被截断的文字 ...", "一段被截断的文字…"):
        core = normalize(text)
        assert core == "一段被截断的文字"
        assert feed_text_to_myst(text) == escape_text(core) + " [……（节选 · excerpt）]{.kb-excerpt-cut}"
