"""ConSE (Norouzi et al. 2014) label vocabulary machinery: the text vectors of a classifier's labels, so a
frame's or a clip's class probabilities become a point in the sentence-embedding space (the joint space).
Used by the vision (ImageNet/COCO) and sound (AudioSet) encoders; see DESIGN.md §5.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np

from framedex.models.base import FloatArray, TextEmbedder
from framedex.models.onnx import l2_normalize


def label_matrix(groups: list[list[tuple[str, float]]], text: TextEmbedder, cache: Path | None = None) -> FloatArray:
    """ConSE label vectors: row k is the L2-normalised, weight-summed text vector of the phrases of ``groups[k]``.
    Read from ``cache`` when it holds a matrix of the right shape; written there atomically otherwise (the caller
    names the file after everything that shapes it)."""
    if cache is not None and cache.is_file():
        arr = np.load(cache)
        if arr.shape == (len(groups), text.dim):
            return arr.astype(np.float32)
    phrases = sorted({p for terms in groups for p, _ in terms})
    emb = text.embed(phrases)
    row = {p: i for i, p in enumerate(phrases)}
    vecs = np.zeros((len(groups), text.dim), dtype=np.float32)
    for k, terms in enumerate(groups):
        for p, w in terms:
            vecs[k] += w * emb[row[p]]
    vecs = l2_normalize(vecs)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f".{cache.stem}.{uuid.uuid4().hex[:8]}.npy")
        np.save(tmp, vecs)
        os.replace(tmp, cache)
    return vecs
