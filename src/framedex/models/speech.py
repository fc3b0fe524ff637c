"""Speech recognition with Whisper through faster-whisper (CTranslate2, int8 on CPU).

The model is always given as a local directory (an assembled pack), so faster-whisper never
looks at a model hub. Voice-activity detection uses the Silero VAD that faster-whisper bundles.

Spoken-language detection. Whisper alone decides from the first 30 s of speech, and on a short
clip it is often unsure (clear English at p=0.3 with Welsh, Latin or Nynorsk next). Here the
decision is made from up to ``LANGUAGE_WINDOWS`` 30-s windows spread over the speech, their
per-language probabilities averaged (weighted by seconds of speech). A low-confidence pick is
settled by decoding the first window in each close candidate language and keeping the most
likely decode; the default language (``FRAMEDEX_SPEECH_LANGUAGE``, English when unset) joins the
candidates when it is close behind or when no language is likely at all, and wins near-ties. So
a clip that really is in another language (whose default-language decode is a poor translation)
keeps it. A language given by the caller (an upload's ``user_metadata.language``) skips detection.

When greedy decoding of a 30-s window compresses too well (ratio > 2.4: a loop) or is unlikely,
faster-whisper re-decodes it by *sampling* at rising temperatures. It takes the first sample that passes
those checks, even one that says nothing, and when every sample fails it keeps the least unlikely sample
that compresses. Speech that really repeats itself fails every time: a phone menu ("Нажмите один для
записи …, нажмите два для записи …") and a talk of eight similar paragraphs came back as random samples
('', "eighth eighth …", once the single word "the"), different on every call. Here a window with no
sample that passes and says something keeps its greedy decode: the same each time, and right on both. A
sample that passes is kept as before, and so is faster-whisper's pick when the greedy decode is a hard loop
(compression above ``LOOP_COMPRESSION``): a synthetic voice's "Oh, the Red-Dudri-Dudri-…" gave way to
"… closed in a mountain pass on Tuesday". A greedy loop that is kept is cut: a run of ``LOOP_REPEATS``
or more segments with the same text keeps its first.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
import threading
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from framedex.config import Settings
from framedex.models import packs
from framedex.models.base import AUDIO_SAMPLE_RATE, FloatArray, SpeechSegment, Transcript, Word

log = logging.getLogger("framedex.models.speech")

LANGUAGE_WINDOW_SECONDS = 30.0  # Whisper's input length
LANGUAGE_WINDOWS = 4  # at most this many windows of speech are looked at
LANGUAGE_MIN_WINDOW_SECONDS = 2.0  # a shorter tail window is left out (unless it is all there is)
LANGUAGE_CONFIDENT = 0.5  # a top language at least this likely is taken as it is
LANGUAGE_MARGIN = 0.25  # below that, languages at least this fraction of the top are tried too
LANGUAGE_CANDIDATES = 3  # at most this many of them
LANGUAGE_FLOOR = 0.2  # a top language below this is no decision: the default is tried as well
LANGUAGE_DEFAULT_BONUS = 0.1  # nats per token by which the default's trial decode may trail and still win
DEFAULT_LANGUAGE = "en"
TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)  # greedy, then samples (faster-whisper's defaults)
COMPRESSION_LIMIT = 2.4  # a decode that compresses better than this is a loop (faster-whisper's default)
LOGPROB_LIMIT = -1.0  # a decode less likely than this per token is a failure (faster-whisper's default)
# A greedy decode compressing better than this is a loop even when no sample passes: real speech that repeats
# itself measured 2.6 (a phone menu) and 3.8-4.3 (eight similar paragraphs); loops 7.0 and 12.1 ("Dudri-Dudri-…").
LOOP_COMPRESSION = 6.0
LOOP_REPEATS = 3  # this many segments in a row with the same text are a decoding loop (two may be said)
_NON_WORD = re.compile(r"[\W_]+")


def aggregate_language_probabilities(windows: Sequence[tuple[Mapping[str, float], float]]) -> dict[str, float]:
    """Average per-window language probabilities, each window weighted by its seconds of speech.
    The result sums to (about) 1 when each window's does."""
    total = sum(max(w, 0.0) for _, w in windows)
    if total <= 0:
        return {}
    out: dict[str, float] = {}
    for probs, weight in windows:
        for lang, p in probs.items():
            out[lang] = out.get(lang, 0.0) + float(p) * max(weight, 0.0) / total
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def language_candidates(probs: Mapping[str, float], default: str, *, confident: float = LANGUAGE_CONFIDENT,
                        margin: float = LANGUAGE_MARGIN, floor: float = LANGUAGE_FLOOR,
                        most: int = LANGUAGE_CANDIDATES) -> list[str]:
    """The languages worth a trial decode, best first; one language means there is nothing to try.

    A top language that is likely enough (p >= ``confident``), or that is the default, stands alone.
    Otherwise the candidates are the languages within ``margin`` of the top (p >= margin * p_top,
    at most ``most``), and the default with them when it is among them or when the top is
    hardly a pick at all (p_top < ``floor``).
    """
    if not probs:
        return [default]
    ranked = sorted(probs.items(), key=lambda kv: -kv[1])
    top, p_top = ranked[0]
    if top == default or p_top >= confident:
        return [top]
    out = [lang for lang, p in ranked[:most] if p >= margin * p_top]
    if default not in out and (probs.get(default, 0.0) >= margin * p_top or p_top < floor):
        out.append(default)
    return out


