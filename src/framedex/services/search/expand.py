"""Query expansion into the closed label vocabularies behind the ConSE joint space.

With the default (ConSE) encoders a frame's vector is a weighted mean of the text vectors of its ImageNet
classes, COCO objects and image attributes, and a clip's sound vector the same over AudioSet labels. A free-text
query vector ("monkey") sits far from such mixtures; its nearest labels ("baboon", "macaque", ...) do not. So a
query is expanded into the labels nearest to it in the text space, which gives

* an **expanded query vector**: the similarity-weighted mean of those label vectors (searched like the raw one),
* a **label relevance** per label name, used to score the stored labels of candidate frames/clips directly
  (`LabelSpace.match`), which is sharper than a cosine between two mixtures.

Only meaningful when the stored vectors are ConSE mixtures in the text space (`visual_labels` returns None for a
plugged-in CLIP, whose text tower is used directly).
"""

from __future__ import annotations

import csv
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from framedex.models.base import FloatArray
from framedex.services.platform import Platform


@dataclass
class LabelSpace:
    names: list[str]
    vectors: FloatArray  # (n, dim), L2-normalised, row i is names[i]
    floor: float  # similarity under which a label is unrelated to a query
    weights: dict[str, float]  # prior weight of a label (generic labels count less)

    def relevance(self, query: FloatArray) -> dict[str, float]:
        """Label name → relevance in (0, 1] to the query, for the labels above `floor`."""
        sims = self.vectors @ query.astype(np.float32)
        out: dict[str, float] = {}
        for i in np.flatnonzero(sims > self.floor):
            name = self.names[int(i)]
            rel = float((sims[i] - self.floor) / (1.0 - self.floor)) * self.weights.get(name, 1.0)
            if rel > 0:
                out[name] = max(out.get(name, 0.0), rel)
        return out

    def expand(self, query: FloatArray, top: int = 12) -> FloatArray | None:
        """The query as a mixture of its nearest labels (None when no label is near)."""
        sims = self.vectors @ query.astype(np.float32)
        order = np.argsort(-sims)[:top]
        keep = [int(i) for i in order if sims[i] > self.floor]
        if not keep:
            return None
        w = ((sims[keep] - self.floor) / (1.0 - self.floor)) ** 2
        vec = (w[:, None] * self.vectors[keep]).sum(axis=0)
        norm = float(np.linalg.norm(vec))
        return (vec / norm).astype(np.float32) if norm > 0 else None

    @staticmethod
    def match(terms: Sequence[tuple[str, float]], relevance: dict[str, float]) -> tuple[float, float]:
        """How a frame's (or clip's) stored ``(label, weight)`` terms answer the query, in one pass:
        (share of its label mass on query-relevant labels, weighted by relevance; its strongest single relevant
        label: weight capped at 1 times relevance)."""
        total = hit = best = 0.0
        get = relevance.get
        for name, weight in terms:
            total += weight
            rel = get(name)
            if rel:
                hit += weight * rel
                one = (weight if weight < 1.0 else 1.0) * rel
                if one > best:
                    best = one
        return (hit / total if total > 0 else 0.0), best


_lock = threading.Lock()
_cache: dict[tuple[str, str], LabelSpace | None] = {}


def _normalise(vectors: FloatArray) -> FloatArray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-9)).astype(np.float32)


def visual_labels(platform: Platform) -> LabelSpace | None:
    """ImageNet classes, COCO objects and attributes, as the ConSE encoder embeds them (None if the vision
    encoder is not ConSE)."""
    vision = platform.models.vision()
    if not vision.name.startswith("conse"):
        return None
    key = ("visual", vision.name)
    with _lock:
        if key not in _cache:
            _cache[key] = _build_visual(platform)
        return _cache[key]


