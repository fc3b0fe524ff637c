"""Embeddings API against a live server, through the official SDK where it has a method.

Content checks: the same text twice gives the same vector; text lands nearer the matching image or video
clip than a non-matching one; vectors are 512 values (Marengo's length) with the joint 384-d space
zero-padded, so cosine similarity equals the joint space's.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.conftest import SHARED_MEDIA, LiveServer, ffmpeg

IMAGES = SHARED_MEDIA / "images"
VIDEOS = SHARED_MEDIA / "video"


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def cos(a: Any, b: Any) -> float:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))


def text_vec(tl: Any, text: str) -> list[float]:
    res = tl.embed.v_2.create(input_type="text", model_name="marengo3.0", text={"input_text": text})
    assert len(res.data) == 1
    return list(res.data[0].embedding)


def image_vec(tl: Any, path: Path) -> list[float]:
    res = tl.embed.v_2.create(input_type="image", model_name="marengo3.0",
                              image={"media_source": {"base64_string": b64(path)}})
    return list(res.data[0].embedding)


def test_text_embedding_is_deterministic_and_512d(tl: Any) -> None:
    a = text_vec(tl, "a man walking a dog on the beach")
    b = text_vec(tl, "a man walking a dog on the beach")
    assert a == b
    assert len(a) == 512
    assert all(v == 0.0 for v in a[384:])  # the 384-d joint space, zero-padded
    assert abs(float(np.linalg.norm(a)) - 1.0) < 1e-4
    other = text_vec(tl, "stock market report with charts")
    assert cos(a, other) < 0.9


def test_text_is_nearer_the_matching_image(tl: Any) -> None:
    dog, highway, fruit = (image_vec(tl, IMAGES / n) for n in ("donna.jpg", "city_highway_IMG_1054.jpg",
                                                                "fruits.jpg"))
    assert len(dog) == 512
    q_dog, q_cars = text_vec(tl, "dog"), text_vec(tl, "cars on a highway")
    assert cos(q_dog, dog) > cos(q_dog, highway)
    assert cos(q_dog, dog) > cos(q_dog, fruit)
    assert cos(q_cars, highway) > cos(q_cars, dog)


def test_text_image_and_multi_input_fuse_text_and_image(tl: Any) -> None:
    dog = image_vec(tl, IMAGES / "donna.jpg")
    fused = tl.embed.v_2.create(input_type="text_image", model_name="marengo3.0",
                                text_image={"media_source": {"base64_string": b64(IMAGES / "donna.jpg")},
                                            "input_text": "a dog on the grass"}).data[0].embedding
    text = text_vec(tl, "a dog on the grass")
    assert cos(fused, dog) > 0.5 and cos(fused, text) > 0.5
    multi = tl.embed.v_2.create(
        input_type="multi_input", model_name="marengo3.0",
        multi_input={"input_text": "<@pet> on the grass",
                     "media_sources": [{"name": "pet", "media_type": "image",
                                        "base64_string": b64(IMAGES / "donna.jpg")}]})
    assert len(multi.data) == 1 and cos(multi.data[0].embedding, dog) > 0.5


def test_video_clip_embeddings_rank_the_matching_clip_first(tl: Any, tmp_path: Path) -> None:
    # Two different scenes in one file: dog (0-2 s) then lego motor (2-4 s); fixed 2 s segments.
    joined = tmp_path / "two_scenes.mp4"
    ffmpeg("-i", str(VIDEOS / "samoyed_dog_2s.mp4"), "-i", str(VIDEOS / "lego_motor_6s.mp4"), "-filter_complex",
           "[0:v]scale=640:360,setsar=1,fps=25,tpad=stop_mode=clone:stop_duration=1,trim=0:2,setpts=PTS-STARTPTS[a];"
           "[1:v]scale=640:360,setsar=1,fps=25,trim=0:2,setpts=PTS-STARTPTS[b];[a][b]concat=n=2:v=1[v]",
           "-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(joined))
    res = tl.embed.v_2.create(
        input_type="video", model_name="marengo3.0",
        video={"media_source": {"base64_string": b64(joined)}, "embedding_option": ["visual"],
               "embedding_scope": ["clip", "asset"],
               "segmentation": {"strategy": "fixed", "fixed": {"duration_sec": 2}}})
    clips = [d for d in res.data if d.embedding_scope == "clip"]
    assets = [d for d in res.data if d.embedding_scope == "asset"]
    assert [(c.start_sec, c.end_sec) for c in clips] == [(0.0, 2.0), (2.0, 4.0)]
    assert all(c.embedding_option == "visual" and len(c.embedding) == 512 for c in clips)
    assert len(assets) == 1 and assets[0].start_sec == 0.0
    assert res.metadata is not None and res.metadata.input_type == "video"
    assert abs(res.metadata.duration - 4.0) < 0.3 and res.metadata.embedding_options == ["visual"]
    q = text_vec(tl, "dog")
    assert cos(q, clips[0].embedding) > cos(q, clips[1].embedding)
    # start_sec / end_sec select a window; the dynamic default follows the scene change.
    window = tl.embed.v_2.create(input_type="video", model_name="marengo3.0",
                                 video={"media_source": {"base64_string": b64(joined)}, "start_sec": 2.0,
                                        "end_sec": 4.0, "embedding_option": ["visual"], "embedding_scope": ["clip"]})
    assert window.data and all(d.start_sec >= 2.0 and d.end_sec <= 4.01 for d in window.data)
    assert cos(window.data[0].embedding, clips[1].embedding) > 0.95


def test_audio_embedding_with_speech(tl: Any, media: Any) -> None:
    res = tl.embed.v_2.create(
        input_type="audio", model_name="marengo3.0",
        audio={"media_source": {"base64_string": b64(media.speech_wav)}, "embedding_scope": ["clip", "asset"]})
    options = {(d.embedding_option, d.embedding_scope) for d in res.data}
    assert ("transcription", "asset") in options and ("audio", "clip") in options
    asset_transcript = next(d for d in res.data if (d.embedding_option, d.embedding_scope) == ("transcription",
                                                                                                "asset"))
    assert cos(text_vec(tl, "volcanoes and glaciers and humpback whales"), asset_transcript.embedding) > \
        cos(text_vec(tl, "a recipe for chocolate cake"), asset_transcript.embedding)
    assert res.metadata is not None and res.metadata.input_type == "audio"


def test_v1_embed_matches_v2_text(tl: Any) -> None:
    v1 = tl.embed.create(model_name="marengo3.0", text="a man walking a dog on the beach")
    assert v1.model_name == "marengo3.0"
    assert v1.text_embedding.segments[0].float_ == text_vec(tl, "a man walking a dog on the beach")
    img = tl.embed.create(model_name="marengo3.0",
                          image_file=("donna.jpg", (IMAGES / "donna.jpg").read_bytes(), "image/jpeg"))
    assert img.image_embedding.segments[0].float_ == image_vec(tl, IMAGES / "donna.jpg")


def test_v2_errors(http: httpx.Client) -> None:
    r = http.post("/embed-v2", json={"input_type": "text", "model_name": "marengo3.0",
                                     "embedding_dimension": 256, "text": {"input_text": "x"}})
    assert r.status_code == 400 and r.json()["code"] == "parameter_invalid"
    r = http.post("/embed-v2", json={"input_type": "text", "model_name": "marengo3.5", "text": {"input_text": "x"}})
    assert r.status_code == 400
    r = http.post("/embed-v2", json={"input_type": "text", "model_name": "marengo3.0"})
    assert r.status_code == 400 and r.json()["code"] == "parameter_not_provided"
    r = http.post("/embed-v2", json={"input_type": "image", "model_name": "marengo3.0",
                                     "image": {"media_source": {"base64_string": "bm90IGFuIGltYWdl"}}})
    assert r.status_code == 400
    big = base64.b64encode(b"\0" * (37 * 1024 * 1024)).decode()
    r = http.post("/embed-v2", json={"input_type": "video", "model_name": "marengo3.0",
                                     "video": {"media_source": {"base64_string": big}}})
    assert r.status_code == 413 and "error" in r.json()
    # Marengo 3.5 takes multi_input, with a Matryoshka prefix for embedding_dimension.
    r = http.post("/embed-v2", json={"input_type": "multi_input", "model_name": "marengo3.5",
                                     "embedding_dimension": 256, "multi_input": {"input_text": "a dog"}})
    assert r.status_code == 200, r.text
    assert len(r.json()["data"][0]["embedding"]) == 256 and r.json()["usage"]["truncated"] is False


def _wait(fn: Any, timeout: float = 180) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = fn()
        if task.status in ("ready", "failed"):
            return task
        time.sleep(0.3)
    raise TimeoutError


def test_v2_task_lifecycle(tl: Any, live_server: LiveServer) -> None:
    created = tl.embed.v_2.tasks.create(
        input_type="video", model_name="marengo3.0",
        video={"media_source": {"base64_string": b64(VIDEOS / "lego_motor_6s.mp4")},
               "segmentation": {"strategy": "fixed", "fixed": {"duration_sec": 3}},
               "embedding_option": ["visual", "audio"], "embedding_scope": ["clip"]})
    assert created.status == "processing" and created.id
    task = _wait(lambda: tl.embed.v_2.tasks.retrieve(created.id))
    assert task.status == "ready", task
    visual = [d for d in task.data if d.embedding_option == "visual"]
    assert [(d.start_sec, d.end_sec) for d in visual] == [(0.0, 3.0), (3.0, pytest.approx(5.568, abs=0.05))]
    assert task.metadata.duration == pytest.approx(5.568, abs=0.05) and task.metadata.clip_length == 3
    listed = [t.id for t in tl.embed.v_2.tasks.list(status="ready")]
    assert created.id in listed
    # A broken file fails at creation (playability is checked), a URL that 404s fails the task.
    bad = tl.embed.v_2.tasks.create
    from twelvelabs.errors import BadRequestError

    with pytest.raises(BadRequestError):
        garbage = base64.b64encode(b"not a video\n" * 200).decode()
        bad(input_type="video", model_name="marengo3.0", video={"media_source": {"base64_string": garbage}})
    failing = bad(input_type="audio", model_name="marengo3.0",
                  audio={"media_source": {"url": f"{live_server.url}/no-such-file.wav"}})
    task = _wait(lambda: tl.embed.v_2.tasks.retrieve(failing.id))
    assert task.status == "failed" and task.error and task.error.message


def test_v1_task_lifecycle(tl: Any) -> None:
    with (VIDEOS / "samoyed_dog_2s.mp4").open("rb") as video:
        created = tl.embed.tasks.create(model_name="marengo3.0", video_file=video, video_clip_length=2,
                                        video_embedding_scope=["clip", "video"])
    assert created.id
    status = tl.embed.tasks.wait_for_done(created.id, sleep_interval=0.3)
    assert status.status == "ready"
    task = tl.embed.tasks.retrieve(created.id)
    segs = task.video_embedding.segments
    assert {s.embedding_scope for s in segs} == {"clip", "video"}
    assert all(len(s.float_) == 512 for s in segs)
    visual = [s for s in segs if s.embedding_option == "visual"]
    assert cos(text_vec(tl, "dog"), visual[0].float_) > cos(text_vec(tl, "a plate of food"), visual[0].float_)
    only_visual = tl.embed.tasks.retrieve(created.id, embedding_option=["visual"])
    assert {s.embedding_option for s in only_visual.video_embedding.segments} == {"visual"}
    assert created.id in [t.id for t in tl.embed.tasks.list()]
