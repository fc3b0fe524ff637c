from __future__ import annotations

import re
import time

import numpy as np
import pytest

from framedex.config import Settings
from framedex.models.base import FloatArray, SpeechRecognizer, Transcript
from framedex.models.speech import WhisperSpeechRecognizer

from .conftest import silence

pytestmark = pytest.mark.slow

_NORMALISE = {"mr": "mister", "mrs": "missus", "dr": "doctor"}


def words_of(text: str) -> list[str]:
    out = []
    for w in re.findall(r"[a-z0-9']+", text.lower()):
        w = w.strip("'")
        out.append(_NORMALISE.get(w, w))
    return out


def recall(expected: str, got: str) -> float:
    exp = words_of(expected)
    have = set(words_of(got))
    return sum(w in have for w in exp) / len(exp)


def check_timing(tr: Transcript, audio: FloatArray) -> None:
    duration = len(audio) / 16000
    words = [w for s in tr.segments for w in s.words]
    assert words, "no word timestamps"
    prev_start = 0.0
    for w in words:
        assert 0.0 <= w.start <= w.end <= duration + 1e-6, w
        assert w.start >= prev_start, "word start times must be monotonic"
        prev_start = w.start
        assert w.text
    for s in tr.segments:
        assert 0.0 <= s.start <= s.end <= duration + 1e-6
    assert words[-1].end > duration * 0.5  # the timestamps span the speech, not a squeezed prefix


@pytest.fixture(scope="package")
def whisper_base(models_settings: Settings) -> WhisperSpeechRecognizer:
    return WhisperSpeechRecognizer.from_settings(models_settings, "base")


@pytest.fixture(scope="package")
def whisper_tiny(models_settings: Settings) -> WhisperSpeechRecognizer:
    return WhisperSpeechRecognizer.from_settings(models_settings, "tiny.en")


def test_base_transcribes_espeak(whisper_base: WhisperSpeechRecognizer, espeak_speech: tuple[str, FloatArray]) -> None:
    assert isinstance(whisper_base, SpeechRecognizer)
    assert whisper_base.name == "whisper-base"
    text, audio = espeak_speech
    tr = whisper_base.transcribe(audio)
    assert tr.language == "en" and tr.language_probability > 0.5
    assert recall(text, tr.text) >= 0.8, tr.text
    check_timing(tr, audio)


def test_base_transcribes_librivox(whisper_base: WhisperSpeechRecognizer, librivox: tuple[str, FloatArray]) -> None:
    ref, audio = librivox
    t0 = time.perf_counter()
    tr = whisper_base.transcribe(audio)
    elapsed = time.perf_counter() - t0
    assert tr.language == "en"
    assert recall(ref, tr.text) >= 0.85, tr.text
    check_timing(tr, audio)
    assert elapsed < len(audio) / 16000 * 3  # generous: real-time factor far below 1 on 2 cores


def test_offset_speech_gets_offset_timestamps(
    whisper_base: WhisperSpeechRecognizer, espeak_speech: tuple[str, FloatArray]
) -> None:
    """Leading silence (removed by VAD) must not shift word times: they stay in audio time."""
    _, audio = espeak_speech
    padded = np.concatenate([silence(3.0), audio])
    tr = whisper_base.transcribe(padded, language="en")
    words = [w for s in tr.segments for w in s.words]
    assert words and words[0].start >= 2.5, words[:3]
    check_timing(tr, padded)


def test_silence_gives_empty_transcript(whisper_base: WhisperSpeechRecognizer) -> None:
    assert whisper_base.transcribe(silence(2.0)).segments == []
    assert whisper_base.transcribe(np.zeros(0, dtype=np.float32)).text == ""


def test_tiny_en_profile(whisper_tiny: WhisperSpeechRecognizer, librivox: tuple[str, FloatArray]) -> None:
    assert whisper_tiny.name == "whisper-tiny.en" and not whisper_tiny.multilingual
    ref, audio = librivox
    tr = whisper_tiny.transcribe(audio)
    assert tr.language == "en"
    assert recall(ref, tr.text) >= 0.8, tr.text
    check_timing(tr, audio)


def test_unknown_profile(models_settings: Settings) -> None:
    with pytest.raises(ValueError, match="unknown speech profile"):
        WhisperSpeechRecognizer.from_settings(models_settings, "large-v3")
