"""Calibration: each source's raw features → the probability that a clip is relevant to the query.

One logistic model per source, ``p = sigmoid(bias + Σ w_f · f)``, fitted on a labelled development set
(`eval/calibrate.py`: real media with known content per time range; candidates that overlap the expected range
are positives, the other candidates of the same query negatives) by L2-regularised IRLS. Because every source's
output is a probability of the same event, scores are comparable across sources and modalities, and fusion and
the relevance threshold work on one scale (see docs/search.md).

The fitted parameters live in `search_calibration_params.PARAMS`; `DEFAULT_PARAMS` are hand-set fallbacks.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from framedex.services.search.retrievers import Candidate

# Hand-set starting points (used when no fitted parameters exist for a source).
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "transcript_lexical": {"bias": -5.0, "w": {"coverage": 8.0, "bm25": 1.0}},
    "transcript_semantic": {"bias": -9.0, "w": {"cos": 12.0, "coverage": 3.0}},
    "frames": {"bias": -6.0, "w": {"cos": 3.0, "cos_expanded": 3.0, "match": 4.0, "best_label": 3.0, "words": 1.0}},
    "ocr": {"bias": -7.0, "w": {"fuzzy": 9.0, "phrase": 0.0, "cos": 3.0}},
    "image": {"bias": -9.0, "w": {"feature": 9.0, "joint": 3.0}},
    "sounds": {"bias": -6.0, "w": {"cos": 3.0, "cos_expanded": 3.0, "match": 4.0, "best_label": 3.0}},
}


def params() -> dict[str, dict[str, Any]]:
    try:
        from framedex.services.search.calibration_params import PARAMS
    except ImportError:  # pragma: no cover - the generated module is committed
        return DEFAULT_PARAMS
    return {**DEFAULT_PARAMS, **PARAMS}


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def probability(source: str, features: dict[str, float], table: dict[str, dict[str, Any]] | None = None) -> float:
    p = (table or params()).get(source)
    if p is None:
        return 0.0
    z = float(p["bias"]) + sum(float(w) * float(features.get(name, 0.0)) for name, w in p["w"].items())
    return _sigmoid(z)


def calibrate(candidates: Iterable[Candidate]) -> None:
    table = params()
    for c in candidates:
        c.relevance = probability(c.source, c.features, table)


def feature_names(source: str) -> list[str]:
    return list(DEFAULT_PARAMS[source]["w"])


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, iterations: int = 50,
                 sample_weight: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """L2-regularised logistic regression by iteratively reweighted least squares. Returns (bias, weights)."""
    n, d = x.shape
    xb = np.hstack([np.ones((n, 1)), x])
    beta = np.zeros(d + 1)
    sw = np.ones(n) if sample_weight is None else sample_weight
    reg = np.eye(d + 1) * l2
    reg[0, 0] = 1e-6  # do not shrink the bias
    for _ in range(iterations):
        z = np.clip(xb @ beta, -30, 30)
        p = 1.0 / (1.0 + np.exp(-z))
        w = sw * p * (1 - p) + 1e-9
        grad = xb.T @ (sw * (y - p)) - reg @ beta
        hess = (xb * w[:, None]).T @ xb + reg
        step = np.linalg.solve(hess, grad)
        beta += step
        if float(np.abs(step).max()) < 1e-7:
            break
    return float(beta[0]), beta[1:]


def fit_source(source: str, rows: Sequence[tuple[dict[str, float], bool]], l2: float = 1.0) -> dict[str, Any]:
    """Fit one source's model on (features, relevant) rows; positives and negatives weigh equally in total."""
    names = feature_names(source)
    x = np.array([[f.get(n, 0.0) for n in names] for f, _ in rows], dtype=np.float64)
    y = np.array([1.0 if r else 0.0 for _, r in rows])
    pos = max(1.0, float(y.sum()))
    neg = max(1.0, float(len(y) - y.sum()))
    # balance classes, then let the prior come back through the bias below
    sw = np.where(y > 0, 0.5 * len(y) / pos, 0.5 * len(y) / neg)
    bias, w = fit_logistic(x, y, l2=l2, sample_weight=sw)
    return {"bias": round(bias, 4), "w": {n: round(float(v), 4) for n, v in zip(names, w, strict=True)}}
