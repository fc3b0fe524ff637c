"""Two composite videos built from real media (known content per time range), indexed once per session through
the official SDK on the live server with the real models; the search tests query them."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from eval.devset import (
    PICTURES,
    RECORDINGS,
    SENTENCES,
    SOUNDS,
    TITLES,
    Scene,
    Sentence,
    duration_of,
    recording_lines,
    render_scene,
    scene_duration,
)

from tests.conftest import SHARED_MEDIA

MODELS = [{"model_name": "marengo3.0", "model_options": ["visual", "audio"]}]


def _pick(items: Any, key: str) -> Any:
    return next(x for x in items if x.key == key)


# (picture, title, sound, sentence) per scene
STORY = [("samoyeds", "sale", None, "chef"), ("butterfly", None, "piano", None),
         ("fruits", "springfield", None, "lv_selfish"), ("highway", None, "phone", None)]
# Scene 0 is real Italian speech (a telephone prompt), scene 1 a synthetic espeak-ng voice.
REAL_ITALIAN = Sentence("it_real", "premere uno per registrare il proprio messaggio di non disponibile, premere due "
                        "per registrare il proprio messaggio di occupato", ("registrare il proprio messaggio",),
                        voice="it", wav="real2/speech/asterisk_it_vm_options_20s.wav")
ITALIAN = [("baboon", None, None, "it_real"), ("spiff", None, None, "it_sea")]
RECITAL_SECONDS = 26.0  # the first lines of a real reading of a sonnet, with the time of each line


@dataclass
class Indexed:
    index_id: str
    story: str  # video ids
    italian: str
    scenes: dict[str, list[tuple[float, float]]]  # video id -> scene spans
    images: Path  # the pictures, as query images
    recital: str = ""  # video id: real continuous speech over one picture (a single long shot)
    recital_lines: list[tuple[float, float, str]] = field(default_factory=list)  # (start, end, text) said

    def scene_of(self, hit: Any) -> tuple[str, int] | None:
        """(video id, scene number) holding most of a hit."""
        video_id = hit["video_id"] if isinstance(hit, dict) else hit.video_id
        start, end = (hit["start"], hit["end"]) if isinstance(hit, dict) else (hit.start, hit.end)
        best, best_overlap = None, 0.0
        for i, (a, b) in enumerate(self.scenes.get(video_id, [])):
            overlap = min(b, end) - max(a, start)
            if overlap > best_overlap:
                best, best_overlap = (video_id, i), overlap
        return best


def _build(layout: list[tuple[str, str | None, str | None, str | None]], out: Path,
           work: Path) -> tuple[Path, list[tuple[float, float]]]:
    parts, spans, t = [], [], 0.0
    for k, (pic, title, sound, sentence) in enumerate(layout):
        scene = Scene(_pick(PICTURES, pic), _pick(TITLES, title) if title else None,
                      _pick(SOUNDS, sound) if sound else None,
                      _pick([*SENTENCES, REAL_ITALIAN], sentence) if sentence else None)
        part = work / f"{out.stem}_{k}.mp4"
        render_scene(scene, scene_duration(scene, work), part, work)
        d = duration_of(part)
        spans.append((round(t, 3), round(t + d, 3)))
        t += d
        parts.append(part)
    listing = work / f"{out.stem}.txt"
    listing.write_text("".join(f"file '{p}'\n" for p in parts))
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing),
                    "-c", "copy", str(out)], check=True)
    return out, spans


@pytest.fixture(scope="session")
def search_index(tl: Any, tmp_path_factory: pytest.TempPathFactory) -> Indexed:
    root = tmp_path_factory.mktemp("search-media")
    work = root / "work"
    work.mkdir()
    story, story_spans = _build(STORY, root / "story.mp4", work)
    italian, italian_spans = _build(ITALIAN, root / "italian.mp4", work)
    recording = RECORDINGS[0]
    recital = root / "recital.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-loop", "1", "-i", str(SHARED_MEDIA / "images/pool.jpg"),
                    "-i", str(SHARED_MEDIA / recording.wav), "-t", str(RECITAL_SECONDS), "-vf",
                    "scale=480:360,setsar=1,fps=25,format=yuv420p", "-c:v", "libx264", "-preset", "veryfast",
                    "-c:a", "aac", "-shortest", str(recital)], check=True)
    lines = [line for line in recording_lines(recording) if line[1] <= RECITAL_SECONDS]
    index = tl.indexes.create(index_name=f"search-{time.time()}", models=MODELS, addons=["thumbnail"])
    tasks = []
    for path in (story, italian, recital):
        with path.open("rb") as f:
            tasks.append(tl.tasks.create(index_id=index.id, video_file=f))
    for task in tasks:
        done = tl.tasks.wait_for_done(task_id=task.id, sleep_interval=0.5)
        assert done.status == "ready", done
    return Indexed(index.id, tasks[0].video_id, tasks[1].video_id,
                   {tasks[0].video_id: story_spans, tasks[1].video_id: italian_spans}, SHARED_MEDIA / "images",
                   tasks[2].video_id, lines)
