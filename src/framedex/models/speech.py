"""Speech recognition with Whisper through faster-whisper (CTranslate2, int8 on CPU).

The model is always given as a local directory (an assembled pack), so faster-whisper never
looks at a model hub. Voice-activity detection uses the Silero VAD that faster-whisper bundles.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from framedex.config import Settings
from framedex.models import packs
from framedex.models.base import AUDIO_SAMPLE_RATE, FloatArray, SpeechSegment, Transcript, Word


class WhisperSpeechRecognizer:
    """`SpeechRecognizer` backed by a CTranslate2 Whisper directory.

    ``transcribe`` is thread-safe (calls are serialised: one CTranslate2 model on a capped number
    of threads gains nothing from running two decodes at once on a small CPU).
    """

    def __init__(
        self,
        model_dir: str | Path,
        *,
        name: str = "whisper",
        threads: int = 2,
        compute_type: str = "int8",
        beam_size: int = 1,
        vad_filter: bool = True,
    ) -> None:
        from faster_whisper import WhisperModel

        model_dir = Path(model_dir)
        if not (model_dir / "model.bin").is_file():
            raise FileNotFoundError(f"{model_dir} is not a CTranslate2 Whisper directory (no model.bin)")
        self.name = name
        self.model_dir = model_dir
        self.beam_size = beam_size
        self.vad_filter = vad_filter
        self._lock = threading.Lock()
        self._model: Any = WhisperModel(
            str(model_dir),
            device="cpu",
            compute_type=compute_type,
            cpu_threads=threads,
            num_workers=1,
            local_files_only=True,
        )
        self.multilingual: bool = bool(self._model.model.is_multilingual)

    @classmethod
    def from_settings(cls, settings: Settings, profile: str | None = None) -> WhisperSpeechRecognizer:
        """Load the pack for ``profile`` ("base" or "tiny.en"; default ``settings.speech_profile``),
        assembling it from the installed pip distributions when it is not installed yet."""
        profile = profile or settings.speech_profile
        try:
            pack_name = packs.SPEECH_PROFILES[profile]
        except KeyError:
            raise ValueError(f"unknown speech profile {profile!r}; known: {', '.join(packs.SPEECH_PROFILES)}") from None
        directory = packs.ensure(settings, pack_name)
        return cls(directory, name=pack_name, threads=settings.model_threads)

    def transcribe(self, audio: FloatArray, language: str | None = None) -> Transcript:
        """Transcribe 16 kHz mono float32 audio. Times are seconds from the start of ``audio``;
        word times are clamped into the audio and made non-decreasing."""
        audio = np.ascontiguousarray(audio, dtype=np.float32).reshape(-1)
        duration = len(audio) / AUDIO_SAMPLE_RATE
        if duration < 0.1 or not np.any(audio):
            return Transcript(language=language, language_probability=0.0, segments=[])
        if not self.multilingual:
            language = "en"
        kwargs: dict[str, Any] = {
            "language": language,
            "beam_size": self.beam_size,
            "word_timestamps": True,
            "vad_filter": self.vad_filter,
            "condition_on_previous_text": False,
        }
        with self._lock:
            raw_segments, info = self._model.transcribe(audio, **kwargs)
            segments = list(raw_segments)  # the generator decodes lazily: consume under the lock

        out: list[SpeechSegment] = []
        last = 0.0
        for seg in segments:
            words: list[Word] = []
            for w in seg.words or []:
                start = min(max(float(w.start), last), duration)
                end = min(max(float(w.end), start), duration)
                last = start
                words.append(Word(start=start, end=end, text=w.word.strip(), probability=float(w.probability)))
            text = seg.text.strip()
            if not text:
                continue
            s_start = min(max(float(seg.start), 0.0), duration)
            s_end = min(max(float(seg.end), s_start), duration)
            if words:
                s_start, s_end = min(s_start, words[0].start), max(s_end, words[-1].end)
            out.append(SpeechSegment(start=s_start, end=s_end, text=text, words=words))
        return Transcript(
            language=info.language,
            language_probability=float(info.language_probability),
            segments=out,
        )

    def close(self) -> None:
        """Drop the CTranslate2 model (the registry calls this when it unloads the backend)."""
        with self._lock:
            self._model = None
