from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from framedex.models.base import Detection, FrameAnalyzer, ImageTagger, VisionEncoder
from framedex.models.vision import OnnxClipEncoder, TaggingFrameAnalyzer, fixed_camera, object_colour, tiny_grey

pytestmark = pytest.mark.slow

QUERIES = {
    "dog": "donna_2",
    "monkey": "baboon",
    "butterfly": "butterfly",
    "fruit": "fruits",
    "pool table": "pool",
    "cars on a highway": "city_highway_IMG_1054",
    "a man in a suit": "jesper_2",
}


def test_tags_detections_features(tagger: Any, images: dict[str, Any]) -> None:
    assert isinstance(tagger, ImageTagger)
    tags = dict(zip(images, tagger.tag(list(images.values())), strict=True))
    samoyed = tags["two_samoyeds_grass_IMG_20200608_111614_1600px"]
    assert samoyed.labels[0].name == "Samoyed" and samoyed.labels[0].score > 0.5
    assert tags["baboon"].labels[0].name == "baboon"
    assert tags["pool"].labels[0].name == "pool table"
    assert "monarch butterfly" in [lab.name for lab in tags["butterfly"].labels[:2]]
    assert tags["city_highway_IMG_1054"].counts.get("car", 0) >= 3
    assert tags["fruits"].counts.get("orange", 0) >= 1
    assert tags["jesper_2"].counts.get("person") == 1
    det = tags["city_highway_IMG_1054"].detections[0]
    assert 0 <= det.box[0] < det.box[2] <= 1 and 0 <= det.box[1] < det.box[3] <= 1
    for t in tags.values():
        assert t.feature.shape == (1280,) and abs(float(np.linalg.norm(t.feature)) - 1) < 1e-4
    # image-to-image: a same-subject photo is nearer than unrelated ones
    f = {k: t.feature for k, t in tags.items()}
    assert f["jesper"] @ f["jesper_2"] > max(f["jesper"] @ f[k] for k in ("fruits", "butterfly", "sunset"))


