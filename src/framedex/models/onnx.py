"""ONNX Runtime helpers shared by every ONNX backend (text, vision, audio, faces): capped CPU sessions and
row normalisation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from framedex.models.base import FloatArray


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
