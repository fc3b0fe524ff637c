"""Frames: ImageNet tags, COCO objects, image attributes, image features and joint-space embeddings.

Default stack (no CLIP ships in any registry, see DESIGN.md §5):

* :class:`EfficientNetSsdTagger` -- EfficientNet-Lite3 int8 (LiteRT) for the ImageNet-1k top-k
  and the 1280-d pooled feature, SSD-MobileNet-v2 COCO (OpenCV DNN) for objects, and cheap image
  attributes: scene and style words (`SceneRules`: cartoon, clip art, black and white, night, outer space,
  slides or document, underwater, aerial view, indoors/outdoors; docs/scenes.md), a QR code that decodes,
  crowds, object colours and counts. ``fixed_camera`` (used by the visual ingest stage across a shot's
  frames) adds "security camera".
* :class:`ConseVisionEncoder` -- ConSE (Norouzi et al. 2014): a frame's embedding is the
  score-weighted mean of the text embeddings of what the tagger saw, in the MiniLM text space, so
  ``embed_text("a dog on grass")`` ranks frames. The label texts come from a WordNet-derived
  vocabulary (``data/imagenet_vocab.json``: plain names, synonyms, basic-level hypernyms); their
  embeddings are computed once and cached in ``models_dir/cache``.
* :class:`OnnxClipEncoder` -- a real CLIP/SigLIP (image ONNX + text ONNX + tokenizer.json given
  by path) drops in as the `VisionEncoder` instead; nothing else changes.
* :class:`TaggingFrameAnalyzer` -- tags + embedding per frame, whichever encoder is used (with
  ConSE it reuses the tags instead of running the tagger twice).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import threading
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from framedex.config import Settings
from framedex.models import packs
from framedex.models.base import (
    Detection,
    FloatArray,
    FrameAnalysis,
    FrameTags,
    ImageArray,
    ImageTagger,
    Label,
    TextEmbedder,
    VisionEncoder,
)
from framedex.models.conse import label_matrix
from framedex.models.onnx import l2_normalize, ort_session

# TensorFlow object-detection COCO label map (ids 1..90 with gaps), as the SSD graph emits them.
COCO90: dict[int, str] = {
    1: "person", 2: "bicycle", 3: "car", 4: "motorcycle", 5: "airplane", 6: "bus", 7: "train",
    8: "truck", 9: "boat", 10: "traffic light", 11: "fire hydrant", 13: "stop sign",
    14: "parking meter", 15: "bench", 16: "bird", 17: "cat", 18: "dog", 19: "horse", 20: "sheep",
    21: "cow", 22: "elephant", 23: "bear", 24: "zebra", 25: "giraffe", 27: "backpack",
    28: "umbrella", 31: "handbag", 32: "tie", 33: "suitcase", 34: "frisbee", 35: "skis",
    36: "snowboard", 37: "sports ball", 38: "kite", 39: "baseball bat", 40: "baseball glove",
    41: "skateboard", 42: "surfboard", 43: "tennis racket", 44: "bottle", 46: "wine glass",
    47: "cup", 48: "fork", 49: "knife", 50: "spoon", 51: "bowl", 52: "banana", 53: "apple",
    54: "sandwich", 55: "orange", 56: "broccoli", 57: "carrot", 58: "hot dog", 59: "pizza",
    60: "donut", 61: "cake", 62: "chair", 63: "couch", 64: "potted plant", 65: "bed",
    67: "dining table", 70: "toilet", 72: "tv", 73: "laptop", 74: "mouse", 75: "remote",
    76: "keyboard", 77: "cell phone", 78: "microwave", 79: "oven", 80: "toaster", 81: "sink",
    82: "refrigerator", 84: "book", 85: "clock", 86: "vase", 87: "scissors", 88: "teddy bear",
    89: "hair drier", 90: "toothbrush",
}  # fmt: skip

# Extra words for COCO classes (synonyms and basic-level categories people search for).
COCO_TERMS: dict[str, tuple[str, ...]] = {
    "person": ("people",),
    "bicycle": ("bike", "vehicle"),
    "car": ("automobile", "vehicle"),
    "motorcycle": ("motorbike", "vehicle"),
    "airplane": ("aircraft", "plane"),
    "bus": ("vehicle", "public transport"),
    "train": ("railway", "vehicle"),
    "truck": ("lorry", "vehicle"),
    "boat": ("ship", "watercraft"),
    "traffic light": ("street",),
    "stop sign": ("street", "road sign"),
    "bird": ("animal",),
    "cat": ("animal", "pet"),
    "dog": ("animal", "pet"),
    "horse": ("animal",),
    "sheep": ("animal", "farm animal"),
    "cow": ("animal", "cattle", "farm animal"),
    "elephant": ("animal", "wild animal"),
    "bear": ("animal", "wild animal"),
    "zebra": ("animal", "wild animal"),
    "giraffe": ("animal", "wild animal"),
    "sports ball": ("ball", "sports"),
    "tennis racket": ("tennis", "sports"),
    "skateboard": ("skateboarding", "sports"),
    "surfboard": ("surfing", "sports"),
    "skis": ("skiing", "snow"),
    "snowboard": ("snowboarding", "snow"),
    "wine glass": ("wine", "drink"),
    "cup": ("drink", "mug"),
    "banana": ("fruit", "food"),
    "apple": ("fruit", "food"),
    "orange": ("fruit", "food"),
    "broccoli": ("vegetable", "food"),
    "carrot": ("vegetable", "food"),
    "sandwich": ("food",),
    "hot dog": ("food",),
    "pizza": ("food",),
    "donut": ("doughnut", "food"),
    "cake": ("dessert", "food"),
    "couch": ("sofa", "furniture"),
    "chair": ("furniture", "seat"),
    "bed": ("furniture", "bedroom"),
    "dining table": ("table", "furniture"),
    "potted plant": ("plant", "houseplant"),
    "tv": ("television", "screen"),
    "laptop": ("computer",),
    "cell phone": ("mobile phone", "smartphone"),
    "book": ("reading",),
}

# Attribute word -> extra phrasings embedded with it: the words people type for it ("cartoon" for an animated
# film, "CCTV" for a fixed security camera). The scene words come from `SceneRules` (see docs/scenes.md).
ATTRIBUTE_TERMS: dict[str, tuple[str, ...]] = {
    "black and white": ("black and white film", "grayscale", "monochrome", "old footage", "archival film",
                        "vintage film", "old photograph"),
    "night": ("dark", "night time", "low light", "at night", "city lights", "evening"),
    "crowd": ("crowd of people", "many people"),
    "group of people": ("people", "several people"),
    "cartoon": ("animation", "animated cartoon", "drawing", "animated film", "computer animation"),
    "clip art": ("drawing", "illustration", "cartoon", "icon"),
    "slides or document": ("presentation slides", "slideshow", "text document", "screenshot", "screen recording",
                           "web page", "computer screen"),
    "outer space": ("space", "stars", "starry sky", "planet", "universe", "galaxy"),
    "underwater": ("under water", "underwater scene", "ocean", "fish", "aquarium", "diving"),
    "aerial view": ("aerial photo", "drone shot", "view from above", "bird's-eye view", "overhead view"),
    "indoors": ("indoor", "inside", "interior", "room"),
    "outdoors": ("outdoor", "outside", "open air", "nature"),
    "security camera": ("CCTV", "surveillance camera", "surveillance footage", "fixed camera", "static camera"),
    "qr code": ("QR code", "QR", "scan code", "2D code"),
}

# Labels that fire almost everywhere count less (in a frame's embedding and in query-label matching).
DOWNWEIGHT: dict[str, float] = {"person": 0.35, "indoors": 0.5, "outdoors": 0.5}


def _load_vocab() -> list[dict[str, Any]]:
    text = resources.files("framedex.models").joinpath("data/imagenet_vocab.json").read_text()
    vocab: list[dict[str, Any]] = json.loads(text)
    return vocab


# --- tagger -----------------------------------------------------------------------------------------


class EfficientNetSsdTagger:
    """`ImageTagger`: EfficientNet-Lite3 int8 ImageNet top-k + 1280-d feature, SSD COCO objects,
    and image attributes."""

    feature_dim = 1280

    def __init__(
        self,
        effnet_dir: str | Path,
        ssd_dir: str | Path,
        *,
        threads: int = 2,
        top_k: int = 5,
        detection_threshold: float = 0.4,
        name: str = "efficientnet-lite3+ssd-mobilenet-v2",
    ) -> None:
        import cv2
        from ai_edge_litert.interpreter import Interpreter

        self.name = name
        self.top_k = top_k
        self.detection_threshold = detection_threshold
        effnet_dir, ssd_dir = Path(effnet_dir), Path(ssd_dir)
        self._vocab = _load_vocab()
        labels = (effnet_dir / "efficientnet_labels.txt").read_text().splitlines()
        if len(labels) != 1000 or labels[0].split(",")[0] != "tench":
            raise ValueError("unexpected EfficientNet label file")
        self._names = [v["name"] for v in self._vocab]

        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # preserve_all_tensors "debugging only" warning
            self._interp: Any = Interpreter(
                str(effnet_dir / "efficientnet_lite3.tflite"),
                num_threads=threads,
                experimental_preserve_all_tensors=True,
            )
        self._interp.allocate_tensors()
        inp = self._interp.get_input_details()[0]
        self._in_index = inp["index"]
        self._in_size = (int(inp["shape"][2]), int(inp["shape"][1]))  # (w, h) = (280, 280)
        out = self._interp.get_output_details()[0]
        self._out_index = out["index"]
        self._out_scale, self._out_zero = out["quantization"]
        feat = [d for d in self._interp.get_tensor_details() if d["name"].endswith("head/AvgPool")]
        if not feat:
            raise ValueError("pooled feature tensor head/AvgPool not found in the EfficientNet model")
        self._feat_index = feat[0]["index"]
        self._feat_scale, self._feat_zero = feat[0]["quantization"]

        cv2.setNumThreads(threads)
        self._net: Any = cv2.dnn.readNetFromTensorflow(
            str(ssd_dir / "frozen_inference_graph.pb"), str(ssd_dir / "ssd_mobilenet_v2_coco_2018_03_29.pbtxt")
        )
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> EfficientNetSsdTagger:
        return cls(
            packs.ensure(settings, "efficientnet-lite3"),
            packs.ensure(settings, "ssd-mobilenet-v2-coco"),
            threads=settings.model_threads,
        )

    def classify(self, image: ImageArray) -> tuple[FloatArray, FloatArray]:
        """(1000 ImageNet probabilities, L2-normalised 1280-d pooled feature) of an RGB image."""
        import cv2

        x = cv2.resize(_rgb(image), self._in_size, interpolation=cv2.INTER_AREA)
        with self._lock:
            self._interp.set_tensor(self._in_index, x[None].astype(np.uint8))
            self._interp.invoke()
            raw = self._interp.get_tensor(self._out_index)[0].astype(np.float32)
            feat = self._interp.get_tensor(self._feat_index).reshape(-1).astype(np.float32)
        probs = (raw - self._out_zero) * self._out_scale
        feature = (feat - self._feat_zero) * self._feat_scale
        return probs.astype(np.float32), l2_normalize(feature)

    def detect(self, image: ImageArray) -> list[Detection]:
        import cv2

        blob = cv2.dnn.blobFromImage(_rgb(image), size=(300, 300), swapRB=False)
        with self._lock:
            self._net.setInput(blob)
            out = self._net.forward()
        dets = []
        for row in out.reshape(-1, 7):
            score = float(row[2])
            label = COCO90.get(int(row[1]))
            if score < self.detection_threshold or label is None:
                continue
            x1, y1, x2, y2 = (float(np.clip(v, 0.0, 1.0)) for v in row[3:7])
            if x2 <= x1 or y2 <= y1:
                continue
            dets.append(Detection(label=label, score=score, box=(x1, y1, x2, y2)))
        dets.sort(key=lambda d: -d.score)
        return dets

    @staticmethod
    def attributes(image: ImageArray, counts: dict[str, int], detections: Sequence[Detection] = (),
                   labels: Sequence[Label] = ()) -> list[str]:
        """Words for what the classifiers do not say: the look and the place of the frame (`SceneRules`: cartoon,
        black and white, night, slides or document, indoors, ...), crowds, how many of an object there are
        ("two dog") and an object's colour ("white dog", "red car")."""
        probs: dict[str, float] = {}
        for lab in labels:
            probs[lab.name] = probs.get(lab.name, 0.0) + lab.score
        attrs = scene_rules().words(scene_stats(image), probs, counts, detections)
        if shows_qr_code(image):
            attrs.append("qr code")
        grey = "black and white" in attrs
        people = counts.get("person", 0)
        if people >= 5:
            attrs.append("crowd")
        elif people >= 2:
            attrs.append("group of people")
        for label, n in counts.items():
            if 2 <= n <= len(_NUMBER_WORDS) + 1 and label != "person":
                attrs.append(f"{_NUMBER_WORDS[n - 2]} {label}")
        if not grey:  # in a black-and-white picture every object is "grey"
            named: set[tuple[str, str]] = set()
            for d in detections:
                if d.label == "person":  # the middle of a person is a face as often as clothes
                    continue
                colour = object_colour(image, d.box)
                if colour and (colour, d.label) not in named:
                    named.add((colour, d.label))
                    attrs.append(f"{colour} {d.label}")
        return attrs

    def tag(self, images: list[ImageArray]) -> list[FrameTags]:
        out = []
        for image in images:
            probs, feature = self.classify(image)
            order = np.argsort(-probs)[: self.top_k]
            labels = [Label(self._names[i], float(probs[i])) for i in order if probs[i] > 0]
            dets = self.detect(image)
            counts: dict[str, int] = {}
            for d in dets:
                counts[d.label] = counts.get(d.label, 0) + 1
            out.append(
                FrameTags(
                    labels=labels,
                    detections=dets,
                    counts=counts,
                    attributes=self.attributes(image, counts, dets, labels),
                    feature=feature,
                )
            )
        return out

    def close(self) -> None:
        self._interp = None
        self._net = None


