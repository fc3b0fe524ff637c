"""The wire form of vectors and segmentation rules (no server, no models)."""

from __future__ import annotations

import numpy as np
import pytest

from framedex.domain_errors import InvalidParameter
from framedex.services.embed.extract import WIRE_DIM, Span, dynamic_spans, fixed_spans, parse_segmentation, to_wire


def test_zero_padding_keeps_cosine() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=384).astype(np.float32), rng.normal(size=384).astype(np.float32)
    wa, wb = np.asarray(to_wire(a)), np.asarray(to_wire(b))
    assert wa.shape == (WIRE_DIM,) and not wa[384:].any()
    expected = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    assert float(wa @ wb) == pytest.approx(expected, abs=1e-5)
    assert len(to_wire(a, 256)) == 256  # Matryoshka prefix for an explicit smaller dimension
    assert len(to_wire(np.ones(768, dtype=np.float32))) == 768  # a wider space is never cut


def test_fixed_spans_end_with_a_shorter_segment() -> None:
    assert fixed_spans(0.0, 12.0, 5.0) == [Span(0.0, 5.0), Span(5.0, 10.0), Span(10.0, 12.0)]
    assert fixed_spans(2.0, 4.0, 6.0) == [Span(2.0, 4.0)]


def test_dynamic_spans_follow_cuts_within_bounds() -> None:
    spans = dynamic_spans(0.0, 20.0, [3.0, 3.5, 9.0], 4.0)
    assert spans[0].start == 0.0 and spans[-1].end == 20.0
    assert all(s.end - s.start >= 4.0 - 1e-6 and s.end - s.start <= 10.0 + 1e-6 for s in spans)


def test_segmentation_shapes() -> None:
    assert parse_segmentation(None, "video", audio=False) == ("dynamic", 4.0)
    assert parse_segmentation(None, "audio", audio=True) == ("fixed", 6.0)
    assert parse_segmentation({"strategy": "fixed", "fixed": {"duration_sec": 5}}, "video", audio=False) == \
        ("fixed", 5.0)
    assert parse_segmentation({"temporal": {"strategy": "dynamic", "dynamic": {"min_duration_sec": 2}}}, "video",
                              audio=False) == ("dynamic", 2.0)
    for bad in ({"strategy": "fixed", "fixed": {"duration_sec": 11}}, {"strategy": "dynamic"}, {"strategy": "x"}):
        with pytest.raises(InvalidParameter):
            parse_segmentation(bad, "video", audio=False)
    with pytest.raises(InvalidParameter):
        parse_segmentation({"strategy": "dynamic", "dynamic": {"min_duration_sec": 3}}, "audio", audio=True)
