"""Precision and recall of the scene and style words (models/vision.py `SceneRules`) on labelled real frames.

    .venv/bin/python -m eval.scenes            # prints the table (dev and held) and the cost per frame

The frames are the real pictures of shared/media (images/, real2/images/, real2/slides/) and frames taken at
1 fps from the real videos (real2/video/, video/), each brought to what ingest stores (longer side 640, JPEG
quality 90). What each shows comes from real2/GROUNDTRUTH.md (the composite chapters video is left out: it only
repeats the others). Every label of a frame is True (shows it), False (does not) or None (unclear: not
counted), for example the dark hangar of Planet Blupi is neither night nor not night.

Each *source* (one picture, one video) is wholly in `dev` (used to pick the thresholds) or `held` (reported).
The classifier outputs are cached in ~/.cache/framedex/scenes-eval (the frames too), so re-runs are cheap.
"""

from __future__ import annotations

import argparse
import io
import pickle
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "media"
CACHE = Path.home() / ".cache" / "framedex" / "scenes-eval"
MAX_SIDE = 640

LABELS = ("cartoon", "clip art", "black and white", "night", "outer space", "underwater", "aerial view",
          "indoors", "outdoors", "crowd", "slides or document", "security camera", "qr code")
# Labels that only make sense for camera pictures: not judged on drawings, screens and slides.
PHOTO_ONLY = ("indoors", "outdoors", "aerial view", "underwater", "security camera")

Truth = dict[str, bool | None]


@dataclass
class Source:
    key: str
    split: str
    path: Path
    truth: Callable[[float], Truth]  # time (0 for a still) -> labels
    video: bool = False


def _fixed(**labels: bool | None) -> Callable[[float], Truth]:
    return lambda t: dict(labels)


def _photo(*pos: str, ignore: tuple[str, ...] = ()) -> Callable[[float], Truth]:
    return _fixed(**{_key(lab): True for lab in pos}, **{_key(lab): None for lab in ignore})


def _key(label: str) -> str:
    return label.replace(" ", "_")


def _norm(raw: Truth) -> Truth:
    """Keyword form (spaces as underscores) to label names; anything unnamed is False."""
    out: Truth = {lab: False for lab in LABELS}
    for k, v in raw.items():
        out[k.replace("_", " ")] = v
    return out


SCREEN = ("slides or document",)
NOT_PHOTO = {_key(lab): None for lab in PHOTO_ONLY}


def _screen(**extra: bool | None) -> Callable[[float], Truth]:
    return _fixed(**{"slides_or_document": True, "black_and_white": None, **NOT_PHOTO, **extra})


def _cartoon(clip_art: bool | None = None, **extra: bool | None) -> Callable[[float], Truth]:
    return _fixed(**{"cartoon": True, "clip_art": clip_art, **NOT_PHOTO, **extra})


def _blupi(t: float) -> Truth:
    truth: Truth = {"cartoon": True, "clip_art": None, **NOT_PHOTO}
    if t < 12.28 or 62.8 <= t < 67.84 or 89.84 <= t < 98.04:
        truth["night"] = None  # dark rooms, a ride in the dark
    if 10.9 <= t < 12.28:
        truth.update(cartoon=None, black_and_white=None)  # TV static
    if 98.04 <= t < 115.52:
        truth["crowd"] = True
    if t >= 115.52:
        truth.update(outer_space=True, night=None)
    return truth


def _blupi_robot(t: float) -> Truth:
    if t >= 10.9:
        return dict.fromkeys((_key(lab) for lab in LABELS), None)
    return {"cartoon": True, "clip_art": None, "night": None, **NOT_PHOTO}


