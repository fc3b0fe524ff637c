"""Faces: YuNet detection + SFace 128-d identity embeddings (OpenCV Zoo int8 models, cv2 4.x)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from framedex.config import Settings
from framedex.models import packs
from framedex.models.base import Face, ImageArray
from framedex.models.onnx import l2_normalize

DETECTOR = "face_detection_yunet_2023mar_int8bq.onnx"
RECOGNIZER = "face_recognition_sface_2021dec_int8bq.onnx"


class YunetSfaceEncoder:
    """`FaceEncoder`: faces of at least ``min_face`` px, each with an L2-normalised 128-d vector.
    Two faces are the same person when the cosine of their vectors is >= ``match_threshold``."""

    dim = 128
    match_threshold = 0.40

    def __init__(
        self,
        model_dir: str | Path,
        *,
        threads: int = 2,
        score_threshold: float = 0.7,
        min_face: int = 40,
        max_side: int = 1280,
        name: str = "yunet-sface",
    ) -> None:
        import cv2

        model_dir = Path(model_dir)
        self.name = name
        self.min_face = min_face
        self.max_side = max_side
        cv2.setNumThreads(threads)
        self._det: Any = cv2.FaceDetectorYN.create(
            str(model_dir / DETECTOR), "", (320, 320), score_threshold, 0.3, 5000
        )
        self._rec: Any = cv2.FaceRecognizerSF.create(str(model_dir / RECOGNIZER), "")
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> YunetSfaceEncoder:
        return cls(packs.ensure(settings, "yunet-sface"), threads=settings.model_threads)

    def faces(self, image: ImageArray) -> list[Face]:
        import cv2

        rgb = np.asarray(image, dtype=np.uint8)
        if rgb.ndim == 2:
            rgb = np.repeat(rgb[..., None], 3, axis=2)
        bgr = np.ascontiguousarray(cv2.cvtColor(rgb[..., :3], cv2.COLOR_RGB2BGR))
        h, w = bgr.shape[:2]
        out: list[Face] = []
        base = min(1.0, self.max_side / max(h, w))
        # YuNet is trained on small faces: a close-up that fills the frame is often missed at full
        # size, so when nothing is found try again on a padded, half-size canvas.
        for pad_frac, scale in ((0.0, base), (0.2, base * 0.5)):
            pad = round(max(h, w) * pad_frac)
            canvas = cv2.copyMakeBorder(bgr, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(0, 0, 0)) if pad else bgr
            ch, cw = canvas.shape[:2]
            small = canvas
            if scale < 1.0:
                small = cv2.resize(canvas, (round(cw * scale), round(ch * scale)), interpolation=cv2.INTER_AREA)
            with self._lock:
                self._det.setInputSize((small.shape[1], small.shape[0]))
                _, found = self._det.detect(small)
                for row in [] if found is None else found:
                    full = row.copy()
                    full[:14] /= scale  # box and landmarks in canvas pixels
                    if min(float(full[2]), float(full[3])) < self.min_face:
                        continue
                    crop = self._rec.alignCrop(canvas, full)
                    vec = np.asarray(self._rec.feature(crop), dtype=np.float32).reshape(-1)
                    x, y, fw, fh = float(full[0]) - pad, float(full[1]) - pad, float(full[2]), float(full[3])
                    box = (
                        float(np.clip(x / w, 0, 1)),
                        float(np.clip(y / h, 0, 1)),
                        float(np.clip((x + fw) / w, 0, 1)),
                        float(np.clip((y + fh) / h, 0, 1)),
                    )
                    marks = [((float(full[4 + 2 * i]) - pad) / w, (float(full[5 + 2 * i]) - pad) / h) for i in range(5)]
                    out.append(Face(box=box, score=float(full[14]), embedding=l2_normalize(vec), landmarks=marks))
            if out:
                break
        out.sort(key=lambda f: -(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
        return out

    def close(self) -> None:
        self._det = None
        self._rec = None
