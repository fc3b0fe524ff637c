"""Sound search on real recordings: are animals, vehicles, machines, alarms, instruments, nature and crowds
found by the words people use for them?

    python -m eval.sounds [--split all|dev|held] [-v] [--json OUT]

Every recording below (real ones from ``shared/media``: no generated tones) is tagged like ingest tags one clip
(`YamnetAudioTagger.tag`: its joint-space vector and its stored ``terms``), then each query is scored against
*all* recordings with the features search computes for the ``sounds`` source (`search_retrievers.sound_features`
when present: ``cos`` of the query vector, ``cos_expanded`` of the label-expanded query, ``match`` and
``best_label`` of the stored terms against the query's label relevance) and ranked by the calibrated probability
(`search_calibration.probability`), i.e. what an audio search would rank. A query is right at k when one of its
relevant recordings is in the top k.

Queries are what a user would type ("rooster", "cow mooing"), never the YAMNet class names verbatim. The split is
by origin of the recordings (a whole sound package is dev or held): tune on dev, report held.

* dev: ``sounds/`` (9), and the Wesnoth (9) and Freeciv (6) sound effects of ``real2/sounds``;
* held: the other ``real2/sounds`` (sonic-pi, sound-icons, freedesktop, gradio, qabcs: 15) and the 21 aligned
  sounds of ``real2/video/clipart_objects_with_their_sounds_84s.mp4`` (qabcs).

A recording longer than 10 s is cut to its middle 10 s (ingest tags clips of at most ~10 s); one shorter than
2 s gets 0.3 s of silence before it and is padded with silence to 2 s (the shortest clip of a video).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

SHARED = Path(os.environ.get("FRAMEDEX_TEST_MEDIA", Path(__file__).resolve().parents[2] / "shared" / "media"))
CLIPART = "real2/video/clipart_objects_with_their_sounds_84s.mp4"
SR = 16000


@dataclass(frozen=True)
class Rec:
    key: str
    path: str  # relative to SHARED
    split: str  # dev | held
    queries: tuple[str, ...]
    start: float | None = None  # a segment of a longer file
    end: float | None = None
    also: tuple[str, ...] = ()  # other recordings that are right answers to these queries too


def _r2(name: str) -> str:
    return f"real2/sounds/{name}"


PIANOS = ("piano", "grand_piano")
DRUMS = ("drums", "amen", "war_drums", "tabla")
GUNS = ("gunshot", "machine_gun")

RECORDINGS: tuple[Rec, ...] = (
    # --- dev: sounds/ ---
    Rec("dog_growl", "sounds/dog_growl.wav", "dev", ("dog growling", "angry dog snarling")),
    Rec("car_horn", "sounds/car_horn.wav", "dev", ("car horn", "honking car")),
    Rec("engine", "sounds/engine_loop.wav", "dev", ("engine running", "motor noise"), also=("tractor", "tank_tracks")),
    Rec("piano", "sounds/piano.wav", "dev", ("piano music", "someone playing the piano"), also=PIANOS),
    Rec("drums", "sounds/drums.wav", "dev", ("drummer playing", "drum set"), also=DRUMS),
    Rec("alarm", "sounds/alarm_clock.oga", "dev", ("alarm clock ringing", "wake up alarm")),
    Rec("phone", "sounds/phone_ringing.oga", "dev", ("telephone ringing", "phone call")),
    Rec("singing", "sounds/singing_lena_12s.flac", "dev", ("woman singing", "female vocalist")),
    Rec("amen", "sounds/sonicpi_loop_amen.flac", "dev", ("drum beat music", "breakbeat loop"), also=DRUMS),
    # --- dev: Wesnoth sound effects ---
    Rec("birds", _r2("birds_chirping_5s.ogg"), "dev", ("birds singing", "birdsong", "chirping birds"),
        also=("canary",)),
    Rec("campfire", _r2("campfire_crackling_10s.ogg"), "dev", ("campfire", "fire crackling", "burning logs")),
    Rec("night", _r2("night_ambience_6s.ogg"), "dev", ("crickets at night", "night insects chirping")),
    Rec("ship", _r2("ship_at_sea_ambience_10s.ogg"), "dev", ("ship at sea", "boat creaking on the waves")),
    Rec("war_drums", _r2("war_drums_15s.ogg"), "dev", ("war drums", "tribal drumming"), also=DRUMS),
    Rec("thunder", _r2("thunder_lightning_strike_4s.ogg"), "dev", ("thunderstorm", "thunder", "lightning strike")),
    Rec("horse_hooves", _r2("horse_hooves_canter_1s.wav"), "dev", ("horse galloping", "hooves", "horse"),
        also=("horse",)),
    Rec("wolf_growl", _r2("wolf_growl_1s.ogg"), "dev", ("wolf", "wild animal growling"), also=("wolf", "dog_growl")),
    Rec("rumble", _r2("earth_rumble_6s.ogg"), "dev", ("earthquake", "deep rumbling")),
    # --- dev: Freeciv sound effects ---
    Rec("gunshot", _r2("gunshot_0.4s.wav"), "dev", ("gunshot", "pistol shot", "gun firing"), also=GUNS),
    Rec("splash", _r2("water_splash_2s.ogg"), "dev", ("water splashing", "something falls into water")),
    Rec("tank_tracks", _r2("tank_tracks_4s.ogg"), "dev", ("tank driving", "tank tracks rolling")),
    Rec("machine_gun", _r2("machine_gun_heavy_2s.ogg"), "dev", ("machine gun fire", "automatic rifle burst"),
        also=GUNS),
    Rec("explosion", _r2("large_explosion_2s.ogg"), "dev", ("explosion", "bomb blast")),
    Rec("wood_breaking", _r2("wood_breaking_1s.ogg"), "dev", ("wood cracking", "breaking a branch")),
    Rec("orchestra", _r2("music_orchestral_fanfare_114s.ogg"), "dev", ("orchestra", "symphonic music",
                                                                       "brass fanfare")),
    # --- held: sonic-pi, sound-icons, freedesktop, gradio, qabcs recordings ---
    Rec("printer_3d", _r2("machine_3d_printer_8s.flac"), "held", ("3D printer", "printer motors whirring")),
    Rec("tabla", _r2("tabla_drum_loop_11s.flac"), "held", ("tabla", "indian hand drums"), also=DRUMS),
    Rec("guitar", _r2("guitar_harmonics_4s.flac"), "held", ("guitar", "guitar strings")),
    Rec("door_knock", _r2("door_knock_2s.flac"), "held", ("door knock", "knocking on a door")),
    Rec("crow", _r2("crow_caw_0.5s.flac"), "held", ("crow", "crow cawing")),
    Rec("canary", _r2("canary_singing.wav"), "held", ("canary singing", "songbird"), also=("birds",)),
    Rec("glass", _r2("glass_of_water_clink.wav"), "held", ("glass clinking", "clink of a glass")),
    Rec("shutter", _r2("camera_shutter.oga"), "held", ("camera shutter", "taking a photo click")),
    Rec("saxophone", _r2("saxophone_16s.wav"), "held", ("saxophone", "sax solo")),
    Rec("bicycle_bell", _r2("bicycle_bell_2s.ogg"), "held", ("bicycle bell", "bike bell ringing")),
    Rec("watch", _r2("watch_ticking_3s.ogg"), "held", ("clock ticking", "watch ticking"), also=("clock",)),
    Rec("grand_piano", _r2("grand_piano_7s.ogg"), "held", ("grand piano", "pianist playing"), also=PIANOS),
    Rec("harmonica", _r2("harmonica_6s.ogg"), "held", ("harmonica", "mouth organ")),
    Rec("rocket", _r2("rocket_launch_4s.ogg"), "held", ("rocket launch", "rocket taking off")),
    Rec("tractor", _r2("tractor_engine_3s.ogg"), "held", ("tractor", "farm tractor engine")),
    # --- held: the clip-art video's aligned sounds (4-s segments, the sound from +0.3 s) ---
    *(
        Rec(name, CLIPART, "held", queries, start=4.0 * i, end=4.0 * i + 4.0, also=also)
        for i, (name, queries, also) in enumerate((
            ("cow", ("cow mooing", "cow"), ()),
            ("rooster", ("rooster", "rooster crowing"), ()),
            ("violin", ("violin", "fiddle"), ()),
            ("helicopter", ("helicopter", "helicopter rotor"), ()),
            ("lion", ("lion roaring", "lion"), ()),
            ("frog", ("frog croaking", "frog"), ()),
            ("trumpet", ("trumpet", "trumpet playing"), ()),
            ("train", ("train", "steam locomotive"), ()),
            ("owl", ("owl hooting", "owl"), ()),
            ("elephant", ("elephant", "elephant trumpeting"), ()),
            ("accordion", ("accordion", "accordion music"), ()),
            ("excavator", ("excavator", "digger engine"), ()),
            ("wolf", ("wolf howling", "howling wolf"), ("wolf_growl",)),
            ("duck", ("duck quacking", "duck"), ()),
            ("bagpipes", ("bagpipes", "scottish bagpipe"), ()),
            ("airplane", ("airplane", "propeller plane"), ()),
            ("sheep", ("sheep bleating", "sheep"), ()),
            ("pig", ("pig oinking", "pig"), ()),
            ("xylophone", ("xylophone", "xylophone music"), ()),
            ("clock", ("clock ticking", "clock"), ("watch",)),
            ("horse", ("horse neighing", "horse"), ("horse_hooves",)),
        ))
    ),
)


def clip_audio(rec: Rec, cache: dict[str, Any]) -> Any:
    """The recording as ingest would tag it (see the module doc)."""
    from framedex.models.audio_io import load_audio

    if rec.path not in cache:
        cache[rec.path] = load_audio(SHARED / rec.path)
    audio = cache[rec.path]
    if rec.start is not None and rec.end is not None:
        audio = audio[int(rec.start * SR):int(rec.end * SR)]
    if len(audio) > 10 * SR:
        mid = len(audio) // 2
        audio = audio[mid - 5 * SR:mid + 5 * SR]
    if len(audio) < 2 * SR:
        lead = np.zeros(int(0.3 * SR), np.float32)
        audio = np.concatenate([lead, audio])
        audio = np.pad(audio, (0, max(0, 2 * SR - len(audio))))
    return np.asarray(audio, dtype=np.float32)


def _models() -> tuple[Any, Any, Any]:
    from framedex.config import Settings
    from framedex.models.audio import YamnetAudioTagger
    from framedex.models.text import MiniLMTextEmbedder

    settings = Settings()
    text = MiniLMTextEmbedder.from_settings(settings)
    tagger = YamnetAudioTagger.from_settings(settings, text)
    return settings, text, tagger


def _label_space(settings: Any, text: Any, tagger: Any) -> Any:
    """The search side's AudioSet label space, built by the same function search uses."""
    from framedex.services.search import expand as search_expand

    platform = SimpleNamespace(settings=settings, models=SimpleNamespace(text=lambda: text, audio=lambda: tagger))
    return search_expand._build_audio(platform)  # type: ignore[arg-type]