def collapse_loops(segments: Sequence[SpeechSegment], repeats: int = LOOP_REPEATS) -> list[SpeechSegment]:
    """``segments`` with each run of ``repeats`` or more consecutive segments of the same text (case,
    spaces and punctuation aside) cut down to its first segment."""
    def key(segment: SpeechSegment) -> str:
        return _NON_WORD.sub(" ", segment.text.lower()).strip()

    out: list[SpeechSegment] = []
    run: list[SpeechSegment] = []
    for segment in [*segments, None]:
        if segment is not None and run and key(segment) == key(run[0]):
            run.append(segment)
            continue
        out.extend(run[:1] if len(run) >= repeats else run)
        run = [segment] if segment is not None else []
    return out


@functools.cache
def _greedy_when_samples_fail(whisper_model: type) -> type:
    """``whisper_model`` (faster-whisper's WhisperModel, imported lazily) whose temperature fallback keeps
    the greedy decode of a 30-s window when no sampled re-decode passes the checks or says anything."""

    class GreedyWhenSamplesFail(whisper_model):
        def generate_with_fallback(self, encoder_output: Any, prompt: list[int], tokenizer: Any,
                                   options: Any) -> tuple[Any, float, float, float]:
            decoded = super().generate_with_fallback(encoder_output, prompt, tokenizer, options)
            result, avg_logprob, temperature, compression_ratio = decoded
            if temperature == 0.0:  # the greedy decode passed
                return decoded
            said = tokenizer.decode(result.sequences_ids[0]).strip()
            if said and compression_ratio <= COMPRESSION_LIMIT and avg_logprob >= LOGPROB_LIMIT:
                return decoded
            greedy = super().generate_with_fallback(
                encoder_output, prompt, tokenizer, dataclasses.replace(options, temperatures=[0.0]))
            if greedy[3] > LOOP_COMPRESSION:  # the greedy decode is a loop: any sample says more
                return decoded
            log.info("no sampled decode of a window passed (%r); keeping the greedy decode", said[:60])
            return greedy

    return GreedyWhenSamplesFail


def _language_code(language: str) -> str:
    return str(language).strip().lower().replace("_", "-").split("-")[0]