_NUMBER_WORDS = ("two", "three", "four", "five")

# HSV hue ranges (OpenCV: hue 0-180) of the basic colour words
_HUES = ((0, 8, "red"), (8, 20, "orange"), (20, 33, "yellow"), (33, 85, "green"), (85, 130, "blue"),
         (130, 150, "purple"), (150, 170, "pink"), (170, 181, "red"))


def shows_qr_code(image: ImageArray) -> bool:
    """True when a QR code in the picture decodes. Finding its three corner squares is not enough: that search
    alone fired on 34 of 1,127 real frames with no code (text pages, slides, a map); a decoded payload, on none
    of them (docs/scenes.md)."""
    import cv2

    grey = cv2.cvtColor(_rgb(image), cv2.COLOR_RGB2GRAY)
    try:
        payload = cv2.QRCodeDetector().detectAndDecode(grey)[0]
    except cv2.error:  # corner squares in a degenerate (zero-area) layout: no code
        return False
    return bool(payload)


def object_colour(image: ImageArray, box: tuple[float, float, float, float], share: float = 0.4) -> str | None:
    """The basic colour word of most of the middle of a detection box (the edges are mostly background), or
    None when no colour holds `share` of it."""
    import cv2

    rgb = _rgb(image)
    h, w = rgb.shape[:2]
    x1, y1, x2, y2 = box
    cx1, cx2 = x1 + 0.25 * (x2 - x1), x2 - 0.25 * (x2 - x1)
    cy1, cy2 = y1 + 0.25 * (y2 - y1), y2 - 0.25 * (y2 - y1)
    region = rgb[int(cy1 * h):max(int(cy2 * h), int(cy1 * h) + 1), int(cx1 * w):max(int(cx2 * w), int(cx1 * w) + 1)]
    if region.size == 0:
        return None
    small = cv2.resize(region, (24, 24), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV).reshape(-1, 3).astype(np.int32)
    hue, sat, val = hsv[:, 0], hsv[:, 1], hsv[:, 2]
    names = np.full(len(hsv), "", dtype=object)
    names[(sat < 50) & (val >= 150)] = "white"
    names[(sat < 50) & (val >= 75) & (val < 150)] = "grey"
    coloured = (sat >= 50) & (val >= 75)
    for lo, hi, name in _HUES:
        names[coloured & (hue >= lo) & (hue < hi)] = name
    names[coloured & (hue < 20) & (val < 150)] = "brown"  # dark orange and dark red
    names[val < 75] = "black"
    words, counts = np.unique(names[names != ""], return_counts=True)
    if not len(counts) or counts.max() < share * len(names):
        return None
    return str(words[int(np.argmax(counts))])


