"""Shot cuts found by the decode pass (`ingest/scan.py`) on real videos: clips, and the sounds and labels searched
per clip, follow them."""

from __future__ import annotations

from pathlib import Path

from framedex.ingest.scan import scan_video
from tests.conftest import SHARED_MEDIA

REAL_VIDEO = SHARED_MEDIA / "real2" / "video"


def _cuts(path: Path) -> list[float]:
    assert path.is_file(), f"shared test media missing: {path}"
    return scan_video(path, lambda frame: None).cuts


def test_every_clip_art_card_is_a_cut() -> None:
    """21 drawings on the same white card, one every 4 s. A small drawing replacing another (a trumpet by a steam
    engine) changes little of the frame; it is cut because nothing moved before it."""
    cuts = _cuts(REAL_VIDEO / "clipart_objects_with_their_sounds_84s.mp4")
    assert len(cuts) == 20
    assert all(abs(cut - 4.0 * k) <= 0.1 for k, cut in enumerate(cuts, start=1))


def test_motion_that_starts_in_a_still_shot_is_not_a_cut() -> None:
    """A fixed camera on a desk: a hand comes in and moves the objects after a still start."""
    assert _cuts(REAL_VIDEO / "bw_desk_cube_tube_hand_9s.mp4") == []
