"""On-screen text on a real screencast: short-lived text is read with the time it is shown, and a quote from
the middle of a line finds it through visual search.

The video is 12 s of a real GNOME screencast (`real2/video/gnome_display_settings_screencast_37s.webm`, 8-20 s):
a settings window, a tooltip shown for under a second (3.3-4.2 s here) and another one (8.1-9.0 s).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from framedex.services.search.text import tokens
from framedex.storage.tables import ClipFeatureRow
from tests.conftest import SHARED_MEDIA, LiveServer, ffmpeg

SOURCE = SHARED_MEDIA / "real2" / "video" / "gnome_display_settings_screencast_37s.webm"
OFFSET = 8.0
TOOLTIP = "Select a monitor to change its properties; drag it to rearrange its placement."
TOOLTIP_SPAN = (11.3 - OFFSET, 12.2 - OFFSET)


@pytest.fixture(scope="module")
def screencast(tl: Any, live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if not SOURCE.exists():
        pytest.skip("real2 media not available")
    path = tmp_path_factory.mktemp("ocr-real") / "gnome.mp4"
    ffmpeg("-ss", str(OFFSET), "-i", str(SOURCE), "-t", "12", "-c:v", "libx264", "-preset", "veryfast",
           "-pix_fmt", "yuv420p", "-an", str(path))
    index = tl.indexes.create(index_name=f"ocr-real-{time.time()}",
                              models=[{"model_name": "marengo3.0", "model_options": ["visual"]}])
    with Path(path).open("rb") as f:
        task = tl.tasks.create(index_id=index.id, video_file=f)
    done = tl.tasks.wait_for_done(task_id=task.id, sleep_interval=0.5)
    assert done.status == "ready", done
    with live_server.platform.store.session() as s:
        lines = [(r.start, r.end, r.text) for r in s.scalars(
            select(ClipFeatureRow).where(ClipFeatureRow.video_id == task.video_id, ClipFeatureRow.kind == "ocr"))]
    return {"index_id": index.id, "video_id": task.video_id, "lines": lines}


def _share_of_words(expected: str, text: str) -> float:
    want, got = tokens(expected), set(tokens(text))
    return sum(w in got for w in want) / len(want)


def test_short_lived_tooltip_is_read_with_its_time(screencast: dict[str, Any]) -> None:
    a, b = TOOLTIP_SPAN
    found = [(s, e, t) for s, e, t in screencast["lines"] if _share_of_words(TOOLTIP, t) >= 0.8]
    assert found, screencast["lines"]
    start, end, _ = found[0]
    assert a - 1.0 <= start <= b + 0.5 and a - 0.5 <= end <= b + 1.0, found
    # the settings window's labels stay on screen: one line each, with the whole time range
    labels = [(s, e) for s, e, t in screencast["lines"] if t.strip() == "Detect Displays"]
    assert labels and max(e - s for s, e in labels) >= 8.0, labels


def test_quote_from_the_middle_of_a_line_is_the_top_visual_hit(tl: Any, screencast: dict[str, Any]) -> None:
    a, b = TOOLTIP_SPAN
    for query in ("change its properties drag it", "to rearrange its placement"):
        hits = list(tl.search.query(index_id=screencast["index_id"], query_text=query, search_options=["visual"]))
        assert hits, query
        top = hits[0]
        assert top.video_id == screencast["video_id"]
        assert top.start <= b + 1.0 and top.end >= a - 1.0, (query, top.start, top.end)
