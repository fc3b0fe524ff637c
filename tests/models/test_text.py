from __future__ import annotations

from typing import Any

import numpy as np

from framedex.models.base import TextEmbedder


def test_minilm_embeddings(text_embedder: Any) -> None:
    assert isinstance(text_embedder, TextEmbedder) and text_embedder.dim == 384
    texts = [
        "a dog running on the grass",
        "a puppy playing outside in a park",
        "the stock market fell sharply today",
        "shares and the economy lost value",
    ]
    e = text_embedder.embed(texts)
    assert e.shape == (4, 384) and e.dtype == np.float32
    assert np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    sim = e @ e.T
    assert sim[0, 1] > 0.45 and sim[2, 3] > 0.3  # paraphrases
    assert max(sim[0, 2], sim[0, 3], sim[1, 2], sim[1, 3]) < 0.2  # unrelated topics


def test_deterministic_and_batch_independent(text_embedder: Any) -> None:
    a = text_embedder.embed(["a red car on a highway"])
    b = text_embedder.embed(["short", "a red car on a highway", "a much longer sentence " * 20, ""])
    assert np.array_equal(a[0], b[1])
    assert np.array_equal(a, text_embedder.embed(["a red car on a highway"]))
    assert b.shape == (4, 384) and np.all(np.isfinite(b))
    assert text_embedder.embed([]).shape == (0, 384)