def _rgb(image: ImageArray) -> ImageArray:
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"expected an RGB image (H, W, 3), got shape {image.shape}")
    return np.ascontiguousarray(image[..., :3], dtype=np.uint8)


# --- scene and style words ---------------------------------------------------------------------------
#
# ImageNet and COCO have no words for how a frame looks or where it was taken (a cartoon, a slide, night,
# under water, from the air, a fixed security camera). Each of these is decided from a few cheap image
# statistics (one downscaled copy of the frame, a few ms) and from what the classifiers already said, with
# thresholds picked on the labelled real frames of eval/scenes.py (docs/scenes.md has the precision/recall).

SCENE_SIDE = 256  # the statistics are computed on a copy whose longer side is this
TEXT_SIDE = 512  # the text proxy needs strokes a few pixels high
PLAIN_FRAME = 0.97  # one colour holds this share of a frame: blank (clip art on white reaches about 0.95)
TEXT_MIN_PALETTE = 0.7  # text is only looked for on frames painted with few colours (slides, pages, screens)


def _imagenet_names(indices: Sequence[int]) -> frozenset[str]:
    vocab = _load_vocab()
    return frozenset(vocab[i]["name"] for i in indices)


# ImageNet classes that speak for a scene (by class index, so renaming a class in the vocabulary is harmless)
_SCREEN_CLASSES = (916, 918, 921, 922, 664, 782, 781)  # website, crossword, dust jacket, menu, monitors, scoreboard
_UNDERWATER_CLASSES = (0, 1, 2, 3, 4, 5, 6, 107, 108, 109, 115, 147, 148, 149, 327, 390, 391, 392, 393, 394, 395,
                       396, 397, 973, 983, 801)