def _build_visual(platform: Platform) -> LabelSpace | None:
    from framedex.models.vision import DOWNWEIGHT, ConseVisionEncoder

    models = platform.models
    # Building the encoder only reads (or computes once and caches) its class vectors: no image model loads.
    encoder = ConseVisionEncoder(models.tagger(), models.text(), cache_dir=Path(platform.settings.models_dir) / "cache")
    keys: list[str] = list(getattr(encoder, "_keys", []))
    vectors: FloatArray | None = getattr(encoder, "_vectors", None)
    by_name: dict[str, list[int]] = getattr(encoder, "_by_name", {})
    if not keys or vectors is None:
        return None
    index = {k: i for i, k in enumerate(keys)}
    names: list[str] = []
    rows: list[FloatArray] = []
    for name, classes in by_name.items():
        names.append(name)
        rows.append(vectors[[index[f"in:{c}"] for c in classes]].mean(axis=0))
    for k in keys:
        if k.startswith(("coco:", "attr:")):
            names.append(k.split(":", 1)[1])
            rows.append(vectors[index[k]])
    return LabelSpace(names, _normalise(np.stack(rows)), floor=0.42, weights=dict(DOWNWEIGHT))


def audio_labels(platform: Platform) -> LabelSpace | None:
    """AudioSet labels embedded the way the YAMNet ConSE embedding does (None without the YAMNet pack)."""
    audio = platform.models.audio()
    if audio.name != "yamnet":
        return None
    key = ("audio", audio.name)
    with _lock:
        if key not in _cache:
            _cache[key] = _build_audio(platform)
        return _cache[key]


@dataclass
class PhraseLabelSpace(LabelSpace):
    """A `LabelSpace` whose relevance is the best match among each label's own phrases (its plain name, synonyms,
    hypernyms; `phrase_weights` discounts the weaker kinds), not the cosine with the label's mixed vector: a query
    "horse" matches the hypernym "horse" of ``Clip-clop`` fully, where the mixture of "horse hooves, clip-clop,
    galloping horse, horse, farm animal" sits further away. `expand` still mixes the label vectors."""

    phrase_vectors: FloatArray | None = None  # (m, dim), L2-normalised
    phrase_labels: list[int] | None = None  # row -> index into names
    phrase_weights: FloatArray | None = None  # (m,)

    def relevance(self, query: FloatArray) -> dict[str, float]:
        if self.phrase_vectors is None or self.phrase_labels is None or self.phrase_weights is None:
            return super().relevance(query)
        sims = self.phrase_vectors @ query.astype(np.float32)
        rel = (sims - self.floor) / (1.0 - self.floor) * self.phrase_weights
        out: dict[str, float] = {}
        for i in np.flatnonzero(rel > 0):
            name = self.names[self.phrase_labels[int(i)]]
            value = float(rel[i]) * self.weights.get(name, 1.0)
            if value > out.get(name, 0.0):
                out[name] = value
        return out


def _build_audio(platform: Platform) -> LabelSpace | None:
    from framedex.models import packs
    from framedex.models.audio import GENERIC_WEIGHTS, NAME_WEIGHT, label_terms, label_vectors

    try:
        directory = packs.ensure(platform.settings, "yamnet")
        with open(directory / "yamnet_class_map.csv", newline="") as fh:
            labels = [row["display_name"] for row in csv.DictReader(fh)]
    except Exception:  # no pack: no expansion, plain vectors still work
        return None
    text = platform.models.text()
    vecs = label_vectors(labels, text, Path(platform.settings.models_dir) / "cache")
    groups = label_terms(labels)
    phrases = sorted({p for g in groups for p, _ in g})
    emb = _normalise(text.embed(phrases))
    row = {p: i for i, p in enumerate(phrases)}
    rows: list[int] = []
    owners: list[int] = []
    weights: list[float] = []
    for k, g in enumerate(groups):
        for p, w in g:
            rows.append(row[p])
            owners.append(k)
            weights.append(min(1.0, AUDIO_PHRASE_WEIGHT + (1.0 - AUDIO_PHRASE_WEIGHT) * w / NAME_WEIGHT))
    generic = {lab: w for lab, w in GENERIC_WEIGHTS.items() if w < 1.0}
    return PhraseLabelSpace(labels, _normalise(vecs), floor=AUDIO_FLOOR, weights=generic, phrase_vectors=emb[rows],
                            phrase_labels=owners, phrase_weights=np.asarray(weights, dtype=np.float32))


AUDIO_FLOOR = 0.42  # query-phrase cosine under which an AudioSet label is unrelated
AUDIO_PHRASE_WEIGHT = 0.6  # a synonym or hypernym match counts at least this share of a plain-name match
