"""Text in frames: RapidOCR (PP-OCRv6 small det + rec, ONNX) with a cheap text pre-check."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from framedex.config import Settings
from framedex.models import packs
from framedex.models.base import ImageArray, TextBox


def likely_has_text(image: ImageArray, *, max_side: int = 640) -> bool:
    """A cheap (a few ms) test for text-like regions: horizontal runs of strong vertical edges.

    Tuned to err on the side of True: a False skips OCR of the frame altogether.
    """
    import cv2

    img = np.asarray(image)
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img.astype(np.uint8)
    h, w = gray.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        gray = cv2.resize(gray, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    h, w = gray.shape[:2]
    grad = cv2.morphologyEx(gray, cv2.MORPH_GRADIENT, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
    _, bw = cv2.threshold(grad, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    if float(grad.max()) < 40:  # flat image: no strong edges at all
        return False
    joined = cv2.morphologyEx(bw, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (9, 1)))
    contours, _ = cv2.findContours(joined, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    for c in contours:
        x, y, cw, ch = cv2.boundingRect(c)
        if ch < 5 or ch > h * 0.3 or cw < 1.5 * ch or cw < 12:
            continue
        region = bw[y : y + ch, x : x + cw]
        fill = float(np.count_nonzero(region)) / (cw * ch)
        if 0.2 <= fill <= 0.9:
            # text strokes alternate: many edge transitions along the row
            transitions = np.count_nonzero(np.diff(region[ch // 2] > 0))
            if transitions >= 4:
                return True
    return False


class RapidTextReader:
    """`TextReader` backed by RapidOCR with the model files of the ``ppocr-v6-small`` pack."""

    def __init__(
        self,
        model_dir: str | Path,
        *,
        threads: int = 2,
        min_score: float = 0.5,
        max_side: int = 1280,
        name: str = "ppocr-v6-small",
    ) -> None:
        from rapidocr import RapidOCR

        model_dir = Path(model_dir)
        self.name = name
        self.min_score = min_score
        self.max_side = max_side
        logging.getLogger("RapidOCR").setLevel(logging.WARNING)
        self._engine: Any = RapidOCR(
            params={
                "Global.log_level": "warning",
                "Global.text_score": min_score,
                "Global.use_cls": True,
                "Det.model_path": str(model_dir / "PP-OCRv6_det_small.onnx"),
                "Rec.model_path": str(model_dir / "PP-OCRv6_rec_small.onnx"),
                "Cls.model_path": str(model_dir / "ch_ppocr_mobile_v2.0_cls_mobile.onnx"),
                "EngineConfig.onnxruntime.intra_op_num_threads": threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            }
        )
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> RapidTextReader:
        return cls(packs.ensure(settings, "ppocr-v6-small"), threads=settings.model_threads)

    def has_text(self, image: ImageArray) -> bool:
        return likely_has_text(image)

    def read(self, image: ImageArray) -> list[TextBox]:
        """Text lines in reading order (top to bottom, left to right), boxes relative to the image."""
        import cv2

        rgb: Any = np.asarray(image, dtype=np.uint8)
        h, w = rgb.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        if scale < 1.0:
            rgb = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        with self._lock:
            result = self._engine(bgr)
        if result is None or result.txts is None or result.boxes is None:
            return []
        sh, sw = bgr.shape[:2]
        out = []
        for text, score, box in zip(result.txts, result.scores, result.boxes, strict=False):
            text = str(text).strip()
            if not text or float(score) < self.min_score:
                continue
            pts = np.asarray(box, dtype=np.float32).reshape(-1, 2)
            x1, y1 = pts.min(axis=0)
            x2, y2 = pts.max(axis=0)
            rel = (
                float(np.clip(x1 / sw, 0, 1)),
                float(np.clip(y1 / sh, 0, 1)),
                float(np.clip(x2 / sw, 0, 1)),
                float(np.clip(y2 / sh, 0, 1)),
            )
            out.append(TextBox(text=text, score=float(score), box=rel))
        out.sort(key=lambda b: (round(b.box[1] * 20), b.box[0]))
        return out

    def close(self) -> None:
        self._engine = None


def assemble_blocks(boxes: list[TextBox], aspect: float = 16 / 9) -> list[tuple[str, list[int]]]:
    """Blocks of text reassembled from the line boxes of one frame, in reading order: boxes on the same row
    close to each other (a label and its value) and rows directly below each other with a similar height and
    a shared left edge or centre (a paragraph). ``(text, box indices)`` of every block of two or more boxes;
    a word hyphenated at a line end is joined again ("postage-" + "stamp" → "postagestamp").

    `aspect` is the frame's width / height (box coordinates are relative to each side)."""

    def height(i: int) -> float:
        return max(1e-6, boxes[i].box[3] - boxes[i].box[1])

    order = sorted(range(len(boxes)), key=lambda i: (boxes[i].box[1], boxes[i].box[0]))
    rows: list[list[int]] = []  # boxes on one row, left to right
    for i in order:
        x1, y1, _, y2 = boxes[i].box
        for row in rows:
            j = row[-1]
            bx1, by1, bx2, by2 = boxes[j].box
            overlap = min(y2, by2) - max(y1, by1)
            h = max(height(i), height(j))
            if (overlap >= 0.5 * min(height(i), height(j)) and 0.6 <= height(i) / height(j) <= 1.6
                    and -0.2 * h <= (x1 - bx2) * aspect <= 1.5 * h):
                row.append(i)
                break
        else:
            rows.append([i])
    rows.sort(key=lambda r: (min(boxes[i].box[1] for i in r), boxes[r[0]].box[0]))

    def extent(row: list[int]) -> tuple[float, float, float, float]:
        return (min(boxes[i].box[0] for i in row), min(boxes[i].box[1] for i in row),
                max(boxes[i].box[2] for i in row), max(boxes[i].box[3] for i in row))

    blocks: list[list[list[int]]] = []
    for row in rows:
        x1, y1, x2, y2 = extent(row)
        h = y2 - y1
        best: tuple[float, int] | None = None
        for k, block in enumerate(blocks):
            bx1, _, bx2, by2 = extent(block[-1])
            bh = by2 - extent(block[-1])[1]
            gap = y1 - by2
            if not 0.7 <= h / max(bh, 1e-6) <= 1.4 or not -0.4 * min(h, bh) <= gap <= 0.9 * max(h, bh):
                continue
            if min(x2, bx2) <= max(x1, bx1):  # no horizontal overlap
                continue
            aligned = abs(x1 - bx1) * aspect <= 1.2 * max(h, bh)
            centred = abs((x1 + x2) - (bx1 + bx2)) / 2 * aspect <= 1.2 * max(h, bh)
            if (aligned or centred) and (best is None or gap < best[0]):
                best = (gap, k)
        if best is None:
            blocks.append([row])
        else:
            blocks[best[1]].append(row)
    out: list[tuple[str, list[int]]] = []
    for block in blocks:
        members = [i for row in block for i in row]
        if len(members) < 2:
            continue
        text = ""
        for row in block:
            line = " ".join(boxes[i].text.strip() for i in row)
            if text.endswith("-") and line[:1].islower():
                text = text[:-1] + line
            else:
                text = f"{text} {line}" if text else line
        out.append((text, members))
    return out