_SPACE_CLASSES = (727, 812, 755)  # planetarium, space shuttle, radio telescope
_AERIAL_CLASSES = (970, 972, 975, 976, 977, 978, 979, 980, 460, 525, 404, 908, 895, 405)
_INDOOR_CLASSES = (424, 453, 454, 508, 526, 527, 532, 553, 564, 598, 624, 664, 681, 736, 762, 765, 782, 831, 846,
                   851, 857, 861, 876, 896, 904, 905, 819, 520, 516, 493, 492, 648, 760, 582, 509, 799, 590, 620)
_OUTDOOR_CLASSES = (970, 971, 972, 974, 975, 976, 977, 978, 979, 980, 449, 460, 525, 718, 839, 821, 888, 437, 483,
                    497, 698, 706, 825, 912, 919, 920, 425, 536, 562, 663, 668, 733, 757, 779, 817, 864, 867, 874,
                    671, 717, 656, 436, 468, 511, 609, 751, 803, 404, 405, 895,
                    *range(7, 25), *range(80, 101), *range(127, 147), *range(269, 300), 102, 103, 104, 105, 106,
                    *range(330, 332), *range(333, 357), *range(365, 385), 385, 386, 387)  # + wild animals, birds
_INDOOR_OBJECTS = frozenset({"couch", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
                             "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase",
                             "chair", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "teddy bear",
                             "hair drier", "toothbrush", "potted plant"})
_OUTDOOR_OBJECTS = frozenset({"car", "bus", "truck", "traffic light", "stop sign", "fire hydrant", "parking meter",
                              "bench", "bicycle", "motorcycle", "airplane", "train", "boat", "horse", "sheep", "cow",
                              "elephant", "bear", "zebra", "giraffe", "kite", "surfboard", "skis", "snowboard",
                              "umbrella"})


BW_MIN_MID = 0.3


