"""Reading feeds: the sample feeds, metadata lines, line endings, encodings, bad files."""

import pytest

from ingest.feed import FeedError, read_feed
from ingest.merge import merge_entries
from tests.conftest import SAMPLE_FEEDS, write_feed

LONG = "这是一段足够长的博客摘录文本，用来在测试中代表一条真实的条目，内容并不重要 "


def sample_excerpts():
    entries = [e for f in sorted(SAMPLE_FEEDS.glob("*.txt")) for e in read_feed(f)]
    return merge_entries(entries)


def test_sample_feeds_hold_39_distinct_articles():
    assert len(sample_excerpts()) == 39


def test_ddp_entry_carries_the_category_and_date_lines_before_it():
    ddp = next(ex for ex in sample_excerpts() if ex.text.startswith("Quick Start 一个最简单的DDP"))
    assert (ddp.category, ddp.date) == ("Python", "2026-01-11")
    assert ddp.occurrences == [("000_2a5cacdba8bfe7b5.txt", 13), ("004_32b30477382017ad.txt", 9)]


def test_metadata_applies_only_to_the_next_entry():
    after_ddp = next(ex for ex in sample_excerpts() if ex.text.startswith("@tf_export"))
    assert after_ddp.date is None and after_ddp.category is None


def test_provenance_lists_every_feed_and_line():
    roi = next(ex for ex in sample_excerpts() if ex.text.startswith("动机 Faster RCNN"))
    assert roi.occurrences == [("000_2a5cacdba8bfe7b5.txt", 6), ("003_46164eeee5089ba9.txt", 6),
                               ("004_32b30477382017ad.txt", 4)]


def test_pagination_line_is_not_an_entry():
    entries = read_feed(SAMPLE_FEEDS / "002_f6b5500c27162ab4.txt")
    assert all(e.text != "1 2" for e in entries) and len(entries) == 12


def test_crlf_and_missing_final_newline(tmp_path):
    f = write_feed(tmp_path / "crlf.txt", "Python", "2026-02-03", LONG + "one...", LONG + "two...", "1 2", newline="\r\n")
    entries = read_feed(f)
    assert [e.text for e in entries] == [LONG + "one...", LONG + "two..."]
    assert entries[0].line == 6 and entries[0].date == "2026-02-03" and entries[0].category == "Python"
    assert not any("\r" in e.text for e in entries)


def test_utf8_bom_is_accepted(tmp_path):
    f = tmp_path / "bom.txt"
    f.write_bytes(b"\xef\xbb\xbf" + ("INCOMING TRANSMISSION\n\nLATEST UPDATES\n" + LONG + "...").encode())
    assert read_feed(f)[0].text == (LONG + "...").strip()


def test_gbk_encoded_feed_is_decoded(tmp_path):
    f = write_feed(tmp_path / "gbk.txt", "感受野的计算方法，" + LONG + "...", encoding="gbk")
    assert read_feed(f)[0].text.startswith("感受野的计算方法")


@pytest.mark.parametrize("name, content, problem", [
    ("empty.txt", b"", "empty"),
    ("blank.txt", b"\n\n  \n", "empty"),
    ("binary.bin", bytes(range(256)) * 4, "binary"),
    ("noheader.txt", ("随便一行文字，" + LONG + "...\n").encode(), "header"),
    ("headeronly.txt", b"INCOMING TRANSMISSION\n\nLATEST UPDATES\n", "no entries"),
    ("undecodable.txt", b"INCOMING TRANSMISSION\n\nLATEST UPDATES\n" + bytes([0x81, 0x30, 0xff, 0x01, 0x02, 0x03, 0x04, 0x05]) * 50, "decode"),
])
def test_bad_feed_gets_one_clear_error_naming_the_file(tmp_path, name, content, problem):
    f = tmp_path / name
    f.write_bytes(content)
    with pytest.raises(FeedError) as info:
        read_feed(f)
    message = str(info.value)
    assert name in message and problem in message and "\n" not in message
