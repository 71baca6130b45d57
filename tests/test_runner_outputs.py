"""Capping what a cell prints: head and tail kept per stream, a note of what was cut, small output untouched."""
import nbformat

from runner.outputs import cap_streams, cut_note


def notebook(*outputs):
    cell = nbformat.v4.new_code_cell("print()")
    cell.outputs = [nbformat.v4.new_output("stream", name=name, text=text) for name, text in outputs]
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("prose"), cell])


def test_small_output_is_left_exactly_as_it_was():
    nb = notebook(("stdout", "a" * 50), ("stderr", "b" * 50), ("stdout", "c" * 50))
    before = nbformat.writes(nb)
    assert cap_streams(nb, limit=100) == 0
    assert nbformat.writes(nb) == before


def test_a_long_stream_keeps_its_head_and_tail_around_a_note():
    nb = notebook(("stdout", "H" * 30 + "m" * 1000), ("stderr", "warning\n"), ("stdout", "m" * 1000 + "T" * 30))
    removed = cap_streams(nb, limit=100)
    assert removed == 2060 - 100
    outputs = nb.cells[1].outputs
    assert [o.name for o in outputs] == ["stdout", "stderr"]  # one stdout output, stderr untouched
    assert outputs[0].text == "H" * 30 + "m" * 20 + cut_note(removed) + "m" * 20 + "T" * 30
    assert outputs[1].text == "warning\n"