def scene_stats(image: ImageArray) -> dict[str, float]:
    """Cheap statistics of how a frame looks, each in [0, 1] unless said otherwise:

    * ``sat``, ``val``: mean HSV saturation and brightness; ``dark``: share of nearly black pixels;
    * ``colour``: colourfulness (Hasler & Süsstrunk 2003: spread of the opponent channels R-G and (R+G)/2-B);
    * ``flat``: share of pixels whose 3x3 neighbourhood has (almost) no gradient;
    * ``palette``: share of the pixels held by the 8 most common colours (4 bits per channel): drawings,
      clip art and screens are painted with a few colours, photos with thousands; ``plain``: the share of the
      most common colour alone (a blank or faded-out frame is one colour);
    * ``lights``: small bright spots on a dark frame (city lights, stars), per 10k pixels;
    * ``blue_green``: how much the blue and green channels outweigh red (water absorbs red first);
    * ``sky``: share of the top fifth that is smooth and sky-coloured (blue, or bright and colourless);
    * ``green``: share of vegetation-green pixels (grass, leaves);
    * ``mid``: share of mid-grey pixels (brightness 0.2-0.8): a photograph spreads over the grey scale, a
      terminal or a dark render is mostly black with a few light marks;
    * ``text``: small high-contrast marks that line up in rows (OCR-free text density, `text_density`), only
      looked for on frames with ``palette`` >= TEXT_MIN_PALETTE (else 0).
    """
    import cv2

    rgb = _rgb(image)
    h, w = rgb.shape[:2]
    s = SCENE_SIDE / max(h, w)
    small = cv2.resize(rgb, (max(8, round(w * s)), max(8, round(h * s))), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    sat = hsv[..., 1].astype(np.float32) / 255.0
    val = hsv[..., 2].astype(np.float32) / 255.0
    f = small.astype(np.float32)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    rg, yb = r - g, 0.5 * (r + g) - b
    colour = (float(np.hypot(rg.std(), yb.std())) + 0.3 * float(np.hypot(rg.mean(), yb.mean()))) / 255.0
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    gx = cv2.Sobel(grey, cv2.CV_16S, 1, 0, ksize=1)
    gy = cv2.Sobel(grey, cv2.CV_16S, 0, 1, ksize=1)
    flat = float(((np.abs(gx) + np.abs(gy)) <= 2).mean())
    q = np.right_shift(np.asarray(small, dtype=np.uint8), 4).astype(np.int32)
    codes = (q[..., 0] << 8) | (q[..., 1] << 4) | q[..., 2]
    counts = np.bincount(codes.ravel(), minlength=4096)
    palette = float(np.sort(counts)[-8:].sum()) / codes.size
    plain = float(counts.max()) / codes.size
    dark = float((val < 0.12).mean())
    lights = 0.0
    if dark > 0.4:
        bright = (grey > 160).astype(np.uint8)
        n, _, st, _ = cv2.connectedComponentsWithStats(bright, connectivity=8)
        spots = int(((st[1:, cv2.CC_STAT_AREA] <= 12)).sum()) if n > 1 else 0
        lights = spots * 10000.0 / grey.size
    mean_r, mean_g, mean_b = float(r.mean()), float(g.mean()), float(b.mean())
    blue_green = (0.5 * (mean_g + mean_b) - mean_r) / max(1.0, 0.5 * (mean_g + mean_b) + mean_r)
    top = hsv[: max(1, small.shape[0] // 5)]
    top_grad = (np.abs(gx) + np.abs(gy))[: top.shape[0]]
    hue, tsat, tval = top[..., 0].astype(np.int32), top[..., 1].astype(np.int32), top[..., 2].astype(np.int32)
    skyish = (((hue >= 90) & (hue <= 130) & (tsat > 40) & (tval > 110)) | ((tsat < 30) & (tval > 190)))
    sky = float((skyish & (top_grad < 12)).mean())
    allhue = hsv[..., 0]
    green = float(((allhue >= 35) & (allhue <= 85) & (hsv[..., 1] > 60) & (hsv[..., 2] > 40)).mean())
    mid = float(((val >= 0.2) & (val <= 0.8)).mean())
    return {"sat": float(sat.mean()), "val": float(val.mean()), "dark": dark, "colour": colour, "flat": flat,
            "mid": mid,
            "palette": palette, "plain": plain, "lights": lights, "blue_green": blue_green, "sky": sky, "green": green,
            "text": text_density(rgb) if palette >= TEXT_MIN_PALETTE else 0.0}


def text_density(image: ImageArray) -> float:
    """Small high-contrast marks (letter-sized blobs that differ from their surroundings) that share a baseline
    with at least three others, per 10k pixels of a copy whose longer side is TEXT_SIDE: lines of text on slides,
    documents and screens give hundreds; photos give few, because their small blobs do not line up."""
    import cv2

    rgb = _rgb(image)
    h, w = rgb.shape[:2]
    s = min(1.0, TEXT_SIDE / max(h, w))
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if s < 1.0:
        grey = cv2.resize(grey, (max(8, round(w * s)), max(8, round(h * s))), interpolation=cv2.INTER_AREA)
    local = cv2.blur(grey, (9, 9))
    ink = (np.abs(grey.astype(np.int16) - local.astype(np.int16)) > 40).astype(np.uint8)
    n, _, st, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    if n <= 1:
        return 0.0
    st = st[1:]
    bw, bh, area = st[:, cv2.CC_STAT_WIDTH], st[:, cv2.CC_STAT_HEIGHT], st[:, cv2.CC_STAT_AREA]
    letter = (bh >= 3) & (bh <= 18) & (bw <= 24) & (area >= 4)
    if letter.sum() < 4:
        return 0.0
    bottoms = (st[letter, cv2.CC_STAT_TOP] + bh[letter]) // 3
    rows = np.bincount(bottoms)
    lined = int(rows[rows >= 4].sum())
    return lined * 10000.0 / grey.size


def _prob(probs: dict[str, float], names: frozenset[str]) -> float:
    return sum(p for n, p in probs.items() if n in names)


class SceneRules:
    """Scene and style words from `scene_stats`, the classifier's top classes and the detected objects."""

    def __init__(self) -> None:
        self.screen = _imagenet_names(_SCREEN_CLASSES)
        self.underwater = _imagenet_names(_UNDERWATER_CLASSES)
        self.space = _imagenet_names(_SPACE_CLASSES)
        self.aerial = _imagenet_names(_AERIAL_CLASSES)
        self.indoor = _imagenet_names(_INDOOR_CLASSES)
        self.outdoor = _imagenet_names(_OUTDOOR_CLASSES)

    def words(self, st: dict[str, float], probs: dict[str, float], counts: dict[str, int],
              detections: Sequence[Detection] = ()) -> list[str]:
        out: list[str] = []
        if st["plain"] >= PLAIN_FRAME:  # one colour: a blank frame (a fade, a colour card) has no style and no
            if st["text"] >= 3.0:  # scene, unless a few lines of text sit on it (a terminal, a title)
                out.append("slides or document")
            return out
        # a page of text, a slide or a screen: the classifier says "website"/"menu"/..., or lines of small marks
        # on a frame painted with few colours
        text = _prob(probs, self.screen) >= 0.2 or (st["text"] >= 8.0 and st["palette"] >= 0.75 and st["flat"] >= 0.4)
        if text:
            out.append("slides or document")
        # drawn, not photographed: clip art is a few flat colours on a bright background; a cartoon has large
        # flat regions of strong colour (a photo's surfaces carry texture and noise) and the classifier is not
        # sure it sees a real object (a pool table or a power drill photographed in strong light is)
        clip_art = not text and st["flat"] >= 0.6 and st["palette"] >= 0.85 and st["val"] >= 0.7
        sure = max(probs.values(), default=0.0) >= 0.8
        cartoon = clip_art or (not text and not sure and st["flat"] >= 0.35 and st["colour"] >= 0.2)
        if cartoon:
            out.append("cartoon")
        if clip_art:
            out.append("clip art")
        # no colour at all, over a spread of greys (a colourless slide or page is a document, a colourless drawing
        # is clip art, a colourless frame that is mostly black is a terminal or a dark render)
        colourless = st["sat"] < 0.07 and st["colour"] < 0.04
        grey = colourless and st.get("mid", 1.0) >= BW_MIN_MID
        if grey and not (text or clip_art):
            out.append("black and white")
        # dark and not colourless (a colourless dark frame is a terminal or a fade to black), or black with lights
        if not (text or colourless) and (st["val"] < 0.22 or (st["dark"] > 0.4 and st["lights"] > 1.0)):
            out.append("night")
        # black with small bright points (stars, city lights seen from orbit)
        if not text and (_prob(probs, self.space) >= 0.3 or (st["dark"] > 0.6 and st["lights"] > 1.0)):
            out.append("outer space")
        if text or cartoon:
            return out
        # the rest only for camera pictures
        if _prob(probs, self.underwater) >= 0.4 or (st["blue_green"] > 0.35 and st["dark"] < 0.4):
            out.append("underwater")
        if _prob(probs, self.aerial) >= 0.4 and not counts.get("person"):
            out.append("aerial view")
        indoor = _prob(probs, self.indoor) + 0.3 * sum(1 for o in counts if o in _INDOOR_OBJECTS)
        outdoor = _prob(probs, self.outdoor) + 0.3 * sum(1 for o in counts if o in _OUTDOOR_OBJECTS) \
            + (0.5 if st["sky"] > 0.5 else 0.0) + (0.5 if st["green"] > 0.2 else 0.0)
        if outdoor >= 0.3 and outdoor > indoor:
            out.append("outdoors")
        elif indoor >= 0.3 and indoor > outdoor:
            out.append("indoors")
        return out


@functools.lru_cache(maxsize=1)
def scene_rules() -> SceneRules:
    return SceneRules()


# Words after which a frame is not a camera picture (no "security camera" on a still slide or a cartoon).
NOT_CAMERA = frozenset({"slides or document", "cartoon", "clip art"})
FIXED_CAMERA_STILL = 0.04  # a tiny-frame pixel that changed less than this (0..1) stayed put
FIXED_CAMERA_SHARE = 0.85  # ... and this share of the picture stayed put: the camera did not move
FIXED_CAMERA_MOVING = 0.003  # ... while at least this share changed: something moves (not a still image)


SECURITY_MAX_PERSON = 0.2  # a person filling more of the frame than this is an interview or a webcam, not CCTV


def security_camera_view(words: Sequence[str], detections: Sequence[Detection]) -> bool:
    """Whether a frame that a fixed camera took (`fixed_camera`) looks like surveillance footage: a camera
    picture (not a slide or a drawing) in which no person fills much of the frame (a talking head is filmed by a
    fixed camera too)."""
    if NOT_CAMERA.intersection(words):
        return False
    return all((d.box[2] - d.box[0]) * (d.box[3] - d.box[1]) <= SECURITY_MAX_PERSON
               for d in detections if d.label == "person")


def tiny_grey(image: ImageArray) -> FloatArray:
    """A 64x36 grey copy of a frame (0..1), slightly blurred, for cheap frame comparisons."""
    import cv2

    grey = cv2.cvtColor(_rgb(image), cv2.COLOR_RGB2GRAY)
    tiny = cv2.resize(grey, (64, 36), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(tiny, (3, 3), 0).astype(np.float32) / 255.0


def fixed_camera(tinies: Sequence[FloatArray]) -> list[bool]:
    """For consecutive sampled frames of one shot (`tiny_grey`), whether each was filmed by a camera that stays
    put while something in front of it moves (surveillance, a fixed webcam): compared with a neighbouring frame,
    most of the picture is unchanged but not all of it. A still picture (a slide, a photo shown for a while)
    changes nowhere and is not a fixed camera; a moving camera changes almost everywhere."""
    n = len(tinies)
    pairs: list[tuple[float, float]] = []  # (share still, share changed) between frame i and i+1
    for a, b in itertools.pairwise(tinies):
        diff = np.abs(a - b)
        pairs.append((float((diff < FIXED_CAMERA_STILL).mean()), float((diff >= 2 * FIXED_CAMERA_STILL).mean())))
    out = []
    for i in range(n):
        near = [pairs[j] for j in (i - 1, i) if 0 <= j < len(pairs)]
        if not near:
            out.append(False)
            continue
        still = min(p[0] for p in near) >= FIXED_CAMERA_SHARE
        moving = max(p[1] for p in near) >= FIXED_CAMERA_MOVING
        out.append(still and moving)
    return out


# --- ConSE encoder -----------------------------------------------------------------------------------


class ConseVisionEncoder:
    """`VisionEncoder` in the text space: frames become the weighted mean of label-text embeddings."""

    imagenet_min_prob = 0.03
    detection_weight = 0.6
    attribute_weight = 0.35

    def __init__(self, tagger: ImageTagger, text: TextEmbedder, cache_dir: str | Path | None = None) -> None:
        self.tagger = tagger
        self.text = text
        self.dim = text.dim
        self.name = f"conse({tagger.name}->{text.name})"
        vocab = _load_vocab()
        self._by_name: dict[str, list[int]] = {}
        for v in vocab:
            self._by_name.setdefault(v["name"], []).append(int(v["index"]))
        # class -> [(phrase, weight)]: the plain name counts most; synonyms and hypernyms add recall
        groups: dict[str, list[tuple[str, float]]] = {}
        for v in vocab:
            terms = [(v["name"], 1.0)]
            terms += [(s, 0.3) for s in v["synonyms"][:2]]
            terms += [(h, 0.6 if i == 0 else 0.4) for i, h in enumerate(v["hypernyms"][:4])]
            terms += [(h, 0.25) for h in v["hints"]]
            groups[f"in:{v['index']}"] = terms
        for label in COCO90.values():
            groups[f"coco:{label}"] = [(label, 1.0)] + [(t, 0.4) for t in COCO_TERMS.get(label, ())]
        for attr, extra in ATTRIBUTE_TERMS.items():
            groups[f"attr:{attr}"] = [(attr, 1.0)] + [(t, 0.5) for t in extra]
        self._keys = list(groups)
        self._index = {k: i for i, k in enumerate(self._keys)}
        self._vectors = self._class_vectors(groups, cache_dir)

    def _class_vectors(self, groups: dict[str, list[tuple[str, float]]], cache_dir: str | Path | None) -> FloatArray:
        spec = json.dumps([self.text.name, self.text.dim, groups], sort_keys=True).encode()
        digest = hashlib.sha256(spec).hexdigest()[:16]
        cache = Path(cache_dir) / f"conse-vision-{digest}.npy" if cache_dir else None
        return label_matrix(list(groups.values()), self.text, cache)

    def terms_of(self, tags: FrameTags) -> list[Label]:
        """The weighted words that make up a frame's embedding."""
        weights: dict[str, float] = {}
        for lab in tags.labels:
            if lab.score >= self.imagenet_min_prob:
                weights[lab.name] = weights.get(lab.name, 0.0) + lab.score
        best: dict[str, float] = {}
        for d in tags.detections:
            best[d.label] = max(best.get(d.label, 0.0), d.score)
        for label, score in best.items():
            w = score * self.detection_weight * DOWNWEIGHT.get(label, 1.0)
            weights[label] = weights.get(label, 0.0) + w
        for attr in tags.attributes:
            weights[attr] = weights.get(attr, 0.0) + self.attribute_weight * DOWNWEIGHT.get(attr, 1.0)
        return sorted((Label(k, v) for k, v in weights.items()), key=lambda lab: -lab.score)

    def embed_tags(self, tags: FrameTags) -> FloatArray:
        vec = np.zeros(self.dim, dtype=np.float32)
        for lab in tags.labels:
            idx = self._by_name.get(lab.name)
            if lab.score >= self.imagenet_min_prob and idx:
                rows = [self._index[f"in:{i}"] for i in idx]
                vec += lab.score * self._vectors[rows].mean(axis=0)
        best: dict[str, float] = {}
        for d in tags.detections:
            best[d.label] = max(best.get(d.label, 0.0), d.score)
        for label, score in best.items():
            w = score * self.detection_weight * DOWNWEIGHT.get(label, 1.0)
            vec += w * self._vectors[self._index[f"coco:{label}"]]
        for attr in tags.attributes:
            key = f"attr:{attr}"
            if key in self._index:
                vec += self.attribute_weight * DOWNWEIGHT.get(attr, 1.0) * self._vectors[self._index[key]]
        if not np.any(vec):
            return vec  # nothing recognised: a zero vector matches nothing
        return l2_normalize(vec)

    def embed_images(self, images: list[ImageArray]) -> FloatArray:
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self.embed_tags(t) for t in self.tagger.tag(images)])

    def embed_text(self, texts: list[str]) -> FloatArray:
        return self.text.embed(texts)


# --- CLIP / SigLIP from ONNX files -------------------------------------------------------------------

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class OnnxClipEncoder:
    """`VisionEncoder` from a two-tower CLIP/SigLIP export: an image ONNX (float pixels NCHW ->
    embeddings), a text ONNX (int64 token ids [, attention mask] -> embeddings) and the
    tokenizer.json of its text tower. Image size and context length are read from the models'
    input shapes when they are static."""

    def __init__(
        self,
        image_model: str | Path,
        text_model: str | Path,
        tokenizer: str | Path,
        *,
        threads: int = 2,
        image_size: int | None = None,
        context_length: int | None = None,
        mean: Sequence[float] = CLIP_MEAN,
        std: Sequence[float] = CLIP_STD,
        pad_id: int | None = None,
        name: str | None = None,
    ) -> None:
        from tokenizers import Tokenizer

        self.name = name or f"onnx-clip({Path(image_model).name})"
        self._img = ort_session(image_model, threads)
        self._txt = ort_session(text_model, threads)
        img_in = self._img.get_inputs()[0]
        self._img_input = img_in.name
        shape = img_in.shape
        self.image_size = image_size or (shape[2] if isinstance(shape[2], int) else 224)
        self._txt_inputs = [i.name for i in self._txt.get_inputs()]
        tshape = self._txt.get_inputs()[0].shape
        self.context_length = context_length or (tshape[1] if isinstance(tshape[1], int) else 77)
        self._mean = np.asarray(mean, dtype=np.float32).reshape(1, 3, 1, 1)
        self._std = np.asarray(std, dtype=np.float32).reshape(1, 3, 1, 1)
        self._tok = Tokenizer.from_file(str(tokenizer))
        self._tok.enable_truncation(self.context_length)
        pad = pad_id if pad_id is not None else (self._tok.padding or {}).get("pad_id", 0)
        self._tok.enable_padding(length=self.context_length, pad_id=int(pad))
        probe = self.embed_text(["probe"])
        self.dim = int(probe.shape[1])

    @classmethod
    def from_dir(cls, directory: str | Path, *, threads: int = 2) -> OnnxClipEncoder:
        """A directory holding ``image.onnx``, ``text.onnx`` and ``tokenizer.json`` (and optionally
        ``config.json`` with ``image_size``, ``context_length``, ``mean``, ``std``, ``pad_id``)."""
        d = Path(directory)
        cfg: dict[str, Any] = {}
        if (d / "config.json").is_file():
            raw = json.loads((d / "config.json").read_text())
            cfg = {k: raw[k] for k in ("image_size", "context_length", "mean", "std", "pad_id") if k in raw}
        return cls(d / "image.onnx", d / "text.onnx", d / "tokenizer.json", threads=threads, name=d.name, **cfg)

    def _preprocess(self, image: ImageArray) -> FloatArray:
        import cv2

        img: Any = _rgb(image)
        h, w = img.shape[:2]
        s = self.image_size / min(h, w)
        img = cv2.resize(img, (max(self.image_size, round(w * s)), max(self.image_size, round(h * s))))
        h, w = img.shape[:2]
        y, x = (h - self.image_size) // 2, (w - self.image_size) // 2
        crop = img[y : y + self.image_size, x : x + self.image_size]
        return crop.transpose(2, 0, 1).astype(np.float32) / 255.0

    @staticmethod
    def _first_matrix(outputs: list[Any]) -> FloatArray:
        for o in outputs:
            arr = np.asarray(o)
            if arr.ndim == 2:
                return arr.astype(np.float32)
        raise ValueError("the ONNX model has no (batch, dim) output")

    def embed_images(self, images: list[ImageArray]) -> FloatArray:
        if not images:
            return np.zeros((0, getattr(self, "dim", 0)), dtype=np.float32)
        x = (np.stack([self._preprocess(i) for i in images]) - self._mean) / self._std
        return l2_normalize(self._first_matrix(self._img.run(None, {self._img_input: x.astype(np.float32)})))

    def embed_text(self, texts: list[str]) -> FloatArray:
        encs = self._tok.encode_batch(texts)
        ids = np.array([e.ids for e in encs], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encs], dtype=np.int64)
        feeds = {}
        for name in self._txt_inputs:
            feeds[name] = mask if "mask" in name else ids
        return l2_normalize(self._first_matrix(self._txt.run(None, feeds)))

    def close(self) -> None:
        self._img = None
        self._txt = None


# --- frames: tags + embedding -----------------------------------------------------------------------


class TaggingFrameAnalyzer:
    """`FrameAnalyzer`: the tagger's tags plus the encoder's embedding for each frame."""

    def __init__(self, tagger: ImageTagger, encoder: VisionEncoder) -> None:
        self.tagger = tagger
        self.encoder = encoder
        self.name = encoder.name
        self.dim = encoder.dim

    def analyze(self, images: list[ImageArray]) -> list[FrameAnalysis]:
        tags = self.tagger.tag(images)
        if isinstance(self.encoder, ConseVisionEncoder):
            conse = self.encoder
            return [FrameAnalysis(t, conse.embed_tags(t), conse.terms_of(t)) for t in tags]
        emb = self.encoder.embed_images(images)
        out = []
        for t, e in zip(tags, emb, strict=True):
            terms = [Label(lab.name, lab.score) for lab in t.labels]
            terms += [Label(d.label, d.score) for d in t.detections]
            terms += [Label(a, 1.0) for a in t.attributes]
            out.append(FrameAnalysis(t, e, terms))
        return out
