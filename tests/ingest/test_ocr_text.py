"""OCR post-processing without models: blocks reassembled from line boxes, lines merged across reads, and the
phrase features of on-screen text search."""

from __future__ import annotations

from framedex.ingest.modalities import _Runs, same_text
from framedex.models.base import TextBox
from framedex.models.ocr import assemble_blocks
from framedex.services.search.text import fuzzy_coverage, phrase_match

PARAGRAPH = [
    TextBox("There was plenty to occupy his time,", 1.0, (0.583, 0.064, 0.84, 0.096)),
    TextBox("even if he did nothing but sit and", 1.0, (0.584, 0.096, 0.837, 0.124)),
    TextBox("read. When he tired of official re-", 1.0, (0.584, 0.126, 0.837, 0.154)),
    TextBox("ports and memoranda", 1.0, (0.584, 0.156, 0.75, 0.182)),
    TextBox("Previous", 1.0, (0.181, 0.644, 0.241, 0.672)),
    TextBox("Next", 1.0, (0.192, 0.71, 0.23, 0.743)),
    TextBox("Resolution:", 1.0, (0.192, 0.809, 0.272, 0.835)),
    TextBox("1280 x 1024 (5:4)", 1.0, (0.285, 0.809, 0.413, 0.835)),
]


def test_blocks_join_paragraph_lines_and_rows_but_not_distant_labels() -> None:
    blocks = [text for text, _ in assemble_blocks(PARAGRAPH, aspect=16 / 9)]
    assert "There was plenty to occupy his time, even if he did nothing but sit and read. When he tired of " \
           "official reports and memoranda" in blocks
    assert "Resolution: 1280 x 1024 (5:4)" in blocks
    assert not any("Previous" in b for b in blocks)


def test_runs_merge_the_same_line_across_reads() -> None:
    runs = _Runs()
    runs.update({"user@demo:~$ ec": 0.9, "Drag to change": 0.9}, 0.0, 1.0)
    runs.update({'user@demo:~$ echo "Hello"': 0.95}, 1.0, 2.0)  # typed on; the tooltip is gone
    runs.update({'user@demo:~$ echo "HeIlo"': 0.9}, 2.0, 5.0)  # an OCR error
    runs.update({}, 5.0, 6.0)
    runs.update({}, 6.0, 7.0)
    out = runs.finish()
    assert ('user@demo:~$ echo "Hello"', 0.0, 5.0, 0.95) in out
    assert ("Drag to change", 0.0, 1.0, 0.9) in out
    assert same_text("Mirror displays", "Mirror dispIays") and not same_text("Apply", "Displays")


def test_a_line_with_a_word_replaced_is_another_line() -> None:
    """Slides of one template (the real German lecture) repeat a line with one word changed: each line keeps its
    own slide's time. Misread letters (real OCR reads of the same slides) still join the line."""
    assert not same_text("Beobachtungen zu einem ägyptischen Text.", "Beobachtungen zu einem kyrillischen Text.")
    assert not same_text("Finding pp-partitions of haplotype matrices.", "Finding pp-partitions of genotype matrices.")
    assert same_text("natüdicher Sprachan", "natürlicher Sprachen")
    assert same_text("Pragrammieraprachen", "Programmiersprachen")
    runs = _Runs()
    runs.update({"Beobachtungen zu einem ägyptischen Text.": 0.9}, 8.0, 10.0)
    runs.update({"Beobachtungen zu einem kyrillischen Text.": 0.9}, 10.0, 12.0)
    runs.update({}, 12.0, 14.0)
    runs.update({}, 14.0, 16.0)
    assert [(text.split()[3], start, end) for text, start, end, _ in runs.finish()] == [
        ("ägyptischen", 8.0, 10.0), ("kyrillischen", 10.0, 12.0)]


def test_a_quote_scores_as_a_phrase_despite_ocr_spacing() -> None:
    block = "There was plenty to occupy his time, even if he did nothing but sit and read. When he tired of " \
            "official reports and memoranda and minutes he would plug his foolscap-sized newspad into the"
    assert phrase_match("he did nothing but sit", block) == 1.0
    assert phrase_match("foolscap sized newspad", block) == 1.0  # punctuation and spacing do not matter
    assert fuzzy_coverage("occupy his time", "There was plenty to occupyhis time,") >= 0.99  # glued by OCR
    assert phrase_match("plenty to occupy", "There was plentv to occupy his time") >= 0.9  # misread letter
    # the words of a quote scattered over a long paragraph are not the phrase
    assert fuzzy_coverage("plenty official newspad", block) < 0.8
    assert phrase_match("cat", "concatenate") == 0.0


def test_a_small_change_is_read_alone_and_the_rest_is_kept() -> None:
    import numpy as np

    from framedex.ingest.modalities import _read_region

    class Reader:
        def __init__(self) -> None:
            self.shapes: list[tuple[int, ...]] = []

        def read(self, image: np.ndarray) -> list[TextBox]:
            self.shapes.append(image.shape)
            return [TextBox("Drag to change primary display.", 0.99, (0.1, 0.2, 0.9, 0.8))]

    previous = [TextBox("Activities", 1.0, (0.0, 0.0, 0.1, 0.03)), TextBox("Apply", 1.0, (0.7, 0.7, 0.8, 0.75))]
    reader = Reader()
    boxes = _read_region(reader, np.zeros((360, 640, 3), dtype=np.uint8), (0.4, 0.4, 0.6, 0.45), previous)
    assert [b.text for b in boxes] == ["Activities", "Drag to change primary display.", "Apply"]
    assert reader.shapes[0][0] < 80 and reader.shapes[0][1] < 240  # only the changed part (and a margin) was read
    x1, y1, x2, y2 = boxes[1].box
    assert 0.34 <= x1 < x2 <= 0.66 and 0.34 <= y1 < y2 <= 0.51
