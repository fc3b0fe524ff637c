"""Contract tests for the `VectorIndex` port, parametrised over adapters, plus tests specific to the
embedded adapter (ANN recall, snapshots, crash safety, the root lock).

Adapters: ``embedded`` (defaults: these small collections are searched exactly) and ``embedded-ann``
(ann_threshold lowered so that every collection here goes through the HNSW path, over-fetch and
filter fallbacks); ``pgvector`` (exact below its threshold) and ``pgvector-ann`` (threshold 0: every
collection is searched through its HNSW index) on the session's real PostgreSQL (tests/storage/conftest.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from framedex.storage import vectors_embedded
from framedex.storage.vectors import VectorHit, VectorIndex, VectorRecord
from framedex.storage.vectors_embedded import AnnParams, EmbeddedVectorIndex

T1, T2 = "a" * 24, "b" * 24
I1, I2 = "1" * 24, "2" * 24
D = 32


@dataclass
class Adapter:
    name: str
    exact: bool  # scores and order are exact (no approximation)
    factory: Callable[[], VectorIndex]
    opened: list[VectorIndex] = field(default_factory=list)

    def open(self) -> VectorIndex:
        vi = self.factory()
        self.opened.append(vi)
        return vi

    def reopen(self, vi: VectorIndex) -> VectorIndex:
        vi.close()
        return self.open()


@pytest.fixture(params=["embedded", "embedded-ann", "pgvector", "pgvector-ann"])
def adapter(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Adapter]:
    root = tmp_path / "vectors"
    if request.param.startswith("pgvector"):
        from framedex.storage.vectors_pgvector import PgVectorIndex

        url = request.getfixturevalue("postgres_url")
        if request.param == "pgvector":
            a = Adapter("pgvector", True, lambda: PgVectorIndex(url))
        else:  # every collection gets its HNSW index at its first write
            a = Adapter("pgvector-ann", False, lambda: PgVectorIndex(url, ann_threshold=0))
    elif request.param == "embedded":
        a = Adapter("embedded", True, lambda: EmbeddedVectorIndex(root))
    else:
        a = Adapter("embedded-ann", False, lambda: EmbeddedVectorIndex(
            root, ann_threshold=40, ann=AnnParams(expansion_search=128, max_fetch=512)))
    yield a
    for vi in a.opened:
        vi.close()


@pytest.fixture
def vi(adapter: Adapter) -> VectorIndex:
    return adapter.open()


def unit(rng: np.random.Generator, n: int, d: int = D) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def clustered(rng: np.random.Generator, n: int, d: int, centres: int = 500, noise: float = 0.8) -> np.ndarray:
    """Embedding-like data: points around random centres (uniform random high-d vectors have no
    meaningful neighbours and are the known worst case of every graph index)."""
    c = np.random.default_rng(12345).standard_normal((centres, d)).astype(np.float32)
    x = c[rng.integers(0, centres, n)] + noise * rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def make_videos(rng: np.random.Generator, n_videos: int, clips: int, per_clip: int,
                d: int = D) -> dict[str, list[VectorRecord]]:
    out: dict[str, list[VectorRecord]] = {}
    for v in range(n_videos):
        vid = f"{v:024x}"
        vecs = unit(rng, clips * per_clip, d)
        out[vid] = [VectorRecord(vid, c, c * 5.0 + j, c * 5.0 + j + 1, vecs[c * per_clip + j], {"c": c, "j": j})
                    for c in range(clips) for j in range(per_clip)]
    return out


def load(vi: VectorIndex, videos: dict[str, list[VectorRecord]], space: str = "visual",
         tenant: str = T1, index: str = I1) -> None:
    for vid, recs in videos.items():
        vi.replace_video(tenant_id=tenant, index_id=index, space=space, video_id=vid, records=recs)


def brute(videos: dict[str, list[VectorRecord]], q: np.ndarray, allowed: set[str] | None = None
          ) -> list[tuple[float, VectorRecord]]:
    q = q / np.linalg.norm(q)
    scored = [(float(np.dot(r.vector / np.linalg.norm(r.vector), q)), r) for vid, recs in videos.items()
              if allowed is None or vid in allowed for r in recs]
    return sorted(scored, key=lambda t: -t[0])


def ident(h: VectorHit | VectorRecord) -> tuple[str, int, float]:
    return (h.video_id, h.clip_seq, h.start)


def recall(vi: VectorIndex, videos: dict[str, list[VectorRecord]], qs: np.ndarray, k: int) -> float:
    """Mean recall@k of ungrouped searches against brute force."""
    out = []
    for q in qs:
        hits = vi.search(tenant_id=T1, index_id=I1, space="visual", query=q, k=k, group="vector")
        want = {ident(r) for _, r in brute(videos, q)[:k]}
        out.append(len({ident(h) for h in hits} & want) / k)
    return float(np.mean(out))


# --- contract ---------------------------------------------------------------------------------------


def test_topk_matches_brute_force(adapter: Adapter, vi: VectorIndex) -> None:
    rng = np.random.default_rng(1)
    videos = make_videos(rng, 12, 6, 3)  # 216 vectors
    load(vi, videos)
    assert vi.count(tenant_id=T1, index_id=I1, space="visual") == 216
    recalls = []
    for q in unit(rng, 20):
        hits = vi.search(tenant_id=T1, index_id=I1, space="visual", query=q, k=10, group="vector")
        truth = brute(videos, q)[:10]
        assert len(hits) == 10
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        got, want = [ident(h) for h in hits], [ident(r) for _, r in truth]
        if adapter.exact:
            assert got == want
            assert np.allclose([h.score for h in hits], [s for s, _ in truth], atol=1e-5)
        recalls.append(len(set(got) & set(want)) / 10)
        by_id = {ident(r): s for s, r in truth}
        for h in hits:  # whatever is returned carries its true cosine
            if ident(h) in by_id:
                assert abs(h.score - by_id[ident(h)]) < 2e-3
    assert np.mean(recalls) >= 0.95
    hit = vi.search(tenant_id=T1, index_id=I1, space="visual", query=videos[f"{3:024x}"][4].vector, k=1)[0]
    assert (hit.video_id, hit.clip_seq, hit.payload) == (f"{3:024x}", 1, {"c": 1, "j": 1})
    assert hit.score == pytest.approx(1.0, abs=2e-3)


def test_filter_by_video_ids(adapter: Adapter, vi: VectorIndex) -> None:
    rng = np.random.default_rng(2)
    videos = make_videos(rng, 30, 5, 2)  # 300 vectors
    load(vi, videos)
    ids = sorted(videos)
    for allowed in ({ids[7]}, set(ids[:3]), set(ids[::2]), set(ids)):
        for q in unit(rng, 5):
            hits = vi.search(tenant_id=T1, index_id=I1, space="visual", query=q, k=8, video_ids=allowed,
                             group="vector")
            truth = brute(videos, q, allowed)[:8]
            assert len(hits) == min(8, len(truth))  # never fewer because of the filter
            assert {h.video_id for h in hits} <= allowed
            if adapter.exact or len(allowed) <= 3:  # selective filters are answered exactly by every adapter
                assert [ident(h) for h in hits] == [ident(r) for _, r in truth]
    q = unit(rng, 1)[0]
    assert vi.search(tenant_id=T1, index_id=I1, space="visual", query=q, k=5, video_ids=[]) == []
    assert vi.search(tenant_id=T1, index_id=I1, space="visual", query=q, k=5, video_ids=["f" * 24]) == []
    listed = vi.search(tenant_id=T1, index_id=I1, space="visual", query=q, k=5, video_ids=[ids[1], ids[2]])
    assert {h.video_id for h in listed} <= {ids[1], ids[2]} and listed


@pytest.mark.parametrize("group", ["vector", "clip"])
def test_search_many_answers_each_query_as_search_does(adapter: Adapter, vi: VectorIndex, group: str) -> None:
    rng = np.random.default_rng(21)
    videos = make_videos(rng, 20, 5, 3)  # 300 vectors
    load(vi, videos)
    ids = frozenset(sorted(videos)[::2])
    queries = list(unit(rng, 3))
    for allowed in (None, ids):
        many = vi.search_many(tenant_id=T1, index_id=I1, space="visual", queries=queries, k=7, video_ids=allowed,
                              group=group)  # type: ignore[arg-type]
        assert len(many) == 3
        for q, hits in zip(queries, many, strict=True):
            one = vi.search(tenant_id=T1, index_id=I1, space="visual", query=q, k=7, video_ids=allowed,
                            group=group)  # type: ignore[arg-type]
            assert [ident(h) for h in hits] == [ident(h) for h in one] and len(hits) == 7
            assert allowed is None or {h.video_id for h in hits} <= allowed
    assert vi.search_many(tenant_id=T1, index_id=I1, space="visual", queries=queries, k=5, video_ids=[]) == [[]] * 3


@pytest.mark.parametrize("group", ["clip", "video"])
def test_grouping_returns_best_vector_per_group(adapter: Adapter, vi: VectorIndex, group: str) -> None:
    rng = np.random.default_rng(3)
    videos = make_videos(rng, 10, 4, 5)  # 200 vectors, 5 per clip
    load(vi, videos)
    for q in unit(rng, 10):
        hits = vi.search(tenant_id=T1, index_id=I1, space="visual", query=q, k=7, group=group)  # type: ignore[arg-type]
        truth = brute(videos, q)
        best: dict[tuple[str, int] | str, tuple[float, VectorRecord]] = {}
        for s, r in truth:
            key = (r.video_id, r.clip_seq) if group == "clip" else r.video_id
            best.setdefault(key, (s, r))
        expected = sorted(best.values(), key=lambda t: -t[0])[:7]
        keys = [(h.video_id, h.clip_seq) if group == "clip" else h.video_id for h in hits]
        assert len(keys) == len(set(keys)) == 7
        if adapter.exact:
            assert [ident(h) for h in hits] == [ident(r) for _, r in expected]
        else:
            assert len({ident(h) for h in hits} & {ident(r) for _, r in expected}) >= 6
        for h in hits:  # the hit of a group is that group's best vector
            key = (h.video_id, h.clip_seq) if group == "clip" else h.video_id
            assert h.score == pytest.approx(best[key][0], abs=2e-3)
    # fewer groups than k: all of them, once each
    one = {k: v for k, v in list(videos.items())[:1]}
    hits = vi.search(tenant_id=T1, index_id=I1, space="visual", query=unit(rng, 1)[0], k=50,
                     video_ids=set(one), group=group)  # type: ignore[arg-type]
    assert len(hits) == (4 if group == "clip" else 1)


def test_min_score_is_a_range_search(adapter: Adapter, vi: VectorIndex) -> None:
    rng = np.random.default_rng(4)
    videos = make_videos(rng, 5, 4, 4)
    load(vi, videos)
    q = videos[f"{2:024x}"][0].vector
    hits = vi.search(tenant_id=T1, index_id=I1, space="visual", query=q, k=100, group="vector", min_score=0.3)
    truth = [(s, r) for s, r in brute(videos, q) if s >= 0.3]
    assert hits and all(h.score >= 0.3 for h in hits)
    assert {ident(h) for h in hits} == {ident(r) for _, r in truth}


def test_replace_video_is_idempotent_and_replaces(adapter: Adapter, vi: VectorIndex) -> None:
    rng = np.random.default_rng(5)
    videos = make_videos(rng, 4, 3, 2)
    load(vi, videos)
    load(vi, videos)  # a re-run stage
    vid = f"{1:024x}"
    assert vi.count(tenant_id=T1, index_id=I1, space="visual") == 24
    q = videos[vid][0].vector
    hits = vi.search(tenant_id=T1, index_id=I1, space="visual", query=q, k=24, group="vector")
    assert len(hits) == 24 and len({ident(h) for h in hits}) == 24
    new = [VectorRecord(vid, 9, 90.0, 95.0, unit(rng, 1)[0], {"v": 2})]
    vi.replace_video(tenant_id=T1, index_id=I1, space="visual", video_id=vid, records=new)
    assert vi.count(tenant_id=T1, index_id=I1, space="visual", video_id=vid) == 1
    segs = vi.segments_for_video(tenant_id=T1, index_id=I1, space="visual", video_id=vid)
    assert [(s.clip_seq, s.start, s.end, s.payload) for s in segs] == [(9, 90.0, 95.0, {"v": 2})]
    hits = vi.search(tenant_id=T1, index_id=I1, space="visual", query=q, k=50, video_ids={vid}, group="vector")
    assert [(h.clip_seq, h.payload) for h in hits] == [(9, {"v": 2})]
    vi.replace_video(tenant_id=T1, index_id=I1, space="visual", video_id=vid, records=[])
    assert vi.count(tenant_id=T1, index_id=I1, space="visual", video_id=vid) == 0
    assert vi.search(tenant_id=T1, index_id=I1, space="visual", query=q, k=5, video_ids={vid}) == []
    with pytest.raises(ValueError):
        vi.replace_video(tenant_id=T1, index_id=I1, space="visual", video_id=vid, records=videos[f"{2:024x}"])


def test_segments_for_video_round_trip(adapter: Adapter, vi: VectorIndex) -> None:
    rng = np.random.default_rng(6)
    vid = "c" * 24
    raw = rng.standard_normal((5, D)).astype(np.float32) * 3
    recs = [VectorRecord(vid, i // 2, i * 1.5, i * 1.5 + 1.5, raw[i], {"t": i * 1.5} if i % 2 else None)
            for i in range(5)]
    vi.replace_video(tenant_id=T1, index_id=I1, space="faces", video_id=vid, records=recs)
    for reopen in (False, True):
        space_vi = adapter.reopen(vi) if reopen else vi
        segs = space_vi.segments_for_video(tenant_id=T1, index_id=I1, space="faces", video_id=vid)
        assert [(s.video_id, s.clip_seq, s.start, s.end, s.payload) for s in segs] == \
            [(r.video_id, r.clip_seq, r.start, r.end, r.payload) for r in recs]
        got = np.stack([s.vector for s in segs])
        assert np.allclose(got, raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-6)
        assert space_vi.segments_for_video(tenant_id=T1, index_id=I1, space="faces", video_id="d" * 24) == []


def test_delete_video_and_index(adapter: Adapter, vi: VectorIndex) -> None:
    rng = np.random.default_rng(7)
    videos = make_videos(rng, 6, 3, 3)
    for space in ("visual", "audio"):
        load(vi, videos, space)
        load(vi, videos, space, index=I2)
    gone = f"{2:024x}"
    vi.delete_video(tenant_id=T1, index_id=I1, video_id=gone)
    vi.delete_video(tenant_id=T1, index_id=I1, video_id=gone)  # idempotent
    for space in ("visual", "audio"):
        assert vi.count(tenant_id=T1, index_id=I1, space=space) == 45
        assert vi.count(tenant_id=T1, index_id=I1, space=space, video_id=gone) == 0
        hits = vi.search(tenant_id=T1, index_id=I1, space=space, query=videos[gone][0].vector, k=100, group="vector")
        assert gone not in {h.video_id for h in hits}
    assert vi.count(tenant_id=T1, index_id=I2, video_id=gone) == 18  # other index untouched
    assert vi.spaces(tenant_id=T1, index_id=I1) == ["audio", "visual"]
    vi.delete_index(tenant_id=T1, index_id=I1)
    vi.delete_index(tenant_id=T1, index_id=I1)
    assert vi.count(tenant_id=T1, index_id=I1) == 0
    assert vi.spaces(tenant_id=T1, index_id=I1) == []
    assert vi.search(tenant_id=T1, index_id=I1, space="visual", query=videos[gone][0].vector, k=5) == []
    assert vi.count(tenant_id=T1, index_id=I2) == 108
    vi = adapter.reopen(vi)
    assert vi.count(tenant_id=T1, index_id=I1) == 0 and vi.count(tenant_id=T1, index_id=I2) == 108
    load(vi, videos, index=I1)  # an index id can be reused after deletion
    assert vi.count(tenant_id=T1, index_id=I1) == 54


def test_persistence_across_reopen(adapter: Adapter, vi: VectorIndex) -> None:
    rng = np.random.default_rng(8)
    videos = make_videos(rng, 20, 4, 3)
    load(vi, videos)
    load(vi, dict(list(videos.items())[:5]), "ocr")
    vi.delete_video(tenant_id=T1, index_id=I1, video_id=f"{0:024x}")
    qs = unit(rng, 5)
    before = [vi.search(tenant_id=T1, index_id=I1, space="visual", query=q, k=10) for q in qs]
    vi = adapter.reopen(vi)
    load_all = getattr(vi, "load_all", None)  # the embedded engine can load everything up front
    if load_all is not None:
        assert load_all() == 19 * 12 + 4 * 12
    after = [vi.search(tenant_id=T1, index_id=I1, space="visual", query=q, k=10) for q in qs]
    assert [[ident(h) for h in hs] for hs in before] == [[ident(h) for h in hs] for hs in after]
    assert vi.count(tenant_id=T1, index_id=I1, space="visual") == 19 * 12
    assert vi.count(tenant_id=T1, index_id=I1, space="ocr") == 4 * 12
    # writes after a reopen never collide with what was there (fresh keys)
    more = make_videos(np.random.default_rng(80), 25, 1, 2)
    load(vi, {k: v for k, v in more.items() if int(k, 16) >= 20})
    assert vi.count(tenant_id=T1, index_id=I1, space="visual") == 19 * 12 + 5 * 2


def test_tenant_isolation(adapter: Adapter, vi: VectorIndex) -> None:
    rng = np.random.default_rng(9)
    a = make_videos(rng, 5, 2, 2)
    b = {vid: [VectorRecord(r.video_id, r.clip_seq, r.start, r.end, r.vector, {"tenant": "b"}) for r in recs]
         for vid, recs in a.items()}  # same index id, video ids and vectors, other tenant
    load(vi, a, tenant=T1)
    load(vi, b, tenant=T2)
    q = a[f"{1:024x}"][0].vector
    for group in ("vector", "clip", "video"):
        hits = vi.search(tenant_id=T1, index_id=I1, space="visual", query=q, k=100, group=group)
        assert hits and all(h.payload != {"tenant": "b"} for h in hits)
    assert len(vi.search(tenant_id=T1, index_id=I1, space="visual", query=q, k=100, group="vector")) == 20
    vi.delete_index(tenant_id=T2, index_id=I1)
    assert vi.count(tenant_id=T1, index_id=I1) == 20 and vi.count(tenant_id=T2, index_id=I1) == 0
    vi.delete_video(tenant_id=T1, index_id=I1, video_id=f"{1:024x}")
    load(vi, b, tenant=T2)
    assert vi.count(tenant_id=T2, index_id=I1, video_id=f"{1:024x}") == 4
    assert vi.search(tenant_id=T2, index_id="9" * 24, space="visual", query=q, k=5) == []


def test_concurrent_readers_and_writer(adapter: Adapter, vi: VectorIndex) -> None:
    """Searches running while a writer keeps replacing videos see each video entirely in one version."""
    rng = np.random.default_rng(10)
    base = make_videos(rng, 8, 4, 4)
    load(vi, base)
    stop = threading.Event()
    errors: list[BaseException] = []
    searches = [0]

    def version(vid: str, v: int) -> list[VectorRecord]:
        vecs = unit(np.random.default_rng(v), 16)
        return [VectorRecord(vid, i // 4, float(i), i + 1.0, vecs[i], {"v": v}) for i in range(16)]

    def reader(seed: int) -> None:
        r = np.random.default_rng(seed)
        try:
            while not stop.is_set():
                hits = vi.search(tenant_id=T1, index_id=I1, space="visual", query=unit(r, 1)[0], k=200,
                                 group="vector")
                seen: dict[str, set[object]] = {}
                for h in hits:
                    seen.setdefault(h.video_id, set()).add(None if h.payload is None else h.payload.get("v"))
                assert len({ident(h) for h in hits}) == len(hits), "duplicate hits"
                assert all(len(vs) == 1 for vs in seen.values()), f"mixed versions {seen}"
                assert len(hits) == 128, len(hits)  # 8 videos x 16 vectors, never more, never fewer
                searches[0] += 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(s,)) for s in range(3)]
    for t in threads:
        t.start()
    try:
        for v in range(1, 40):
            vid = f"{v % 8:024x}"
            vi.replace_video(tenant_id=T1, index_id=I1, space="visual", video_id=vid, records=version(vid, v))
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors[0]
    assert searches[0] > 0
    assert vi.count(tenant_id=T1, index_id=I1, space="visual") == 128


def test_bad_input_is_refused(vi: VectorIndex) -> None:
    rng = np.random.default_rng(11)
    vid = "e" * 24
    vi.replace_video(tenant_id=T1, index_id=I1, space="visual", video_id=vid,
                     records=[VectorRecord(vid, 0, 0.0, 1.0, unit(rng, 1)[0])])
    with pytest.raises(ValueError):  # wrong dimension for the space
        vi.replace_video(tenant_id=T1, index_id=I1, space="visual", video_id="f" * 24,
                         records=[VectorRecord("f" * 24, 0, 0.0, 1.0, unit(rng, 1, D + 1)[0])])
    with pytest.raises(ValueError):
        vi.search(tenant_id=T1, index_id=I1, space="visual", query=unit(rng, 1, D + 1)[0], k=3)
    with pytest.raises(ValueError):
        vi.replace_video(tenant_id=T1, index_id=I1, space="visual", video_id=vid,
                         records=[VectorRecord(vid, 0, 0.0, 1.0, np.full(D, np.nan, np.float32))])
    for bad in ("../x", "", "a/b", ".hidden"):
        with pytest.raises(ValueError):
            vi.search(tenant_id=bad, index_id=I1, space="visual", query=unit(rng, 1)[0], k=3)
        with pytest.raises(ValueError):
            vi.replace_video(tenant_id=T1, index_id=I1, space=bad, video_id=vid, records=[])
    with pytest.raises(ValueError):
        vi.search(tenant_id=T1, index_id=I1, space="visual", query=unit(rng, 1)[0], k=3, group="shot")  # type: ignore[arg-type]
    assert vi.count(tenant_id=T1, index_id=I1, space="visual") == 1


# --- embedded adapter -------------------------------------------------------------------------------


def test_ann_recall_on_20k_vectors(tmp_path: Path) -> None:
    """HNSW mode: recall@10 >= 0.95 against brute force on 20k clustered 384-d vectors."""
    rng = np.random.default_rng(20)
    x = clustered(rng, 20_000, 384)
    with EmbeddedVectorIndex(tmp_path / "v", ann_threshold=5_000) as vi:
        for v in range(100):  # 100 videos x 50 clips x 4 vectors
            vid = f"{v:024x}"
            rows = x[v * 200:(v + 1) * 200]
            vi.replace_video(tenant_id=T1, index_id=I1, space="visual", video_id=vid,
                             records=[VectorRecord(vid, i // 4, float(i), i + 1.0, rows[i]) for i in range(200)])
        assert vi.mode(tenant_id=T1, index_id=I1, space="visual") == "ann"
        qs = clustered(rng, 100, 384)
        truth = np.argsort(-(qs @ x.T), axis=1)[:, :10]
        recall = []
        for q, t in zip(qs, truth, strict=True):
            hits = vi.search(tenant_id=T1, index_id=I1, space="visual", query=q, k=10, group="vector")
            got = {int(h.video_id, 16) * 200 + int(h.start) for h in hits}
            recall.append(len(got & set(t.tolist())) / 10)
        assert np.mean(recall) >= 0.95, np.mean(recall)


def test_exact_mode_is_exact_on_20k(tmp_path: Path) -> None:
    rng = np.random.default_rng(21)
    x = unit(rng, 20_000, 384)  # uniform: the hard case for ANN, trivial for the exact path
    with EmbeddedVectorIndex(tmp_path / "v") as vi:
        for v in range(10):
            vid = f"{v:024x}"
            vi.replace_video(tenant_id=T1, index_id=I1, space="visual", video_id=vid,
                             records=[VectorRecord(vid, i, float(i), i + 1.0, x[v * 2000 + i]) for i in range(2000)])
        assert vi.mode(tenant_id=T1, index_id=I1, space="visual") == "exact"
        for q in unit(rng, 10, 384):
            hits = vi.search(tenant_id=T1, index_id=I1, space="visual", query=q, k=10, group="vector")
            scores = x @ q
            want = np.argsort(-scores)[:10]
            assert [int(h.video_id, 16) * 2000 + h.clip_seq for h in hits] == want.tolist()
            assert np.allclose([h.score for h in hits], scores[want], atol=1e-5)


def test_switches_between_exact_and_ann(tmp_path: Path) -> None:
    rng = np.random.default_rng(22)
    videos = make_videos(rng, 30, 5, 2)  # 10 vectors per video
    root = tmp_path / "v"
    with EmbeddedVectorIndex(root, ann_threshold=100) as vi:
        load(vi, dict(list(videos.items())[:9]))
        assert vi.mode(tenant_id=T1, index_id=I1, space="visual") == "exact"
        load(vi, videos)
        assert vi.mode(tenant_id=T1, index_id=I1, space="visual") == "ann"
        assert (root / T1 / I1 / "visual" / "ann.usearch").exists()
    with EmbeddedVectorIndex(root, ann_threshold=100) as vi:
        assert vi.mode(tenant_id=T1, index_id=I1, space="visual") == "ann"
        for vid in list(videos)[:26]:
            vi.delete_video(tenant_id=T1, index_id=I1, video_id=vid)
        assert vi.mode(tenant_id=T1, index_id=I1, space="visual") == "exact"  # 40 < 100 // 2
        assert not (root / T1 / I1 / "visual" / "ann.usearch").exists()
        assert vi.count(tenant_id=T1, index_id=I1, space="visual") == 40


def test_snapshot_is_reconciled_with_files(tmp_path: Path) -> None:
    """Writes after the last HNSW snapshot (no close: a crash) are picked up from the files on open."""
    rng = np.random.default_rng(23)
    videos = make_videos(rng, 30, 5, 2)
    root = tmp_path / "v"
    ids = list(videos)
    vi = EmbeddedVectorIndex(root, ann_threshold=100, autosave_s=None)
    load(vi, videos)  # the switch to ANN saves a snapshot
    changed = [VectorRecord(ids[0], 0, 0.0, 1.0, unit(rng, 1)[0], {"v": 2})]
    vi.replace_video(tenant_id=T1, index_id=I1, space="visual", video_id=ids[0], records=changed)
    vi.delete_video(tenant_id=T1, index_id=I1, video_id=ids[1])
    extra = make_videos(np.random.default_rng(99), 31, 2, 2)
    load(vi, {ids[-1][:-2] + "ff": [VectorRecord(ids[-1][:-2] + "ff", r.clip_seq, r.start, r.end, r.vector)
                                    for r in extra[f"{30:024x}"]]})
    live = dict(videos)
    live[ids[0]] = changed
    del live[ids[1]]
    live[ids[-1][:-2] + "ff"] = [VectorRecord(ids[-1][:-2] + "ff", r.clip_seq, r.start, r.end, r.vector)
                                 for r in extra[f"{30:024x}"]]
    qs = unit(rng, 8)
    # simulate a crash: drop the instance without close (no snapshot save), release its lock
    assert vi._lock_file is not None
    vi._lock_file.close()
    vi._lock_file = None
    with EmbeddedVectorIndex(root, ann_threshold=100) as vi2:
        assert vi2.mode(tenant_id=T1, index_id=I1, space="visual") == "ann"
        assert recall(vi2, live, qs, 15) >= 0.9
        assert vi2.count(tenant_id=T1, index_id=I1, space="visual") == 300 - 10 + 1 - 10 + 4
        hits = vi2.search(tenant_id=T1, index_id=I1, space="visual", query=changed[0].vector, k=1, group="vector")
        assert (hits[0].video_id, hits[0].payload) == (ids[0], {"v": 2})


def test_damaged_snapshot_is_rebuilt(tmp_path: Path) -> None:
    rng = np.random.default_rng(24)
    videos = make_videos(rng, 30, 5, 2)
    root = tmp_path / "v"
    qs = unit(rng, 10)
    with EmbeddedVectorIndex(root, ann_threshold=100) as vi:
        load(vi, videos)
    snap = root / T1 / I1 / "visual" / "ann.usearch"
    data = snap.read_bytes()
    snap.write_bytes(data[: len(data) // 3])  # torn write of the snapshot
    with EmbeddedVectorIndex(root, ann_threshold=100) as vi:
        assert vi.mode(tenant_id=T1, index_id=I1, space="visual") == "ann"
        assert recall(vi, videos, qs, 10) >= 0.9
    assert len(snap.read_bytes()) == len(data)  # re-saved whole


def test_failed_write_leaves_previous_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write that dies before its commit point (the rename) changes nothing, in memory or on disk."""
    rng = np.random.default_rng(25)
    videos = make_videos(rng, 3, 2, 2)
    root = tmp_path / "v"
    vid = f"{1:024x}"
    with EmbeddedVectorIndex(root) as vi:
        load(vi, videos)

        def crash(src: object, dst: object) -> None:
            raise OSError("disk full / power cut")

        monkeypatch.setattr(vectors_embedded.os, "replace", crash)
        with pytest.raises(OSError):
            vi.replace_video(tenant_id=T1, index_id=I1, space="visual", video_id=vid,
                             records=[VectorRecord(vid, 7, 0.0, 1.0, unit(rng, 1)[0])])
        monkeypatch.undo()
        segs = vi.segments_for_video(tenant_id=T1, index_id=I1, space="visual", video_id=vid)
        assert [s.clip_seq for s in segs] == [0, 0, 1, 1]
    assert not [p for p in (root / T1 / I1 / "visual").iterdir() if p.name.startswith(".tmp-")]
    with EmbeddedVectorIndex(root) as vi:
        assert vi.count(tenant_id=T1, index_id=I1, space="visual") == 12
        assert [s.clip_seq for s in vi.segments_for_video(tenant_id=T1, index_id=I1, space="visual",
                                                          video_id=vid)] == [0, 0, 1, 1]


