"""Sentence embeddings: all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime, 384-d. This is the joint space.

Tokenisation uses the model's own WordPiece ``tokenizer.json`` through the ``tokenizers`` package.
Texts are batched by exact token length, so no padding ever enters a batch and a text's vector
does not depend on what it was batched with: the same text always gives the identical vector.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from framedex.config import Settings
from framedex.models import packs
from framedex.models.base import FloatArray, TextEmbedder

MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length
_BATCH = 64


def ort_session(model_path: str | Path, threads: int) -> Any:
    """An onnxruntime CPU session capped at ``threads`` threads."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = max(1, threads)
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    return ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"])


def l2_normalize(x: FloatArray, axis: int = -1) -> FloatArray:
    n = np.linalg.norm(x, axis=axis, keepdims=True)
    return (x / np.maximum(n, 1e-12)).astype(np.float32)


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


class MiniLMTextEmbedder:
    """`TextEmbedder`: mean-pooled, L2-normalised all-MiniLM-L6-v2 sentence vectors (384-d)."""

    dim = 384

    def __init__(self, model_dir: str | Path, *, threads: int = 2, name: str = "minilm-l6-v2") -> None:
        from tokenizers import Tokenizer

        model_dir = Path(model_dir)
        self.name = name
        self._tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tok.no_padding()
        self._tok.enable_truncation(MAX_TOKENS)
        self._session = ort_session(model_dir / "model.onnx", threads)
        self._input_names = {i.name for i in self._session.get_inputs()}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> MiniLMTextEmbedder:
        return cls(packs.ensure(settings, "minilm-l6-v2"), threads=settings.model_threads)

    def embed(self, texts: list[str]) -> FloatArray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encs = self._tok.encode_batch([t if t.strip() else " " for t in texts])
        by_len: dict[int, list[int]] = defaultdict(list)
        for i, e in enumerate(encs):
            by_len[len(e.ids)].append(i)
        for _length, idx in sorted(by_len.items()):
            for k in range(0, len(idx), _BATCH):
                chunk = idx[k : k + _BATCH]
                ids = np.array([encs[i].ids for i in chunk], dtype=np.int64)
                feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
                if "token_type_ids" in self._input_names:
                    feeds["token_type_ids"] = np.zeros_like(ids)
                with self._lock:
                    hidden = self._session.run(None, feeds)[0]
                out[chunk] = hidden.mean(axis=1)
        return l2_normalize(out)

    def close(self) -> None:
        self._session = None