def _query_context(query: str, text: Any) -> Any:
    from framedex.services.search.retrievers import QueryContext

    ctx = QueryContext(platform=None, tenant_id="", index_id="", text=query, images=[],  # type: ignore[arg-type]
                       video_ids=frozenset())
    ctx.__dict__["text_vector"] = text.embed([query])[0]
    words = ctx.content_words
    ctx.__dict__["word_vectors"] = (text.embed(words) if len(words) >= 2
                                    else np.zeros((0, ctx.text_vector.shape[0]), np.float32))
    return ctx


def _features(ctx: Any, space: Any, emb: Any, terms: list[tuple[str, float]]) -> dict[str, float]:
    from framedex.services.search import retrievers as sr

    relevance = sr.label_relevance(space, ctx) if space else {}
    expanded = space.expand(ctx.text_vector) if space else None
    cos = float(emb @ ctx.text_vector) if np.any(emb) else 0.0
    cos_x = float(emb @ expanded) if expanded is not None and np.any(emb) else 0.0
    if hasattr(sr, "sound_features"):
        return dict(sr.sound_features(cos, cos_x, [terms], relevance))
    match, best = sr.LabelSpace.match(terms, relevance) if relevance else (0.0, 0.0)
    return {"cos": cos, "cos_expanded": cos_x, "match": match, "best_label": best}