def test_image_attributes(tagger: Any, images: dict[str, Any]) -> None:
    gray = np.repeat(images["pool"].mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    dark = (images["city_highway_IMG_1054"] * 0.12).astype(np.uint8)
    (tg, td, tc) = tagger.tag([gray, dark, images["fruits"]])
    assert "black and white" in tg.attributes
    assert "night" in td.attributes
    assert not {"black and white", "night"} & set(tc.attributes)
    assert "crowd" in tagger.attributes(images["pool"], {"person": 7})


def _real_picture(path: Path) -> Any:
    """A real picture as ingest stores a frame (transparent clip art on white, as videos show it)."""
    from PIL import Image

    picture = Image.open(path)
    if picture.mode in ("RGBA", "LA", "P"):
        rgba = picture.convert("RGBA")
        picture = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    picture = picture.convert("RGB")
    picture.thumbnail((640, 640))
    return np.asarray(picture)


def test_scene_words_on_real_pictures(tagger: Any, media: Path, images: dict[str, Any]) -> None:
    """Style and scene words on real pictures (thresholds and their precision/recall: eval/scenes.py)."""
    real2 = media / "real2"
    pictures = {
        "crow": _real_picture(real2 / "images" / "clipart_crow_cc0.png"),
        "excavator": _real_picture(real2 / "images" / "clipart_excavator_cc0.png"),
        "solvay": _real_picture(real2 / "images" / "archival_bw_solvay_conference_1927.jpg"),
        "slide": _real_picture(real2 / "slides" / "beamer_talk_outline_slide.png"),
        "daytime": images["two_samoyeds_grass_IMG_20200608_111614_1600px"],
        "qr": _real_picture(real2 / "images" / "qrcode.png"),
        "map": _real_picture(real2 / "slides" / "doc_map_baiona_basque_labels.png"),  # corner-square look-alikes
    }
    tags = dict(zip(pictures, tagger.tag(list(pictures.values())), strict=True))
    assert {"cartoon", "clip art"} <= set(tags["crow"].attributes)
    assert "black and white" not in tags["crow"].attributes  # a grey drawing is not a black-and-white film
    assert "cartoon" in tags["excavator"].attributes
    assert "black and white" in tags["solvay"].attributes
    assert "slides or document" in tags["slide"].attributes
    assert "cartoon" not in tags["slide"].attributes
    day = set(tags["daytime"].attributes)
    assert not day & {"night", "cartoon", "clip art", "black and white", "slides or document", "outer space"}
    assert "outdoors" in day
    assert "qr code" in tags["qr"].attributes
    assert not any("qr code" in t.attributes for k, t in tags.items() if k != "qr")
    for value in (0, 128, 255):  # a fade to black or white is neither night, black and white nor clip art
        assert tagger.attributes(np.full((360, 640, 3), value, np.uint8), {}) == []


def test_fixed_camera_needs_a_still_background_and_some_motion() -> None:
    rng = np.random.default_rng(0)
    scene = rng.integers(0, 255, (180, 320, 3), dtype=np.uint8)
    walker = []
    for i in range(4):  # a small dark figure walks across a fixed view
        frame = scene.copy()
        frame[100:160, 40 + 60 * i:70 + 60 * i] = 0
        walker.append(tiny_grey(frame))
    assert all(fixed_camera(walker))
    assert not any(fixed_camera([tiny_grey(scene)] * 3))  # a still picture: nothing moves
    panning = [tiny_grey(np.roll(scene, 40 * i, axis=1)) for i in range(3)]  # the camera moves
    assert not any(fixed_camera(panning))
    assert fixed_camera(walker[:1]) == [False]  # one frame says nothing


def test_object_colours_and_counts(tagger: Any, images: dict[str, Any]) -> None:
    """Synthetic pictures with known colours, then real ones: the colour word of the middle of a box."""
    h, w = 120, 160
    box = (0.25, 0.25, 0.75, 0.75)
    for rgb, word in (((220, 30, 30), "red"), ((30, 60, 210), "blue"), ((40, 170, 50), "green"),
                      ((245, 245, 245), "white"), ((15, 15, 15), "black"), ((230, 210, 40), "yellow")):
        picture = np.full((h, w, 3), (128, 128, 128), np.uint8)
        picture[30:90, 40:120] = rgb
        assert object_colour(picture, box) == word, (rgb, word)
    stripes = np.zeros((h, w, 3), np.uint8)
    for i in range(8):  # the middle of the box holds four colours, a quarter each
        stripes[:, i * 20:(i + 1) * 20] = ((220, 30, 30), (30, 60, 210), (40, 170, 50), (230, 210, 40))[i % 4]
    assert object_colour(stripes, (0.0, 0.0, 1.0, 1.0)) is None  # no colour holds most of it
    dogs = [Detection("dog", 0.9, (0.1, 0.1, 0.4, 0.9)), Detection("dog", 0.8, (0.5, 0.1, 0.9, 0.9))]
    attrs = tagger.attributes(images["donna_2"], {"dog": 2}, dogs)
    assert "two dog" in attrs and "black dog" in attrs
    grey = np.repeat(images["donna_2"].mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    assert not any(a.endswith(" dog") and a != "two dog" for a in tagger.attributes(grey, {"dog": 2}, dogs))


def test_conse_text_to_image_search(conse: Any, images: dict[str, Any]) -> None:
    assert isinstance(conse, VisionEncoder) and conse.dim == 384
    names = list(images)
    emb = conse.embed_images(list(images.values()))
    assert emb.shape == (len(names), 384)
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-4)
    q = conse.embed_text(list(QUERIES))
    sims = q @ emb.T
    for (query, expected), row in zip(QUERIES.items(), sims, strict=True):
        top2 = [names[i] for i in np.argsort(-row)[:2]]
        assert expected in top2, (query, top2)
    # hypernyms: "animal" prefers animal photos over fruit and pool
    a = conse.embed_text(["animal"])[0] @ emb.T
    animal = {names.index(n) for n in ("baboon", "donna_2", "two_samoyeds_grass_IMG_20200608_111614_1600px")}
    assert min(a[i] for i in animal) > max(a[names.index(n)] for n in ("fruits", "pool", "sunset"))


def test_frame_analyzer_reuses_tags(tagger: Any, conse: Any, images: dict[str, Any]) -> None:
    fa = TaggingFrameAnalyzer(tagger, conse)
    assert isinstance(fa, FrameAnalyzer)
    (res,) = fa.analyze([images["baboon"]])
    assert res.terms[0].name == "baboon"
    assert np.allclose(res.embedding, conse.embed_images([images["baboon"]])[0])


def test_label_vectors_are_cached(models_settings: Any, conse: Any) -> None:
    cached = list((Path(models_settings.models_dir) / "cache").glob("conse-vision-*.npy"))
    assert len(cached) == 1


# --- a CLIP-style encoder given by path -------------------------------------------------------------


def _tiny_clip(tmp: Path, dim: int = 8, size: int = 32, ctx: int = 6) -> Path:
    """A randomly initialised two-tower model built with onnx.helper (no downloads)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from tokenizers import Tokenizer, models, pre_tokenizers

    rng = np.random.default_rng(0)
    w_img = numpy_helper.from_array(rng.standard_normal((3, dim)).astype(np.float32), "w_img")
    img_graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["pixel_values"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["flat"]),
            helper.make_node("MatMul", ["flat", "w_img"], ["image_embeds"]),
        ],
        "image",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["n", 3, size, size])],
        [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["n", dim])],
        [w_img],
    )
    vocab = {"[PAD]": 0, "[UNK]": 1, "red": 2, "green": 3, "blue": 4, "photo": 5}
    emb = rng.standard_normal((len(vocab), dim)).astype(np.float32)
    txt_graph = helper.make_graph(
        [
            helper.make_node("Gather", ["emb", "input_ids"], ["tok"]),
            helper.make_node("ReduceMean", ["tok"], ["text_embeds"], axes=[1], keepdims=0),
        ],
        "text",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["n", ctx])],
        [helper.make_tensor_value_info("text_embeds", TensorProto.FLOAT, ["n", dim])],
        [numpy_helper.from_array(emb, "emb")],
    )
    d = tmp / "tiny-clip"
    d.mkdir()
    for graph, name in ((img_graph, "image.onnx"), (txt_graph, "text.onnx")):
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        onnx.checker.check_model(model)
        onnx.save(model, str(d / name))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(d / "tokenizer.json"))
    return d


def test_onnx_clip_encoder_plugs_in(tmp_path: Path, tagger: Any, images: dict[str, Any]) -> None:
    d = _tiny_clip(tmp_path)
    enc = OnnxClipEncoder.from_dir(d, threads=1)
    assert isinstance(enc, VisionEncoder)
    assert enc.dim == 8 and enc.image_size == 32 and enc.context_length == 6
    e = enc.embed_images([images["fruits"], images["baboon"], images["fruits"]])
    assert e.shape == (3, 8) and np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    assert np.allclose(e[0], e[2]) and not np.allclose(e[0], e[1])
    t = enc.embed_text(["red photo", "blue", "red photo"])
    assert t.shape == (3, 8) and np.allclose(t[0], t[2])
    (res,) = TaggingFrameAnalyzer(tagger, enc).analyze([images["baboon"]])
    assert res.embedding.shape == (8,) and res.tags.labels[0].name == "baboon"


def test_corner_squares_in_a_degenerate_layout_are_no_qr_code(media: Path) -> None:
    """A frame of the real terminal screencast, as ingest stores it, where OpenCV finds QR corner squares in a
    zero-area layout and its decoder raises: the frame has no QR code, and indexing goes on."""
    import io

    from PIL import Image

    from framedex.ingest.scan import scan_video
    from framedex.ingest.stages import _jpeg
    from framedex.models.vision import shows_qr_code

    stored: dict[float, Any] = {}

    def keep(frame: Any) -> None:
        if 30.5 <= frame.time <= 31.5:
            stored[frame.time] = np.asarray(Image.open(io.BytesIO(_jpeg(frame.image))).convert("RGB"))

    scan_video(media / "real2" / "video" / "terminal_screencast_xterm_46s.mp4", keep)
    assert stored
    assert not any(shows_qr_code(image) for image in stored.values())
