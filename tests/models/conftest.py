"""Fixtures for the model tests: an offline guard, one models dir and one load per model.

Everything here is package-scoped (this directory is a package), so the network guard and the
loaded models live exactly as long as the model tests and never leak into other test packages.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from framedex.config import Settings
from framedex.models.audio_io import load_audio
from framedex.models.base import FloatArray

MEDIA = Path(os.environ.get("FRAMEDEX_TEST_MEDIA", Path(__file__).resolve().parents[3] / "shared" / "media"))


def _is_loopback(host: Any) -> bool:
    if host in (None, "localhost", "", b"localhost"):
        return True
    try:
        return ipaddress.ip_address(host.decode() if isinstance(host, bytes) else str(host)).is_loopback
    except ValueError:
        return False


@pytest.fixture(scope="package", autouse=True)
def offline() -> Iterator[None]:
    """Model code must never reach the network: refuse every non-loopback lookup and connection."""
    mp = pytest.MonkeyPatch()
    for var, value in {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
    }.items():
        mp.setenv(var, value)
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_loopback(host):
            raise OSError(f"network access attempted from model tests: lookup of {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            raise OSError(f"network access attempted from model tests: connect to {address!r}")
        return real_connect(self, address)

    mp.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    mp.setattr(socket.socket, "connect", guarded_connect)
    try:
        yield
    finally:
        mp.undo()


@pytest.fixture(scope="package")
def media() -> Path:
    # A missing ../shared is a broken checkout, not a reason to skip model tests.
    assert MEDIA.is_dir(), f"shared test media not found at {MEDIA}"
    return MEDIA


@pytest.fixture(scope="package")
def models_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings whose models_dir is shared by all model tests (FRAMEDEX_TEST_MODELS_DIR reuses one
    across runs; otherwise a fresh temporary dir, which also proves assembly from pip packages)."""
    reuse = os.environ.get("FRAMEDEX_TEST_MODELS_DIR")
    models_dir = Path(reuse) if reuse else tmp_path_factory.mktemp("models")
    return Settings(models_dir=models_dir, model_threads=2, model_idle_ttl_seconds=0)


def _espeak(text: str, path: Path, speed: int = 150) -> Path:
    exe = shutil.which("espeak-ng")
    assert exe is not None, "espeak-ng is not installed: run scripts/setup.sh (apt-get install -y espeak-ng)"
    subprocess.run([exe, "-s", str(speed), "-w", str(path), text], check=True, capture_output=True)
    return path


ESPEAK_TEXT = (
    "Welcome to the evening news. The city council approved a new budget for public "
    "transportation today. Tomorrow will be sunny and warm."
)


@pytest.fixture(scope="package")
def espeak_speech(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, FloatArray]:
    path = _espeak(ESPEAK_TEXT, tmp_path_factory.mktemp("espeak") / "news.wav")
    return ESPEAK_TEXT, load_audio(path)


@pytest.fixture(scope="package")
def librivox(media: Path) -> tuple[str, FloatArray]:
    """(expected transcript, audio) of one LibriVox utterance with its reference transcription."""
    wav = media / "speech" / "librivox_ss_0870.wav"
    ref = ""
    for line in (media / "transcripts" / "librivox_transcription.txt").read_text().splitlines():
        if "-0870)" in line:
            ref = line.split("</s>")[0].replace("<s>", "").strip()
    assert ref, "reference transcription for 0870 not found"
    return ref, load_audio(wav)


def silence(seconds: float) -> FloatArray:
    return np.zeros(int(16000 * seconds), dtype=np.float32)


# --- one load per model for the whole package ---------------------------------------------------------


@pytest.fixture(scope="package")
def text_embedder(models_settings: Settings) -> Any:
    from framedex.models.text import MiniLMTextEmbedder

    return MiniLMTextEmbedder.from_settings(models_settings)


@pytest.fixture(scope="package")
def tagger(models_settings: Settings) -> Any:
    from framedex.models.vision import EfficientNetSsdTagger

    return EfficientNetSsdTagger.from_settings(models_settings)


@pytest.fixture(scope="package")
def conse(models_settings: Settings, tagger: Any, text_embedder: Any) -> Any:
    from framedex.models.vision import ConseVisionEncoder

    return ConseVisionEncoder(tagger, text_embedder, cache_dir=models_settings.models_dir / "cache")


@pytest.fixture(scope="package")
def images(media: Path) -> dict[str, Any]:
    import cv2

    out = {}
    for p in sorted((media / "images").iterdir()):
        bgr = cv2.imread(str(p))
        if bgr is not None:
            out[p.stem] = np.ascontiguousarray(bgr[..., ::-1])
    return out
