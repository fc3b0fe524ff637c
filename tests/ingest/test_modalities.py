"""Every modality on a composite video whose content per time range is known.

Scenes (each 4 s, a still photo or a rendered title, with a sound under it):
  0-4 s   two samoyed dogs on grass  + a dog growling
  4-8 s   cars on a city highway     + an engine running
  8-12 s  a title card "CITY COUNCIL APPROVES BUDGET" + piano music
  12-16 s a man's face (jesper)      + espeak speech about the harbour bridge
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import select

from framedex.storage.tables import ClipFeatureRow
from tests.conftest import SHARED_MEDIA, LiveServer, ffmpeg, speak

SCENE = 4.0
TITLE = "CITY COUNCIL APPROVES BUDGET"
SPEECH = "The harbour bridge will open to traffic next spring."


def title_card(path: Path) -> Path:
    image = Image.new("RGB", (1280, 720), (20, 30, 90))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=64)
    draw.text((80, 300), TITLE, fill=(255, 255, 255), font=font)
    image.save(path)
    return path


def build_composite(root: Path) -> Path:
    images = [SHARED_MEDIA / "images" / "two_samoyeds_grass_IMG_20200608_111614_1600px.jpg",
              SHARED_MEDIA / "images" / "city_highway_IMG_1054.jpg",
              title_card(root / "title.png"),
              SHARED_MEDIA / "images" / "jesper.jpg"]
    speech = speak(SPEECH, root / "speech.wav")
    sounds = [SHARED_MEDIA / "sounds" / "dog_growl.wav", SHARED_MEDIA / "sounds" / "engine_loop.wav",
              SHARED_MEDIA / "sounds" / "piano.wav", speech]
    parts = []
    for i, (image, sound) in enumerate(zip(images, sounds, strict=True)):
        part = root / f"scene{i}.mp4"
        ffmpeg("-loop", "1", "-framerate", "25", "-i", str(image), "-stream_loop", "-1", "-i", str(sound),
               "-t", str(SCENE), "-vf", "scale=1280:720:force_original_aspect_ratio=decrease,"
               "pad=1280:720:(ow-iw)/2:(oh-ih)/2,format=yuv420p", "-c:v", "libx264", "-preset", "ultrafast",
               "-c:a", "aac", "-ar", "44100", "-ac", "2", str(part))
        parts.append(part)
    listing = root / "parts.txt"
    listing.write_text("".join(f"file '{p}'\n" for p in parts))
    out = root / "composite.mp4"
    ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(out))
    return out


@pytest.fixture(scope="module")
def composite(live_server: LiveServer, http: httpx.Client, tmp_path_factory: pytest.TempPathFactory) -> dict:  # type: ignore[type-arg]
    video = build_composite(tmp_path_factory.mktemp("composite"))
    index = http.post("/indexes", json={"index_name": "modalities", "models": [
        {"model_name": "marengo3.0", "model_options": ["visual", "audio"]}]}).json()["_id"]
    with video.open("rb") as f:
        task = http.post("/tasks", data={"index_id": index}, files={"video_file": f}).json()
    done = live_server.wait_task(http, task["_id"], timeout=600)
    assert done["status"] == "ready", done
    with live_server.platform.store.session() as s:
        rows = list(s.scalars(select(ClipFeatureRow).where(ClipFeatureRow.video_id == task["video_id"])))
        features = [(r.kind, r.start, r.end, r.text, r.data) for r in rows]
    return {"index_id": index, "video_id": task["video_id"], "features": features}


def scene_of(t: float) -> int:
    return min(3, int(t // SCENE))


def words_in_scene(features: list, kind: str, scene: int) -> str:  # type: ignore[type-arg]
    return " ".join(text for k, start, end, text, _ in features
                    if k == kind and scene_of((start + end) / 2) == scene).lower()


def test_shot_cuts_make_clips_at_scene_changes(http: httpx.Client, composite: dict) -> None:  # type: ignore[type-arg]
    video = http.get(f"/indexes/{composite['index_id']}/indexed-assets/{composite['video_id']}").json()
    assert set(video["stage_timings"]) >= {"decode", "clips", "speech", "visual", "ocr", "audio", "faces"}
    with_embeddings = http.get(f"/indexes/{composite['index_id']}/indexed-assets/{composite['video_id']}",
                               params=[("embedding_option", "visual"), ("embedding_option", "audio")]).json()
    segments = with_embeddings["embedding"]["video_embedding"]["segments"]
    assert {s["embedding_option"] for s in segments} == {"visual", "audio"}
    assert all(len(s["float"]) == 512 for s in segments)
    starts = sorted({round(s["start_offset_sec"]) for s in segments if s["embedding_option"] == "audio"})
    for cut in (4, 8, 12):  # every scene change starts a clip
        assert cut in starts, starts


def test_visual_labels_name_what_is_seen(composite: dict) -> None:  # type: ignore[type-arg]
    dogs = words_in_scene(composite["features"], "visual", 0)
    assert "dog" in dogs or "samoyed" in dogs, dogs
    road = words_in_scene(composite["features"], "visual", 1)
    assert any(w in road for w in ("car", "vehicle", "traffic", "truck")), road


def test_ocr_reads_the_title(composite: dict) -> None:  # type: ignore[type-arg]
    lines = [(start, end, text) for kind, start, end, text, _ in composite["features"] if kind == "ocr"]
    titles = [line for line in lines if "COUNCIL" in line[2].upper()]
    assert titles, lines
    start, end, text = titles[0]
    assert 7.5 <= start <= 9.5 and end <= 12.5 and "BUDGET" in text.upper()


def test_sound_tags_name_what_is_heard(composite: dict) -> None:  # type: ignore[type-arg]
    music = words_in_scene(composite["features"], "audio", 2)
    assert "music" in music or "piano" in music, music
    engine = words_in_scene(composite["features"], "audio", 1)
    assert any(w in engine for w in ("engine", "vehicle", "motor", "car")), engine
    speech = words_in_scene(composite["features"], "audio", 3)
    assert "speech" in speech or "speak" in speech or "narration" in speech, speech


def test_faces_found_only_where_a_face_is(composite: dict) -> None:  # type: ignore[type-arg]
    faces = [(start, data) for kind, start, end, _, data in composite["features"] if kind == "face"]
    assert faces and all(scene_of(start) == 3 for start, _ in faces), faces
    assert len({data["track"] for _, data in faces}) == 1  # one person, one track


def test_transcript_and_vectors_agree(live_server: LiveServer, http: httpx.Client, composite: dict) -> None:  # type: ignore[type-arg]
    video = http.get(f"/indexes/{composite['index_id']}/indexed-assets/{composite['video_id']}",
                     params={"transcription": "true"}).json()
    text = " ".join(t["value"] for t in video["transcription"]).lower()
    assert "harbour" in text or "harbor" in text, text
    platform = live_server.platform
    query = platform.models.vision().embed_text(["dogs"])[0]
    hits = platform.vectors.search(tenant_id=platform_tenant(live_server, composite), index_id=composite["index_id"],
                                   space="visual", query=query, k=3, video_ids=[composite["video_id"]])
    assert hits and scene_of(hits[0].start) == 0, hits
    image = np.asarray(Image.open(SHARED_MEDIA / "images" / "city_highway_IMG_1054.jpg").convert("RGB"))
    feature = platform.models.frames().analyze([image])[0].tags.feature
    hits = platform.vectors.search(tenant_id=platform_tenant(live_server, composite), index_id=composite["index_id"],
                                   space="visual_image", query=feature, k=1, video_ids=[composite["video_id"]])
    assert hits and scene_of(hits[0].start) == 1


def platform_tenant(live_server: LiveServer, composite: dict) -> str:  # type: ignore[type-arg]
    from framedex.storage.tables import IndexedAssetRow

    with live_server.platform.store.session() as s:
        row = s.get(IndexedAssetRow, composite["video_id"])
        assert row is not None
        return row.tenant_id


def test_no_network_was_needed() -> None:
    # conftest points every proxy at a dead port; reaching a hub would have failed the ingest above.
    result = subprocess.run(["env"], capture_output=True, text=True, check=True).stdout
    assert "HTTPS_PROXY=http://127.0.0.1:9" in result and "HF_HUB_OFFLINE=1" in result