def _spread(n: int, k: int) -> list[int]:
    """``k`` indices spread evenly over ``range(n)``, first and last included."""
    if n <= k:
        return list(range(n))
    return sorted({round(float(i)) for i in np.linspace(0, n - 1, k)})


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
        default_language: str | None = None,
    ) -> None:
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import _LANGUAGE_CODES

        if default_language and _language_code(default_language) not in _LANGUAGE_CODES:
            raise ValueError(f"unknown speech language {default_language!r} (FRAMEDEX_SPEECH_LANGUAGE); "
                             "use a Whisper language code such as en, de, fr")
        model_dir = Path(model_dir)
        if not (model_dir / "model.bin").is_file():
            raise FileNotFoundError(f"{model_dir} is not a CTranslate2 Whisper directory (no model.bin)")
        self.name = name
        self.model_dir = model_dir
        self.beam_size = beam_size
        self.vad_filter = vad_filter
        self._lock = threading.Lock()
        self._model: Any = _greedy_when_samples_fail(WhisperModel)(
            str(model_dir),
            device="cpu",
            compute_type=compute_type,
            cpu_threads=threads,
            num_workers=1,
            local_files_only=True,
        )
        self.multilingual: bool = bool(self._model.model.is_multilingual)
        self.languages: frozenset[str] = frozenset(self._model.supported_languages)
        default = self.normalise_language(default_language) if default_language else None
        self.default_language: str = default if default and self.multilingual else DEFAULT_LANGUAGE

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
        return cls(directory, name=pack_name, threads=settings.model_threads,
                   default_language=settings.speech_language)

    def normalise_language(self, language: str | None) -> str | None:
        """A Whisper language code for ``language`` ("EN", "en-US", "en_GB" -> "en"), or None when
        it is empty, "auto" or not a language this model knows."""
        if not language:
            return None
        code = _language_code(language)
        return code if code in self.languages else None

    def transcribe(self, audio: FloatArray, language: str | None = None) -> Transcript:
        """Transcribe 16 kHz mono float32 audio. Times are seconds from the start of ``audio``;
        word times are clamped into the audio and made non-decreasing. ``language`` (a Whisper
        code) skips detection; an unknown one is ignored."""
        from faster_whisper.transcribe import restore_speech_timestamps
        from faster_whisper.vad import VadOptions, collect_chunks, get_speech_timestamps

        audio = np.ascontiguousarray(audio, dtype=np.float32).reshape(-1)
        duration = len(audio) / AUDIO_SAMPLE_RATE
        hint = self.normalise_language(language)
        if language and hint is None and str(language).strip().lower() != "auto":
            log.warning("ignoring unknown speech language %r", language)
        if duration < 0.1 or not np.any(audio):
            return Transcript(language=hint, language_probability=0.0, segments=[])
        if not self.multilingual:
            hint = "en"

        with self._lock:
            chunks: list[dict[str, Any]] | None = None
            speech = audio
            if self.vad_filter:
                chunks = get_speech_timestamps(audio, VadOptions())
                if not chunks:
                    return Transcript(language=hint, language_probability=0.0, segments=[])
                speech = np.concatenate(collect_chunks(audio, chunks)[0]).astype(np.float32)
            if hint is not None:
                chosen, probability = hint, 1.0
            else:
                chosen, probability = self._choose_language(speech)
            raw_segments, _ = self._model.transcribe(
                speech, language=chosen, beam_size=self.beam_size, temperature=list(TEMPERATURES),
                compression_ratio_threshold=COMPRESSION_LIMIT, log_prob_threshold=LOGPROB_LIMIT,
                word_timestamps=True, vad_filter=False, condition_on_previous_text=False,
            )
            if chunks is not None:
                raw_segments = restore_speech_timestamps(raw_segments, chunks, AUDIO_SAMPLE_RATE)
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
        return Transcript(language=chosen, language_probability=probability, segments=collapse_loops(out))

    # --- language -------------------------------------------------------------------------------

    def _windows(self, speech: FloatArray) -> list[FloatArray]:
        size = int(LANGUAGE_WINDOW_SECONDS * AUDIO_SAMPLE_RATE)
        pieces = [speech[i:i + size] for i in range(0, len(speech), size)]
        if len(pieces) > 1 and len(pieces[-1]) < LANGUAGE_MIN_WINDOW_SECONDS * AUDIO_SAMPLE_RATE:
            pieces.pop()
        return [pieces[i] for i in _spread(len(pieces), LANGUAGE_WINDOWS)]

    def language_probabilities(self, speech: FloatArray) -> dict[str, float]:
        """Per-language probabilities of ``speech`` (already cut to speech), averaged over up to
        LANGUAGE_WINDOWS windows spread over it. Call with the lock held."""
        found: list[tuple[Mapping[str, float], float]] = []
        for piece in self._windows(speech):
            _, _, all_probs = self._model.detect_language(audio=piece)
            found.append(({lang: float(p) for lang, p in all_probs}, len(piece) / AUDIO_SAMPLE_RATE))
        return aggregate_language_probabilities(found)

    def _choose_language(self, speech: FloatArray) -> tuple[str, float]:
        """The language to transcribe ``speech`` in and its (aggregated) probability. An unsure
        pick is settled by trial decodes of the first window: the best mean token log-probability
        wins, the default language with a small bonus; empty or looping decodes are out."""
        probs = self.language_probabilities(speech)
        candidates = language_candidates(probs, self.default_language)
        if len(candidates) == 1:
            return candidates[0], probs.get(candidates[0], 0.0)
        first = self._windows(speech)[0]
        scores: dict[str, float] = {}
        for lang in candidates:
            score = self._decode_score(first, lang)
            if score is not None:
                scores[lang] = score + (LANGUAGE_DEFAULT_BONUS if lang == self.default_language else 0.0)
        if scores:
            chosen = max(scores, key=lambda lang: scores[lang])
        else:
            chosen = self.default_language if self.default_language in candidates else candidates[0]
        log.info("unsure spoken language: %s; trial decodes %s -> %s",
                 ", ".join(f"{lang} p={probs.get(lang, 0.0):.2f}" for lang in candidates),
                 {lang: round(v, 2) for lang, v in scores.items()}, chosen)
        return chosen, probs.get(chosen, 0.0)

    def _decode_score(self, audio: FloatArray, language: str) -> float | None:
        """Mean log-probability per token of a greedy decode of ``audio`` in ``language``, or None
        when the decode is empty or degenerate (a repetition loop)."""
        # No no-speech skipping here: a window skipped in one language and not in another would
        # compare nothing with something.
        segments, _ = self._model.transcribe(audio, language=language, beam_size=1, temperature=0.0,
                                             vad_filter=False, condition_on_previous_text=False,
                                             without_timestamps=True, no_speech_threshold=None)
        segments = list(segments)
        text = " ".join(s.text.strip() for s in segments).strip()
        tokens = sum(len(s.tokens) + 1 for s in segments)
        if not text or tokens <= 1:
            return None
        encoded = text.encode()
        if len(encoded) >= 24 and len(encoded) / len(zlib.compress(encoded)) > COMPRESSION_LIMIT:
            return None
        return float(sum(s.avg_logprob * (len(s.tokens) + 1) for s in segments) / tokens)

    def close(self) -> None:
        """Drop the CTranslate2 model (the registry calls this when it unloads the backend)."""
        with self._lock:
            self._model = None