def run(split: str = "all", verbose: bool = False) -> dict[str, Any]:
    from framedex.services.search.calibration import probability

    settings, text, tagger = _models()
    space = _label_space(settings, text, tagger)
    t0 = time.perf_counter()
    cache: dict[str, Any] = {}
    keys = [r.key for r in RECORDINGS]
    embs, terms, tops = [], [], []
    for rec in RECORDINGS:
        ev = tagger.tag(clip_audio(rec, cache))
        embs.append(ev.embedding)
        # what ingest stores for a clip: its top 16 terms, rounded
        terms.append([(t.name, round(t.score, 4)) for t in ev.terms[:16]])
        tops.append([(lab.name, round(lab.score, 2)) for lab in ev.top[:5]])
    tag_s = time.perf_counter() - t0
    results: list[dict[str, Any]] = []
    for rec in RECORDINGS:
        if split != "all" and rec.split != split:
            continue
        relevant = {rec.key, *rec.also}
        for q in rec.queries:
            ctx = _query_context(q, text)
            scores = [probability("sounds", _features(ctx, space, e, t)) for e, t in zip(embs, terms, strict=True)]
            order = [keys[i] for i in np.argsort(-np.asarray(scores), kind="stable")]
            rank = min(order.index(k) for k in relevant if k in keys) + 1
            results.append({"split": rec.split, "key": rec.key, "query": q, "rank": rank, "top3": order[:3],
                            "score": round(max(scores[keys.index(rec.key)], 0.0), 3)})
    summary: dict[str, Any] = {}
    for name in ("dev", "held"):
        rows = [r for r in results if r["split"] == name]
        if rows:
            summary[name] = {"queries": len(rows), "R@1": round(np.mean([r["rank"] <= 1 for r in rows]), 3),
                             "R@5": round(np.mean([r["rank"] <= 5 for r in rows]), 3),
                             "MRR": round(np.mean([1.0 / r["rank"] for r in rows]), 3)}
    if verbose:
        by_key = dict(zip(keys, tops, strict=True))
        for r in results:
            if r["rank"] > 1:
                print(f"  [{r['split']}] {r['query']!r} -> {r['key']} rank {r['rank']}; top3 {r['top3']}; "
                      f"its tags {by_key[r['key']][:3]}")
    return {"summary": summary, "results": results, "recordings": len(RECORDINGS), "tag_seconds": round(tag_s, 1),
            "tags": {k: v for k, v in zip(keys, tops, strict=True)}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", choices=["all", "dev", "held"], default="all")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--json", help="write every query's rank here")
    args = ap.parse_args(argv)
    out = run(args.split, args.verbose)
    print(f"{out['recordings']} recordings tagged in {out['tag_seconds']} s")
    for name, s in out["summary"].items():
        print(f"{name:5s} {s['queries']:3d} queries  R@1 {s['R@1']:.3f}  R@5 {s['R@5']:.3f}  MRR {s['MRR']:.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
