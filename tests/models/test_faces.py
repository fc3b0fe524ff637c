from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from framedex.config import Settings
from framedex.models.base import FaceEncoder
from framedex.models.faces import YunetSfaceEncoder

pytestmark = pytest.mark.slow


@pytest.fixture(scope="package")
def faces(models_settings: Settings) -> YunetSfaceEncoder:
    return YunetSfaceEncoder.from_settings(models_settings)


def test_same_person_matches(faces: YunetSfaceEncoder, images: dict[str, Any]) -> None:
    assert isinstance(faces, FaceEncoder)
    (a,) = faces.faces(images["jesper"])  # an extreme close-up: found by the padded retry
    (b,) = faces.faces(images["jesper_2"])
    for f in (a, b):
        assert f.embedding.shape == (128,) and abs(float(np.linalg.norm(f.embedding)) - 1) < 1e-4
        assert 0 <= f.box[0] < f.box[2] <= 1 and 0 <= f.box[1] < f.box[3] <= 1
        assert len(f.landmarks) == 5
    assert float(a.embedding @ b.embedding) >= faces.match_threshold
    others = [f for name in ("pool", "basketball1", "two_samoyeds_grass_IMG_20200608_111614_1600px")
              for f in faces.faces(images[name])]  # fmt: skip
    assert others, "expected some faces in the other photos"
    for f in others:
        assert float(a.embedding @ f.embedding) < faces.match_threshold
        assert float(b.embedding @ f.embedding) < faces.match_threshold


def test_no_faces_where_there_are_none(faces: YunetSfaceEncoder, images: dict[str, Any]) -> None:
    for name in ("fruits", "butterfly", "sunset", "baboon", "donna", "spiff"):
        assert faces.faces(images[name]) == [], name
