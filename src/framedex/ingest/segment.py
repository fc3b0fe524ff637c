"""Splitting a video into clips, the unit of search results."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ClipSpan:
    seq: int
    start: float
    end: float

    @property
    def middle(self) -> float:
        return (self.start + self.end) / 2


def fixed_clips(duration: float, clip_length: float = 6.0, min_length: float = 2.0) -> list[ClipSpan]:
    """Equal clips of `clip_length`; a short remainder is merged into the previous clip."""
    if duration <= 0:
        return []
    count = max(1, math.floor(duration / clip_length))
    if duration - count * clip_length >= min_length:
        count += 1
    bounds = [min(duration, i * clip_length) for i in range(count)] + [duration]
    return [ClipSpan(i, round(bounds[i], 3), round(bounds[i + 1], 3)) for i in range(count)]


def clips_from_boundaries(duration: float, cuts: list[float], *, min_length: float = 2.0,
                          max_length: float = 10.0) -> list[ClipSpan]:
    """Clips that follow shot cuts, merged up to `min_length` and split down to `max_length`."""
    points = [0.0, *sorted(c for c in cuts if 0.0 < c < duration), duration]
    spans: list[tuple[float, float]] = []
    for a, b in itertools.pairwise(points):
        if spans and (b - a < min_length or spans[-1][1] - spans[-1][0] < min_length):
            spans[-1] = (spans[-1][0], b)
        else:
            spans.append((a, b))
    if len(spans) > 1 and spans[-1][1] - spans[-1][0] < min_length:
        last = spans.pop()
        spans[-1] = (spans[-1][0], last[1])
    out: list[tuple[float, float]] = []
    for a, b in spans:
        parts = max(1, math.ceil((b - a) / max_length - 1e-9))
        step = (b - a) / parts
        out.extend((a + k * step, a + (k + 1) * step) for k in range(parts))
    return [ClipSpan(i, round(a, 3), round(b, 3)) for i, (a, b) in enumerate(out)]