def sources() -> list[Source]:
    img, r2 = SHARED / "images", SHARED / "real2"
    ri, rs, rv, v = r2 / "images", r2 / "slides", r2 / "video", SHARED / "video"
    out: list[Source] = []

    def add(key: str, split: str, path: Path, truth: Callable[[float], Truth], video: bool = False) -> None:
        out.append(Source(key, split, path, truth, video))

    # plain photos (colour, daytime): negatives for the styles; indoors/outdoors where clear
    for name, truth in {
        "baboon.jpg": _photo(ignore=("indoors", "outdoors")),
        "basketball1.png": _photo("black and white", "indoors"),
        "butterfly.jpg": _photo(ignore=("indoors", "outdoors")),
        "city_highway_IMG_1054.jpg": _photo("outdoors", ignore=("aerial view", "security camera")),
        "donna.jpg": _photo("outdoors"),
        "donna_2.jpg": _photo("indoors"),
        "fruits.jpg": _photo(ignore=("indoors", "outdoors")),
        "jesper.jpg": _photo(ignore=("indoors", "outdoors")),
        "jesper_2.jpg": _photo(ignore=("indoors", "outdoors")),
        "pool.jpg": _photo("indoors"),
        "spiff.jpg": _photo("outdoors"),
        "spiff_2.jpg": _photo("indoors"),
        "sunset.jpg": _photo("outdoors", ignore=("night",)),
        "two_samoyeds_grass_IMG_20200608_111614_1600px.jpg": _photo("outdoors"),
    }.items():
        add(f"images/{name}", "dev", img / name, truth)
    for name, split, truth in (
        ("aerial_coastline_skagen.jpg", "dev", _photo("aerial view", "outdoors")),
        ("aquarium_tank.jpg", "dev", _photo("underwater", "indoors")),
        ("archival_bw_solvay_conference_1927.jpg", "dev", _photo("black and white", "crowd",
                                                                   ignore=("indoors", "outdoors"))),
        ("bar_night_couple_indoor.jpg", "dev", _photo("night", "indoors")),
        ("christmas_dinner_table_night_1600px.jpg", "dev", _photo("night", "indoors")),
        ("clipart_crow_cc0.png", "dev", _cartoon(True)),
        ("clipart_hedgehog_cc0.png", "dev", _cartoon(True)),
        ("clipart_excavator_cc0.png", "held", _cartoon(True)),
        ("barcode_code128.png", "held", _fixed(**dict.fromkeys(
            ("cartoon", "clip_art", "black_and_white", "slides_or_document"), None), **NOT_PHOTO)),
        ("qrcode.png", "held", _fixed(**dict.fromkeys(
            ("cartoon", "clip_art", "black_and_white", "slides_or_document"), None), **NOT_PHOTO, qr_code=True)),
        ("beach_wading_las_vegas_sweatshirt.jpg", "held", _photo("outdoors")),
        ("billiards_pool_table_tilted_view.jpg", "held", _photo("indoors")),
        ("canyon_sunset_man_beanie.jpg", "held", _photo("outdoors", ignore=("night",))),
        ("cheetah_running_motion_blur.jpg", "held", _photo("outdoors")),
        ("circuit_board_closeup_labels_1600px.jpg", "held", _photo(ignore=("indoors", "outdoors"))),
        ("eiffel_tower_lit_dusk.jpg", "held", _photo("night", "outdoors")),
        ("lion_resting_on_rock.jpg", "held", _photo("outdoors")),
        ("painting_klimt_the_kiss.jpg", "held", _fixed(cartoon=None, clip_art=None, **NOT_PHOTO)),
        ("quokka.jpg", "held", _photo("outdoors")),
        ("samoyed_exif_orientation3_1600px.jpg", "held", _photo("indoors")),
        ("three_men_qt_logo_tattoos.jpg", "held", _photo("indoors")),
    ):
        add(f"real2/images/{name}", split, ri / name, truth)
    for p in sorted(rs.iterdir()):
        truth = _screen(night=None, outer_space=None) if "tug2001" in p.name else _screen()
        if "baiona" in p.name:
            truth = _screen(slides_or_document=None)
        add(f"real2/slides/{p.name}", "dev" if p.name.startswith(("beamer", "doc_scan", "doc_map")) else "held",
            p, truth)
    for name, split, truth in (
        ("planetblupi_cinematics_compilation_128s.mp4", "dev", _blupi),
        ("slides_beamer_conference_talk_168s.mp4", "dev", _screen()),
        ("gnome_display_settings_screencast_37s.webm", "dev", _screen()),
        ("clipart_objects_with_their_sounds_84s.mp4", "held", _cartoon(True)),
        ("pampi_cartoon_can_character_11s.mp4", "held", _cartoon(None, night=None, outer_space=None)),
        ("tupi_2d_cartoon_bird_10s.avi", "held", _cartoon(None)),
        ("planetblupi_robot_cinepak_12s.mkv", "held", _blupi_robot),
        ("slides_german_lecture_2s_per_slide_66s.mp4", "held", _screen()),
        ("slides_context_talks_quick_1to4s_30s.mp4", "held", _screen(night=None, outer_space=None)),
        ("document_scroll_wikipedia_en_de_52s.mp4", "held", _screen()),
        ("terminal_screencast_xterm_46s.mp4", "held", _screen()),
        ("gradio_greet_form_screencast_4s.mp4", "held", _screen()),
        ("thanks_for_watching_title_7s.mp4", "held", _fixed(slides_or_document=None, cartoon=None, clip_art=None,
                                                            night=None, outer_space=None, **NOT_PHOTO)),
        ("earth_at_night_rotating_30s.mp4", "held", _fixed(night=True, outer_space=True, **NOT_PHOTO)),
        ("archival_bw_solvay_1927_group_photo_pan_20s.mp4", "held", _photo("black and white", "crowd",
                                                                            ignore=("indoors", "outdoors"))),
        ("bw_desk_cube_tube_hand_9s.mp4", "held", _photo("black and white", "indoors",
                                                          ignore=("security camera",))),  # fixed? unclear
        ("multilingual_phone_prompts_fr_es_it_ru_131s.mp4", "held", _fixed(cartoon=None, clip_art=None,
                                                                           indoors=None, outdoors=None)),
    ):
        add(f"real2/video/{name}", split, rv / name, truth, video=True)
    for name, truth in (
        ("ball_throw_10s.mp4", _photo("security camera", "indoors")),
        ("jesper_talking_5s.avi", _photo("indoors")),
        ("lego_motor_6s.mp4", _photo(ignore=("indoors", "security camera"))),
        ("samoyed_dog_2s.mp4", _photo("indoors")),
        ("tree_hand_30s.avi", _photo("outdoors", ignore=("security camera",))),
    ):
        add(f"video/{name}", "dev", v / name, truth, video=True)
    return out


