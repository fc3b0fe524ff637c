from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from framedex.config import Settings
from framedex.models.audio import YamnetAudioTagger, log_mel_patches
from framedex.models.audio_io import load_audio
from framedex.models.base import AudioTagger, FloatArray, TextEmbedder

pytestmark = pytest.mark.slow

EXPECTED = {  # file -> at least one of these among the clip's top 5 events
    "piano.wav": {"Music", "Piano", "Keyboard (musical)"},
    "dog_growl.wav": {"Dog", "Animal", "Domestic animals, pets", "Growling"},
    "engine_loop.wav": {"Engine", "Vehicle", "Motor vehicle (road)"},
    "drums.wav": {"Drum", "Drum kit", "Percussion"},
    "phone_ringing.oga": {"Telephone bell ringing", "Telephone", "Ringtone"},
    "car_horn.wav": {"Vehicle horn, car horn, honking"},
    "alarm_clock.oga": {"Alarm", "Alarm clock", "Beep, bleep", "Buzzer"},
}


@pytest.fixture(scope="package")
def yamnet(models_settings: Settings, text_embedder: TextEmbedder) -> YamnetAudioTagger:
    return YamnetAudioTagger.from_settings(models_settings, text_embedder)


@pytest.fixture(scope="package")
def sounds(media: Path) -> dict[str, FloatArray]:
    return {name: load_audio(media / "sounds" / name) for name in EXPECTED}


def test_log_mel_shape() -> None:
    p = log_mel_patches(np.zeros(16000 * 2, np.float32))
    assert p.shape == (3, 1, 96, 64) and p.dtype == np.float32
    assert log_mel_patches(np.zeros(100, np.float32)).shape == (1, 1, 96, 64)


def test_sound_events(yamnet: YamnetAudioTagger, sounds: dict[str, FloatArray]) -> None:
    assert isinstance(yamnet, AudioTagger) and len(yamnet.labels) == 521
    for name, audio in sounds.items():
        ev = yamnet.tag(audio)
        top5 = {lab.name for lab in ev.top[:5]}
        assert top5 & EXPECTED[name], (name, ev.top[:5])
        assert ev.scores.shape == (len(ev.times), 521)
        assert ev.times[-1] <= len(audio) / 16000
        assert float(ev.scores.min()) >= 0.0 and float(ev.scores.max()) <= 1.0


def test_speech_is_speech(yamnet: YamnetAudioTagger, espeak_speech: tuple[str, FloatArray]) -> None:
    ev = yamnet.tag(espeak_speech[1])
    assert ev.top[0].name == "Speech"


def test_joint_space_sound_search(
    yamnet: YamnetAudioTagger, sounds: dict[str, FloatArray], text_embedder: TextEmbedder
) -> None:
    names = list(sounds)
    emb = np.stack([yamnet.tag(a).embedding for a in sounds.values()])
    assert np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-4)
    queries = {
        "dog": "dog_growl.wav",
        "car engine": "engine_loop.wav",
        "telephone ringing": "phone_ringing.oga",
        "car horn": "car_horn.wav",
        "drums": "drums.wav",
    }
    sims = text_embedder.embed(list(queries)) @ emb.T
    for (q, expected), row in zip(queries.items(), sims, strict=True):
        assert names[int(np.argmax(row))] == expected, (q, [names[i] for i in np.argsort(-row)[:3]])


def test_silence(yamnet: YamnetAudioTagger) -> None:
    ev = yamnet.tag(np.zeros(16000, np.float32))
    assert all(t.name != "Speech" for t in ev.terms)
    assert yamnet.tag(np.zeros(0, np.float32)).scores.shape == (0, 521)


# --- real recordings (shared/media/real2): found by the words people use -------------------------------------


@pytest.fixture(scope="package")
def real2_sounds(yamnet: YamnetAudioTagger, media: Path) -> tuple[list[str], FloatArray]:
    """(file stem, joint-space embedding) of every real2 sound recording."""
    files = sorted((media / "real2" / "sounds").iterdir())
    emb = np.stack([yamnet.tag(load_audio(f)).embedding for f in files])
    return [f.name.rsplit(".", 1)[0] for f in files], emb


def test_float_logits(yamnet: YamnetAudioTagger, sounds: dict[str, FloatArray]) -> None:
    # the w8a8 export's own output has ~10 distinct levels; the classifier's float logits are fetched instead
    ev = yamnet.tag(sounds["dog_growl.wav"])
    assert len(np.unique(ev.scores)) > 300  # a uint8 output has at most 256 levels


def test_plain_names_and_hypernyms() -> None:
    from framedex.models.audio import label_terms

    odd = {"Clip-clop": "horse", "Neigh, whinny": "horse", "Moo": "cow", "Oink": "pig", "Caw": "crow",
           "Crowing, cock-a-doodle-doo": "rooster", "Tick-tock": "clock", "Crackle": "fire"}
    for label, word in odd.items():
        phrases = [p for p, _ in label_terms([label])[0]]
        assert any(word in p for p in phrases), (label, phrases)


@pytest.mark.parametrize(("query", "expected", "within"), [
    ("birds singing", "birds_chirping_5s", 1),
    ("crow cawing", "crow_caw_0.5s", 1),
    ("clock ticking", "watch_ticking_3s", 1),
    ("harmonica", "harmonica_6s", 1),
    ("saxophone", "saxophone_16s", 1),
    ("piano", "grand_piano_7s", 1),
    ("wolf", "wolf_growl_1s", 2),
    ("thunderstorm", "thunder_lightning_strike_4s", 5),
])
def test_real_recordings_found_by_everyday_words(
    real2_sounds: tuple[list[str], FloatArray], text_embedder: TextEmbedder, query: str, expected: str, within: int
) -> None:
    names, emb = real2_sounds
    sims = emb @ text_embedder.embed([query])[0]
    ranked = [names[i] for i in np.argsort(-sims)]
    assert expected in ranked[:within], (query, ranked[:5])


def test_horse_recording_gets_a_horse_label(yamnet: YamnetAudioTagger, media: Path) -> None:
    video = load_audio(media / "real2" / "video" / "clipart_objects_with_their_sounds_84s.mp4")
    ev = yamnet.tag(video[80 * 16000 : 84 * 16000])  # the horse segment: neighing from 80.3 s
    assert {"Horse", "Neigh, whinny", "Clip-clop"} & {t.name for t in ev.terms[:5]}, ev.terms[:5]
