from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from framedex.config import Settings
from framedex.models.base import TextReader
from framedex.models.ocr import RapidTextReader, likely_has_text

pytestmark = pytest.mark.slow


@pytest.fixture(scope="package")
def reader(models_settings: Settings) -> RapidTextReader:
    return RapidTextReader.from_settings(models_settings)


def _frame() -> Any:
    import cv2

    img = np.full((720, 1280, 3), (90, 60, 40), np.uint8)  # RGB
    cv2.rectangle(img, (0, 600), (1280, 700), (30, 30, 200), -1)
    cv2.putText(img, "BREAKING NEWS: City council approves budget", (30, 665),
                cv2.FONT_HERSHEY_SIMPLEX, 1.4, (255, 255, 255), 3, cv2.LINE_AA)  # fmt: skip
    cv2.putText(img, "Quarterly Revenue 2024", (100, 200), cv2.FONT_HERSHEY_DUPLEX, 2.0, (255, 255, 0), 3, cv2.LINE_AA)
    return img


def test_reads_rendered_text(reader: RapidTextReader) -> None:
    assert isinstance(reader, TextReader)
    frame = _frame()
    assert reader.has_text(frame)
    boxes = reader.read(frame)
    texts = [b.text for b in boxes]
    assert texts == ["Quarterly Revenue 2024", "BREAKING NEWS: City council approves budget"], texts
    assert all(b.score > 0.9 for b in boxes)
    x1, y1, x2, y2 = boxes[1].box
    assert 0 <= x1 < x2 <= 1 and 0.8 < y1 < y2 <= 1  # the lower third


def test_precheck_skips_empty_frames(reader: RapidTextReader) -> None:
    blank = np.zeros((720, 1280, 3), np.uint8)
    ramp = np.dstack([np.tile(np.linspace(0, 255, 1280, dtype=np.uint8), (720, 1))] * 3)
    assert not likely_has_text(blank) and not likely_has_text(ramp)
    assert reader.read(blank) == []