def test_partial_files_do_not_corrupt_the_index(tmp_path: Path) -> None:
    """A torn temporary (crash mid-write) is ignored; a torn video file (non-atomic filesystem, bad disk)
    is set aside, and everything else still opens."""
    rng = np.random.default_rng(26)
    videos = make_videos(rng, 5, 2, 2)
    root = tmp_path / "v"
    with EmbeddedVectorIndex(root) as vi:
        load(vi, videos)
    d = root / T1 / I1 / "visual"
    good = (d / f"v-{0:024x}.npz").read_bytes()
    (d / ".tmp-deadbeef").write_bytes(good[: len(good) // 2])
    (d / f"v-{4:024x}.npz").write_bytes(good[: len(good) // 2])
    with EmbeddedVectorIndex(root) as vi:
        assert vi.count(tenant_id=T1, index_id=I1, space="visual") == 16
        assert vi.count(tenant_id=T1, index_id=I1, space="visual", video_id=f"{4:024x}") == 0
        hits = vi.search(tenant_id=T1, index_id=I1, space="visual", query=videos[f"{2:024x}"][0].vector, k=1)
        assert hits[0].video_id == f"{2:024x}"
    names = {p.name for p in d.iterdir()}
    assert ".tmp-deadbeef" not in names
    assert any(n.startswith("corrupt-") for n in names)


_KILLED_WRITER = textwrap.dedent("""
    import sys, numpy as np
    from pathlib import Path
    from framedex.storage.vectors import VectorRecord
    from framedex.storage.vectors_embedded import EmbeddedVectorIndex
    vi = EmbeddedVectorIndex(Path(sys.argv[1]), ann_threshold=200)
    rng = np.random.default_rng(0)
    i = 0
    while True:
        vid = f"{i % 40:024x}"
        n = 5 + i % 7
        x = rng.standard_normal((n, 16)).astype(np.float32)
        vi.replace_video(tenant_id="a" * 24, index_id="1" * 24, space="visual", video_id=vid,
                         records=[VectorRecord(vid, j, 0.0, 1.0, x[j], {"n": n}) for j in range(n)])
        i += 1
        if i == 60:
            print("ready", flush=True)
""")


def test_process_killed_while_writing(tmp_path: Path) -> None:
    """SIGKILL a process in the middle of a stream of writes (crossing into ANN mode): the index
    reopens, every video is whole (one version), searches work."""
    root = tmp_path / "v"
    env = {**os.environ, "PYTHONPATH": str(Path(vectors_embedded.__file__).parents[2])}
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(root)], stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with EmbeddedVectorIndex(root, ann_threshold=200) as vi:
        total = vi.count(tenant_id=T1, index_id=I1, space="visual")
        assert total > 200
        for i in range(40):
            segs = vi.segments_for_video(tenant_id=T1, index_id=I1, space="visual", video_id=f"{i:024x}")
            assert segs and {s.payload["n"] for s in segs if s.payload} == {len(segs)}
        q = np.random.default_rng(1).standard_normal(16).astype(np.float32)
        hits = vi.search(tenant_id=T1, index_id=I1, space="visual", query=q, k=total, group="vector")
        assert len(hits) == total and len({ident(h) for h in hits}) == total


def test_root_is_owned_by_one_instance(tmp_path: Path) -> None:
    vi = EmbeddedVectorIndex(tmp_path / "v")
    with pytest.raises(RuntimeError, match="already open"):
        EmbeddedVectorIndex(tmp_path / "v")
    vi.close()
    vi.close()
    with pytest.raises(RuntimeError):
        vi.count(tenant_id=T1, index_id=I1)
    EmbeddedVectorIndex(tmp_path / "v").close()
