"""Query words → the visual labels (ImageNet classes, COCO objects) they name or reach through WordNet.

A ConSE frame vector is a mixture of its labels' text vectors, and a query reaches those labels by
sentence-embedding nearness. That misses words whose link to a class is taxonomic rather than textual: a
"canyon" is a kind of `valley`, a "bridge" is what a `suspension bridge` and a `viaduct` are, "snow" is what a
`ski` or a `snowplow` is for. ``data/query_terms.json`` (built from WordNet 3.0 by ``data/build_query_terms.py``:
ImageNet-1k classes are WordNet synsets) holds those links with a weight (specific links count more); a query
word (or two-word phrase) that *is* a label name counts at full weight.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from typing import Protocol

import numpy as np

from framedex.models.base import FloatArray

# never taken as a label name or a link on their own
STOP = frozenset({"a", "an", "the", "of", "in", "on", "at", "to", "and", "or", "with", "by", "for", "from", "over",
                  "under", "near", "some", "two", "three", "many", "it", "is", "are", "up", "down", "out", "off"})
EXACT = 1.0  # a query word that names a label
PHRASE_WORD = 0.8  # a link found from one word of a longer query counts this share (as per-word expansion does)


@lru_cache(maxsize=1)
def _terms() -> dict[str, dict[str, float]]:
    text = resources.files("framedex.models").joinpath("data/query_terms.json").read_text()
    data: dict[str, dict[str, float]] = json.loads(text)
    return data


def _singular(word: str) -> list[str]:
    out = [word]
    if word.endswith("ies") and len(word) > 4:
        out.append(word[:-3] + "y")
    if word.endswith("es") and len(word) > 3:
        out.append(word[:-2])
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        out.append(word[:-1])
    return out


def label_terms(text: str, labels: Iterable[str]) -> dict[str, float]:
    """Label name → weight in (0, 1] for the labels the query's words name (1.0) or reach through WordNet.

    `labels` are the label names of the space (their case kept in the result). Two adjacent words that form a
    label or a WordNet compound ("pool table", "fish tank") are taken together and their words not alone. A
    one-word query (or a two-word name) keeps its links at their own weight and an exact label name at 1; in a
    longer query one of its words counts `PHRASE_WORD` of that ("black dog in the forest" is more than a dog)."""
    by_lower: dict[str, str] = {}
    for name in labels:
        by_lower.setdefault(name.lower(), name)
    terms = _terms()
    words = re.findall(r"[a-z][a-z'-]*", text.lower())
    single = len(words) <= 1
    out: dict[str, float] = {}

    def take(part: str, scale: float) -> bool:
        for form in _singular(part):
            exact = by_lower.get(form)
            if exact is not None:
                out[exact] = max(out.get(exact, 0.0), EXACT * scale)
                return True
            linked = terms.get(form)
            if linked is not None:  # {} for a compound that links nothing ("fish tank")
                for label, weight in linked.items():
                    name = by_lower.get(label.lower())
                    if name is not None and weight * scale > out.get(name, 0.0):
                        out[name] = weight * scale
                return True
        return False

    used: set[int] = set()
    for i, (a, b) in enumerate(itertools.pairwise(words)):  # a two-word name first
        if a not in STOP and b not in STOP and take(f"{a} {b}", 1.0):
            used.update((i, i + 1))
    for i, word in enumerate(words):
        if i not in used and word not in STOP:
            take(word, 1.0 if single else PHRASE_WORD)
    return out


class Labels(Protocol):
    """What `widen` needs of a label space (`services.search_expand.LabelSpace`)."""

    names: list[str]
    vectors: FloatArray
    weights: dict[str, float]


def widen(space: Labels, text: str, relevance: dict[str, float],
          expanded: FloatArray | None) -> tuple[dict[str, float], FloatArray | None]:
    """Add the query's named and WordNet-linked labels to its label relevance (the stronger of the two counts)
    and pull its expanded vector towards them, so that frames tagged with them are among the candidates."""
    linked = {} if os.environ.get("FRAMEDEX_QUERY_TERMS") == "0" else label_terms(text, space.names)  # 0: A/B off
    if not linked:
        return relevance, expanded
    index = {name: i for i, name in enumerate(space.names)}
    out = dict(relevance)
    rows, weights = [], []
    for name, weight in linked.items():
        w = weight * space.weights.get(name, 1.0)
        if w > out.get(name, 0.0):
            out[name] = w
        rows.append(index[name])
        weights.append(w * w)
    mix = (np.asarray(weights, dtype=np.float32)[:, None] * space.vectors[rows]).sum(axis=0)
    norm = float(np.linalg.norm(mix))
    if norm == 0:
        return out, expanded
    mix = mix / norm * max(weights)  # a strong link pulls nearly as much as the query itself, a weak one little
    if expanded is not None:
        mix = mix + expanded
    norm = float(np.linalg.norm(mix))
    return out, (mix / norm).astype(np.float32) if norm > 0 else expanded
