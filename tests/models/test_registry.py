from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from framedex.config import Settings
from framedex.models.base import FloatArray, SpeechRecognizer, Transcript
from framedex.models.registry import ModelRegistry

from .conftest import silence


class FakeRecognizer:
    name = "fake"
    instances = 0
    closed = 0

    def __init__(self, delay: float = 0.0) -> None:
        FakeRecognizer.instances += 1
        self.delay = delay
        self.is_closed = False

    def transcribe(self, audio: FloatArray, language: str | None = None) -> Transcript:
        assert not self.is_closed, "called after unload"
        time.sleep(self.delay)
        assert not self.is_closed, "unloaded in the middle of a call"
        return Transcript(language="en", language_probability=1.0, segments=[])

    def close(self) -> None:
        FakeRecognizer.closed += 1
        self.is_closed = True


def test_lazy_load_shared_instance_and_idle_unload(tmp_path: Path) -> None:
    settings = Settings(models_dir=tmp_path, model_idle_ttl_seconds=0.2)
    with ModelRegistry(settings) as reg:
        reg.register_factory("speech", FakeRecognizer)
        speech = reg.speech()
        assert isinstance(speech, SpeechRecognizer)
        assert reg.loaded() == {"speech": False}  # nothing loaded before the first call

        results: list[str | None] = []
        threads = [
            threading.Thread(target=lambda: results.append(speech.transcribe(silence(0.1)).language)) for _ in range(8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == ["en"] * 8
        assert reg.load_count("speech") == 1  # one load, shared by every thread

        deadline = time.monotonic() + 5
        while reg.loaded()["speech"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert reg.loaded() == {"speech": False}, "idle backend was not unloaded"
        speech.transcribe(silence(0.1))  # the proxy stays valid: it loads again
        assert reg.load_count("speech") == 2


def test_never_unloads_during_a_call(tmp_path: Path) -> None:
    settings = Settings(models_dir=tmp_path, model_idle_ttl_seconds=0.05)
    with ModelRegistry(settings) as reg:
        reg.register_factory("speech", lambda: FakeRecognizer(delay=0.6))
        speech = reg.speech()
        speech.transcribe(silence(0.1))  # 0.6 s call, 12x the TTL, reaper running every 0.05 s
        assert reg.load_count("speech") == 1
        assert reg.unload_all() == ["speech"]
        assert reg.loaded() == {"speech": False}


def test_ttl_zero_keeps_models(tmp_path: Path) -> None:
    settings = Settings(models_dir=tmp_path, model_idle_ttl_seconds=0)
    reg = ModelRegistry(settings)
    reg.register(
        "speech",
        FakeRecognizer(),
    )
    reg.speech().transcribe(silence(0.1))
    time.sleep(0.1)
    assert reg.unload_idle() == [] and reg.loaded() == {"speech": True}
    reg.close()
    assert reg.loaded() == {"speech": False}


def test_unknown_capability(tmp_path: Path) -> None:
    reg = ModelRegistry(Settings(models_dir=tmp_path))
    with pytest.raises(KeyError):
        reg.load_count("telepathy")


@pytest.mark.slow
def test_fresh_models_dir_installs_on_first_use(tmp_path: Path, librivox: tuple[str, FloatArray]) -> None:
    """A fresh `framedex serve` has an empty models dir: the registry assembles the pack itself."""
    settings = Settings(models_dir=tmp_path / "fresh", speech_profile="tiny.en", model_idle_ttl_seconds=0)
    with ModelRegistry(settings) as reg:
        speech = reg.speech()
        assert not (tmp_path / "fresh" / "whisper-tiny.en").exists()
        _, audio = librivox
        tr = speech.transcribe(audio)
        assert "dashwood" in tr.text.lower()
        assert (tmp_path / "fresh" / "whisper-tiny.en" / "model.bin").is_file()
        assert speech.name == "whisper-tiny.en"
        assert np.isclose(len(audio) / 16000, 7.1, atol=0.1)


@pytest.mark.slow
def test_every_capability_through_the_registry(
    models_settings: Settings, images: dict[str, Any], librivox: tuple[str, FloatArray]
) -> None:
    from framedex.models.base import AudioTagger, FaceEncoder, FrameAnalyzer, TextEmbedder, TextReader

    settings = models_settings.model_copy(update={"model_idle_ttl_seconds": 0})
    with ModelRegistry(settings) as reg:
        text, frames, audio, faces, ocr = reg.text(), reg.frames(), reg.audio(), reg.faces(), reg.ocr()
        assert not any(reg.loaded().values())  # accessors load nothing
        assert isinstance(text, TextEmbedder) and text.dim == 384
        assert isinstance(frames, FrameAnalyzer) and frames.dim == 384
        assert isinstance(audio, AudioTagger) and isinstance(faces, FaceEncoder) and isinstance(ocr, TextReader)
        (res,) = frames.analyze([images["baboon"]])
        assert res.tags.labels[0].name == "baboon"
        q = reg.vision().embed_text(["monkey", "pizza"])
        assert float(q[0] @ res.embedding) > float(q[1] @ res.embedding)
        assert reg.tagger().feature_dim == 1280
        assert len(faces.faces(images["jesper_2"])) == 1
        assert audio.tag(librivox[1]).top[0].name == "Speech"
        assert {k for k, v in reg.loaded().items() if v} == {"tagger", "vision", "text", "audio", "faces"}
        assert ocr.has_text(images["fruits"]) in (True, False) and not reg.loaded()["ocr"]
        assert reg.load_count("text") == 1  # vision and audio share the registry's text backend
        # unloading the text backend does not break the encoders that use it: it reloads on demand
        assert "text" in reg.unload_all()
        assert frames.analyze([images["baboon"]])[0].terms[0].name == "baboon"


def test_register_custom_vision_encoder(tmp_path: Path) -> None:
    class Fake:
        name = "fake-clip"
        dim = 4

        def embed_images(self, images: list[Any]) -> FloatArray:
            return np.full((len(images), 4), 0.5, np.float32)

        def embed_text(self, texts: list[str]) -> FloatArray:
            return np.full((len(texts), 4), 0.5, np.float32)

    reg = ModelRegistry(Settings(models_dir=tmp_path))
    reg.register("vision", Fake())
    vision = reg.vision()
    assert vision.name == "fake-clip" and vision.dim == 4
    assert vision.embed_text(["x"]).shape == (1, 4)
    reg.close()