# --- frames ------------------------------------------------------------------------------------------


def _as_stored(rgb: np.ndarray) -> np.ndarray:
    """What the decode stage keeps of a frame: longer side at most 640, JPEG quality 90."""
    from PIL import Image

    picture = Image.fromarray(rgb)
    if max(picture.size) > MAX_SIDE:
        picture.thumbnail((MAX_SIDE, MAX_SIDE))
    buf = io.BytesIO()
    picture.save(buf, format="JPEG", quality=90)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def _still(path: Path) -> np.ndarray:
    from PIL import Image

    picture = Image.open(path)
    if picture.mode in ("RGBA", "LA", "P"):  # clip art: transparent parts on white, as the videos show them
        rgba = picture.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        picture = Image.alpha_composite(white, rgba)
    return _as_stored(np.asarray(picture.convert("RGB")))


def _video_frames(src: Source) -> list[tuple[float, np.ndarray]]:
    from PIL import Image

    d = CACHE / "frames" / src.path.stem
    if not d.is_dir() or not any(d.iterdir()):
        d.mkdir(parents=True, exist_ok=True)
        scale = f"scale='if(gt(iw,ih),min({MAX_SIDE},iw),-2)':'if(gt(iw,ih),-2,min({MAX_SIDE},ih))'"
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-threads", "1", "-i", str(src.path),
                        "-vf", f"fps=1,{scale}", "-q:v", "3", str(d / "%04d.jpg")], check=True)
    return [(float(i), np.asarray(Image.open(p).convert("RGB"))) for i, p in enumerate(sorted(d.glob("*.jpg")))]


@dataclass
class Frame:
    source: Source
    t: float
    image: np.ndarray
    truth: Truth


def frames(selected: list[Source]) -> list[Frame]:
    out = []
    for src in selected:
        if src.video:
            out += [Frame(src, t, im, _norm(src.truth(t))) for t, im in _video_frames(src)]
        else:
            out.append(Frame(src, 0.0, _still(src.path), _norm(src.truth(0.0))))
    return out


# --- predictions -------------------------------------------------------------------------------------


