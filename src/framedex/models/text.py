"""Sentence embeddings: all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime, 384-d. This is the joint space.

Tokenisation uses the model's own WordPiece ``tokenizer.json`` through the ``tokenizers`` package.
Texts are batched by exact token length, so no padding ever enters a batch and a text's vector
does not depend on what it was batched with: the same text always gives the identical vector.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from pathlib import Path

import numpy as np

from framedex.config import Settings
from framedex.models import packs
from framedex.models.base import FloatArray
from framedex.models.onnx import l2_normalize, ort_session

MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length
_BATCH = 64


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