def _tags(tagger: Any, fr: Frame) -> Any:
    """The classifier and detector outputs of a frame (cached on disk)."""
    key = f"{fr.source.key}@{fr.t:.1f}".replace("/", "_")
    path = CACHE / "tags" / f"{key}.pkl"
    if path.is_file():
        return pickle.loads(path.read_bytes())
    labels = tagger.classify(fr.image)[0]
    order = np.argsort(-labels)[: tagger.top_k]
    from framedex.models.base import Label

    out = ([Label(tagger._names[i], float(labels[i])) for i in order if labels[i] > 0], tagger.detect(fr.image))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(out))
    return out


def predict(frames_: list[Frame]) -> tuple[list[set[str]], float, float]:
    """Scene words per frame, and the mean CPU ms per frame (process time, all threads) of the attributes
    (statistics, rules, object colours) and of the fixed-camera check."""
    from framedex.config import Settings
    from framedex.models.vision import EfficientNetSsdTagger, fixed_camera, security_camera_view, tiny_grey

    tagger = EfficientNetSsdTagger.from_settings(Settings())
    preds: list[set[str]] = []
    spent = 0.0
    for fr in frames_:
        labels, dets = _tags(tagger, fr)
        counts: dict[str, int] = {}
        for d in dets:
            counts[d.label] = counts.get(d.label, 0) + 1
        t0 = time.process_time()
        attrs = tagger.attributes(fr.image, counts, dets, labels)
        spent += time.process_time() - t0
        preds.append(set(attrs))
    # the fixed-camera check of the visual stage: over the frames of each video (one shot per video here)
    motion_spent = 0.0
    by_source: dict[str, list[int]] = {}
    for i, fr in enumerate(frames_):
        if fr.source.video:
            by_source.setdefault(fr.source.key, []).append(i)
    for idx in by_source.values():
        t0 = time.process_time()
        tinies = [tiny_grey(frames_[i].image) for i in idx]
        flags = fixed_camera(tinies)
        motion_spent += time.process_time() - t0
        for i, flag in zip(idx, flags, strict=True):
            labels, dets = _tags(tagger, frames_[i])
            if flag and security_camera_view(sorted(preds[i]), dets):
                preds[i].add("security camera")
    n = max(1, len(frames_))
    return preds, 1000 * spent / n, 1000 * motion_spent / n


def table(frames_: list[Frame], preds: list[set[str]], split: str) -> list[str]:
    rows = [f"| {split} | label | frames (+/-) | sources (+) | precision | recall |", "|---|---|---|---|---|---|"]
    for lab in LABELS:
        tp = fp = fn = pos = neg = 0
        pos_src: set[str] = set()
        for fr, pred in zip(frames_, preds, strict=True):
            if fr.source.split != split:
                continue
            truth = fr.truth.get(lab, False)
            if truth is None:
                continue
            hit = lab in pred
            if truth:
                pos += 1
                pos_src.add(fr.source.key)
                tp += hit
                fn += not hit
            else:
                neg += 1
                fp += hit
        prec = f"{tp / (tp + fp):.2f} ({tp}/{tp + fp})" if tp + fp else "-"
        rec = f"{tp / pos:.2f} ({tp}/{pos})" if pos else "-"
        rows.append(f"| {split} | {lab} | {pos}/{neg} | {len(pos_src)} | {prec} | {rec} |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--errors", action="store_true", help="list the frames each label gets wrong")
    ap.add_argument("--split", choices=("dev", "held", "all"), default="all")
    args = ap.parse_args()
    srcs = [s for s in sources() if args.split in ("all", s.split)]
    frs = frames(srcs)
    preds, ms, motion_ms = predict(frs)
    for split in ("dev", "held"):
        if args.split in ("all", split):
            print("\n".join(table(frs, preds, split)))
            print()
    print(f"{len(frs)} frames from {len(srcs)} sources; attributes (scene statistics + rules + object colours) "
          f"{ms:.1f} CPU ms/frame, fixed-camera check {motion_ms:.2f} CPU ms/frame")
    if args.errors:
        for lab in LABELS:
            wrong = [(fr, "FN" if fr.truth.get(lab) else "FP") for fr, p in zip(frs, preds, strict=True)
                     if fr.truth.get(lab) is not None and bool(fr.truth.get(lab)) != (lab in p)]
            if wrong:
                print(f"\n{lab}:")
                for fr, kind in wrong[:40]:
                    print(f"  {kind} {fr.source.split} {fr.source.key} t={fr.t:.0f}")


if __name__ == "__main__":
    main()
