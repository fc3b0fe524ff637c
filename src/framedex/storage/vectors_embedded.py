"""Embedded `VectorIndex` adapter: one directory per collection, exact search when small, HNSW when large.

Layout (``root`` is conventionally ``<data_dir>/vectors``)::

    root/.lock                                   flock: one process (one instance) owns the root
    root/<tenant>/<index>/<space>/v-<video>.npz  the records of one video: the source of truth
    root/<tenant>/<index>/<space>/ann.usearch    HNSW snapshot (a cache; rebuilt/reconciled on open)
    root/.trash/                                 deleted indexes, removed on open

Durability and crash safety: every `replace_video` writes the video's file to a temporary name,
fsyncs it, renames it over the old one and fsyncs the directory, *then* updates memory. A crash
at any point leaves either the old or the new file; stray temporaries are removed on open, and a
file that cannot be read (torn by a non-atomic filesystem, damaged disk) is set aside as
``corrupt-*.npz`` with an error in the log instead of taking the whole collection down. The HNSW
snapshot is only a cache: on open it is checked against the video files (vectors of videos
deleted or replaced since are removed, missing ones added) and rebuilt if it cannot be read.

Search: a collection holds every vector in memory (float32, normalised). Up to `ann_threshold`
vectors it searches exactly (one BLAS mat-vec over a cached matrix). Above, it builds a usearch
HNSW index (`ann_dtype` storage, cosine metric) and searches that, over-fetching to make room
for the `video_ids` filter and for grouping; when the filter keeps few vectors (so that the
over-fetch would be large) it computes exact scores over the allowed videos instead, which is
both exact and faster. Keys are ``generation << 24 | vector no.``, where each `replace_video`
of a collection takes a new generation: a key never names two different vectors, so an old
snapshot can be reconciled with the files by generation.

Concurrency: collection state is an immutable snapshot swapped on write (readers take no lock
for exact search); the mutable HNSW index is guarded by a reader/writer lock held for the
duration of each usearch call, and a write adds its vectors in chunks, publishes the new state,
then removes the old vectors, so searches keep running during large writes. Writes to one
collection are serialised.

Memory: about 4*d bytes per vector for the float32 copy plus, above the threshold, the HNSW
index (2*d bytes per vector in f16 + ~150 bytes of graph at connectivity 16), e.g. ~2.4 GB for
one million 384-d vectors.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from framedex.native import preload_native_runtimes
from framedex.storage.vectors import (
    Group,
    VectorHit,
    VectorRecord,
    check_group,
    check_name,
    normalise_rows,
)

if TYPE_CHECKING:
    from usearch.index import Index as UsearchIndex

log = logging.getLogger(__name__)


def _usearch() -> type[UsearchIndex]:
    """usearch, imported only after onnxruntime: the other order crashes (see `framedex.native`)."""
    preload_native_runtimes()
    from usearch.index import Index

    return Index

_IDX_BITS = 24
_IDX_MASK = (1 << _IDX_BITS) - 1
_MAX_GEN = (1 << (63 - _IDX_BITS)) - 1
_MAX_SEQ = (1 << 31) - 1
_SNAPSHOT = "ann.usearch"
_PER_GROUP_FETCH: dict[str, int] = {"vector": 1, "clip": 4, "video": 16}
_CPUS = max(1, os.cpu_count() or 1)


# --- small helpers ---------------------------------------------------------------------------------


class _RWLock:
    """Many readers or one writer; waiting writers block new readers (no writer starvation)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._waiting = 0

    @contextlib.contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write a file under a temporary name, fsync, rename over `path`, fsync the directory."""
    tmp = path.parent / f".tmp-{uuid.uuid4().hex}"
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class _Video:
    """The records of one video in one collection (arrays are read-only, row i = vector no. i)."""

    video_id: str
    gen: int
    seq: np.ndarray  # int64
    start: np.ndarray  # float64
    end: np.ndarray  # float64
    vectors: np.ndarray  # float32 (n, d), normalised
    payloads: tuple[dict[str, Any] | None, ...]

    @property
    def size(self) -> int:
        return int(self.seq.shape[0])

    @property
    def keys(self) -> np.ndarray:
        return (np.int64(self.gen) << _IDX_BITS) | np.arange(self.size, dtype=np.int64)


@dataclass(frozen=True, eq=False)
class _Matrix:
    """All vectors of a state, concatenated (exact mode)."""

    vectors: np.ndarray
    gens: np.ndarray
    idxs: np.ndarray
    seqs: np.ndarray
    offsets: dict[str, tuple[int, int]]


@dataclass(frozen=True, eq=False)
class _GenTable:
    """The state's videos sorted by generation, with their row offsets into `seqs` (every video's clip seqs,
    concatenated): ANN keys (gen, idx) are resolved with one `searchsorted`, not a loop over videos."""

    gens: np.ndarray  # int64, sorted
    sizes: np.ndarray  # int64
    offsets: np.ndarray  # int64
    seqs: np.ndarray  # int64
    videos: tuple[_Video, ...]  # in `gens` order


@dataclass(frozen=True, eq=False)
class _State:
    videos: Mapping[str, _Video]
    by_gen: Mapping[int, _Video]
    count: int
    dim: int | None
    _matrix: list[_Matrix] = field(default_factory=list)  # lazily built cache (benign race)
    _table: list[_GenTable] = field(default_factory=list)  # lazily built cache (benign race)

    def replaced(self, add: _Video | None, remove: _Video | None) -> _State:
        """This state with one video added and/or removed, without walking every video (a write would
        otherwise cost time in proportion to the videos already there)."""
        videos, by_gen, count = dict(self.videos), dict(self.by_gen), self.count
        if remove is not None and videos.get(remove.video_id) is remove:
            del videos[remove.video_id]
            by_gen.pop(remove.gen, None)
            count -= remove.size
        if add is not None:
            videos[add.video_id] = add
            by_gen[add.gen] = add
            count += add.size
        dim = (self.dim if self.dim is not None else add.vectors.shape[1] if add is not None else None) \
            if videos else None
        return _State(videos=videos, by_gen=by_gen, count=count, dim=dim)

    def table(self) -> _GenTable:
        if not self._table:
            vids = tuple(sorted(self.videos.values(), key=lambda v: v.gen))
            sizes = np.fromiter((v.size for v in vids), np.int64, len(vids))
            offsets = np.zeros(len(vids), np.int64)
            np.cumsum(sizes[:-1], out=offsets[1:])
            self._table.append(_GenTable(
                gens=np.fromiter((v.gen for v in vids), np.int64, len(vids)), sizes=sizes, offsets=offsets,
                seqs=np.concatenate([v.seq for v in vids]) if vids else _EMPTY_I, videos=vids))
        return self._table[0]

    @staticmethod
    def of(videos: Mapping[str, _Video]) -> _State:
        dims = {v.vectors.shape[1] for v in videos.values()}
        return _State(videos=dict(videos), by_gen={v.gen: v for v in videos.values()},
                      count=sum(v.size for v in videos.values()), dim=next(iter(dims)) if dims else None)

    def matrix(self) -> _Matrix:
        if not self._matrix:
            vids = list(self.videos.values())
            d = self.dim or 0
            offsets: dict[str, tuple[int, int]] = {}
            pos = 0
            for v in vids:
                offsets[v.video_id] = (pos, pos + v.size)
                pos += v.size
            self._matrix.append(_Matrix(
                vectors=np.concatenate([v.vectors for v in vids]) if vids else np.zeros((0, d), np.float32),
                gens=np.concatenate([np.full(v.size, v.gen, np.int64) for v in vids]) if vids else _EMPTY_I,
                idxs=np.concatenate([np.arange(v.size, dtype=np.int64) for v in vids]) if vids else _EMPTY_I,
                seqs=np.concatenate([v.seq for v in vids]) if vids else _EMPTY_I,
                offsets=offsets,
            ))
        return self._matrix[0]


_EMPTY_I = np.zeros(0, np.int64)
_EMPTY_STATE = _State.of({})


@dataclass(frozen=True)
class AnnParams:
    """HNSW parameters (bench/search_latency.py, 1M clustered 384-d vectors, 2 busy cores, k=50):
    expansion_search 64 / 128 / 256 / 512 gave recall@10 0.72 / 0.83 / 0.89 / 0.935 at p50 1.8 / 2.2 /
    3.1 / 3.3 ms (clip-grouped 4.2 / 4.5 / 5.4 / 6.6 ms), so the default spends the latency budget on recall.
    At 100k, recall@10 is 1.0 from 64 up."""

    connectivity: int = 16
    expansion_add: int = 64
    expansion_search: int = 512
    dtype: str = "f16"  # "f32" | "f16" | "bf16" | "i8" (i8 loses ~5% recall@10)
    build_threads: int = 0  # 0 = all cores
    max_fetch: int = 4096  # over-fetch above this falls back to exact search over the allowed subset


# --- one collection --------------------------------------------------------------------------------


class _Collection:
    def __init__(self, path: Path, *, ann_threshold: int, params: AnnParams, autosave_s: float | None) -> None:
        self.path = path
        self.ann_threshold = ann_threshold
        self.params = params
        self.autosave_s = autosave_s
        self._state: _State = _EMPTY_STATE
        self._ann: UsearchIndex | None = None
        self._ann_garbage = 0  # removed-but-not-compacted vectors in the HNSW graph
        self._ann_dirty = False
        self._last_save = time.monotonic()
        self._next_gen = 1
        self._rw = _RWLock()
        self._write_mutex = threading.RLock()
        self._loaded = False
        # (video_ids object, state, allowed videos, their vector count) of the last search; (allowed, mask)
        self._allowed_memo: tuple[Collection[str], _State, list[_Video] | None, int] | None = None
        self._mask_memo: tuple[list[_Video], np.ndarray] | None = None
        self.closed = False

    # loading

    def ensure_loaded(self) -> None:
        if self._loaded:
            return
        with self._write_mutex:
            if self._loaded:
                return
            self._load()
            self._loaded = True

    def _load(self) -> None:
        videos: dict[str, _Video] = {}
        max_gen = 0
        if self.path.is_dir():
            for p in self.path.iterdir():
                if p.name.startswith(".tmp-"):
                    p.unlink(missing_ok=True)  # a write that never committed
                elif p.name.startswith("v-") and p.suffix == ".npz":
                    try:
                        v = self._read_video(p)
                    except Exception as exc:
                        bad = p.with_name(f"corrupt-{uuid.uuid4().hex[:8]}-{p.name}")
                        log.error("vector file %s is unreadable (%s); moved aside to %s", p, exc, bad.name)
                        os.replace(p, bad)
                        continue
                    videos[v.video_id] = v
                    max_gen = max(max_gen, v.gen)
        dims = {v.vectors.shape[1] for v in videos.values()}
        if len(dims) > 1:
            raise RuntimeError(f"{self.path}: vectors of different dimensions {sorted(dims)}")
        state = _State.of(videos)
        snapshot = self.path / _SNAPSHOT
        ann: UsearchIndex | None = None
        if snapshot.exists():
            if state.count >= self.ann_threshold // 2:
                ann = self._restore(snapshot, state)
                if ann is not None and len(ann):
                    max_gen = max(max_gen, int(np.asarray(ann.keys).astype(np.int64).max()) >> _IDX_BITS)
            if ann is None:
                snapshot.unlink(missing_ok=True)
        self._next_gen = max_gen + 1
        self._state = state
        self._ann = ann
        if ann is not None:
            self._reconcile(ann, state)
        self._maybe_switch()

    def _read_video(self, p: Path) -> _Video:
        with np.load(p, allow_pickle=False) as z:
            video_id = str(z["video_id"])
            gen = int(z["gen"])
            seq = z["seq"].astype(np.int64)
            start = z["start"].astype(np.float64)
            end = z["end"].astype(np.float64)
            vectors = np.ascontiguousarray(z["vectors"], dtype=np.float32)
            payloads = json.loads(str(z["payloads"]))
        n = seq.shape[0]
        if (p.name != f"v-{video_id}.npz" or vectors.ndim != 2 or vectors.shape[0] != n
                or start.shape != (n,) or end.shape != (n,) or len(payloads) != n or not 0 < gen <= _MAX_GEN):
            raise ValueError("inconsistent contents")
        return _Video(video_id, gen, _readonly(seq), _readonly(start), _readonly(end), _readonly(vectors),
                      tuple(payloads))

    def _restore(self, snapshot: Path, state: _State) -> UsearchIndex | None:
        try:
            ann = _usearch().restore(str(snapshot))
        except Exception as exc:  # truncated or damaged: it is only a cache
            log.warning("HNSW snapshot %s unreadable (%s); rebuilding", snapshot, exc)
            return None
        if ann is None or (state.dim is not None and ann.ndim != state.dim) \
                or str(ann.dtype).lower().split(".")[-1] != self.params.dtype.lower() \
                or ann.connectivity != self.params.connectivity:
            log.info("HNSW snapshot %s does not match the parameters; rebuilding", snapshot)
            return None
        # (usearch defines the setters after the getters, which mypy does not follow)
        ann.expansion_add = self.params.expansion_add  # type: ignore[misc]
        ann.expansion_search = self.params.expansion_search  # type: ignore[misc]
        return ann

    def _reconcile(self, ann: UsearchIndex, state: _State) -> None:
        """Make the restored HNSW index hold exactly the vectors of the video files."""
        keys = np.asarray(ann.keys).astype(np.int64)
        gens = keys >> _IDX_BITS
        have_gens, counts = np.unique(gens, return_counts=True)
        stale: list[np.ndarray] = []
        present: set[int] = set()
        for g, c in zip(have_gens.tolist(), counts.tolist(), strict=True):
            v = state.by_gen.get(g)
            if v is not None and v.size == c:
                present.add(g)
            else:
                stale.append(keys[gens == g])
        if stale:
            ann.remove(np.concatenate(stale).astype(np.uint64))
            self._ann_garbage += sum(len(s) for s in stale)
        missing = [v for g, v in state.by_gen.items() if g not in present]
        for v in missing:
            self._ann_add(ann, v, lock=False)
        if stale or missing:
            self._ann_dirty = True
            log.info("%s: HNSW snapshot reconciled (%d stale generations removed, %d videos added)",
                     self.path, len(stale), len(missing))

    # writing

    def replace_video(self, video_id: str, records: Sequence[VectorRecord]) -> None:
        for r in records:
            if r.video_id != video_id:
                raise ValueError(f"record of video {r.video_id!r} given for {video_id!r}")
            if not isinstance(r.clip_seq, int | np.integer) or not 0 <= int(r.clip_seq) <= _MAX_SEQ:
                raise ValueError(f"clip_seq must be an int in [0, {_MAX_SEQ}], not {r.clip_seq!r}")
        if len(records) > _IDX_MASK:
            raise ValueError(f"at most {_IDX_MASK} vectors per video and space")
        if records:
            vectors = normalise_rows(np.stack([np.asarray(r.vector, dtype=np.float32).reshape(-1) for r in records]))
            payload_json = json.dumps([r.payload for r in records], separators=(",", ":"), allow_nan=False)
            payloads = tuple(json.loads(payload_json))  # private copies, exactly what a reopen would see
        with self._write_mutex:
            self._check_open()
            self.ensure_loaded()
            state = self._state
            old = state.videos.get(video_id)
            if not records:
                if old is not None:
                    self._remove_video(old)
                return
            if state.dim is not None and vectors.shape[1] != state.dim:
                raise ValueError(f"space {self.path.name!r} holds {state.dim}-d vectors, got {vectors.shape[1]}-d")
            gen = self._next_gen
            if gen > _MAX_GEN:
                raise RuntimeError("key space exhausted")
            self._next_gen += 1
            new = _Video(
                video_id, gen,
                _readonly(np.array([int(r.clip_seq) for r in records], np.int64)),
                _readonly(np.array([float(r.start) for r in records], np.float64)),
                _readonly(np.array([float(r.end) for r in records], np.float64)),
                _readonly(vectors), payloads,
            )
            self.path.mkdir(parents=True, exist_ok=True)
            file = self.path / f"v-{video_id}.npz"

            def write(f: IO[bytes]) -> None:
                np.savez(f, video_id=np.array(video_id), gen=np.array(gen, np.int64), seq=new.seq,
                         start=new.start, end=new.end, vectors=new.vectors, payloads=np.array(payload_json))

            _write_atomic(file, write)  # the commit point
            self._publish(state.replaced(new, old), add=new, remove=old)

    def delete_video(self, video_id: str) -> None:
        with self._write_mutex:
            self._check_open()
            self.ensure_loaded()
            old = self._state.videos.get(video_id)
            if old is not None:
                self._remove_video(old)

    def _remove_video(self, old: _Video) -> None:
        file = self.path / f"v-{old.video_id}.npz"
        file.unlink(missing_ok=True)
        _fsync_dir(self.path)
        self._publish(self._state.replaced(None, old), add=None, remove=old)

    def _publish(self, state: _State, *, add: _Video | None, remove: _Video | None) -> None:
        """Swap in `state`; keep the HNSW index in step (new vectors before, old ones after the swap)."""
        ann = self._ann
        if ann is not None:
            if add is not None:
                self._ann_add(ann, add, lock=True)
            with self._rw.write():
                self._state = state
            if remove is not None:
                with self._rw.write():
                    ann.remove(remove.keys.astype(np.uint64))
                self._ann_garbage += remove.size
            self._ann_dirty = True
        else:
            with self._rw.write():
                self._state = state
        self._maybe_switch()
        self._maybe_autosave()

    def _ann_add(self, ann: UsearchIndex, v: _Video, *, lock: bool, chunk: int = 2048) -> None:
        keys = v.keys.astype(np.uint64)
        for i in range(0, v.size, chunk):
            if lock:
                with self._rw.write():
                    ann.add(keys[i:i + chunk], v.vectors[i:i + chunk], threads=self.params.build_threads)
            else:
                ann.add(keys[i:i + chunk], v.vectors[i:i + chunk], threads=self.params.build_threads)

    def _new_ann(self, dim: int) -> UsearchIndex:
        p = self.params
        return _usearch()(ndim=dim, metric="cos", dtype=p.dtype, connectivity=p.connectivity,
                             expansion_add=p.expansion_add, expansion_search=p.expansion_search)

    def _maybe_switch(self) -> None:
        """Build the HNSW index when the collection outgrows exact search (or has too much garbage);
        drop it when the collection shrinks well below the threshold. Called with the write mutex."""
        state = self._state
        if (self._ann is None and state.count > self.ann_threshold) or (
                self._ann is not None and self._ann_garbage > max(state.count, self.ann_threshold)):
            assert state.dim is not None
            ann = self._new_ann(state.dim)  # built while readers keep using the current index
            vids = list(state.videos.values())
            if vids:
                keys = np.concatenate([v.keys for v in vids]).astype(np.uint64)
                ann.add(keys, np.concatenate([v.vectors for v in vids]), threads=self.params.build_threads)
            with self._rw.write():
                self._ann = ann
            self._ann_garbage = 0
            self._ann_dirty = True
            self.save()
        elif self._ann is not None and state.count < self.ann_threshold // 2:
            with self._rw.write():
                self._ann = None
            self._ann_garbage = 0
            self._ann_dirty = False
            (self.path / _SNAPSHOT).unlink(missing_ok=True)

    def _maybe_autosave(self) -> None:
        if self.autosave_s is not None and self._ann_dirty and time.monotonic() - self._last_save >= self.autosave_s:
            self.save()

    def save(self) -> None:
        """Persist the HNSW snapshot if it changed (write mutex held or taken)."""
        with self._write_mutex:
            ann = self._ann
            if ann is None or not self._ann_dirty or self.closed:
                return
            self.path.mkdir(parents=True, exist_ok=True)
            tmp = self.path / f".tmp-{uuid.uuid4().hex}"
            try:
                with self._rw.read():
                    ann.save(str(tmp))
                with open(tmp, "rb+") as f:
                    os.fsync(f.fileno())
                os.replace(tmp, self.path / _SNAPSHOT)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            _fsync_dir(self.path)
            self._ann_dirty = False
            self._last_save = time.monotonic()

    def close(self, *, save: bool) -> None:
        with self._write_mutex:
            if self.closed:
                return
            if save and self._loaded:
                self.save()
            self.closed = True
            with self._rw.write():
                self._ann = None
                self._state = _EMPTY_STATE

    def _check_open(self) -> None:
        if self.closed:
            raise RuntimeError(f"vector collection {self.path} is closed (index deleted or store closed)")

    # reading

    def state(self) -> _State:
        self.ensure_loaded()
        return self._state

    def search(self, queries: Sequence[np.ndarray], k: int, video_ids: Collection[str] | None, group: Group,
               min_score: float | None) -> list[list[VectorHit]]:
        """The hits of each query (HNSW runs a batch of queries on several threads at once)."""
        self.ensure_loaded()
        state = self._state
        if k <= 0 or state.count == 0:
            return [[] for _ in queries]
        qs = []
        for query in queries:
            q = np.asarray(query, dtype=np.float32)
            if q.ndim != 1 or q.shape[0] != state.dim:
                raise ValueError(f"query must be a {state.dim}-d vector, got shape {q.shape}")
            qs.append(normalise_rows(q)[0])
        out: list[list[VectorHit] | None] = [None] * len(qs)
        with self._rw.read():
            ann, state = self._ann, self._state  # a consistent pair (writers swap both under the write lock)
            allowed, n_allowed = self._allowed(state, video_ids)
            if n_allowed == 0:
                return [[] for _ in qs]
            if ann is not None and len(ann):
                fetch = math.ceil(k * _PER_GROUP_FETCH[group] * state.count / max(n_allowed, 1) * 1.25) + 16
                if fetch <= self.params.max_fetch and not (allowed is not None and n_allowed <= self.ann_threshold):
                    out = self._search_ann(ann, state, qs, k, fetch, allowed, group, min_score)
        missing = [i for i, hits in enumerate(out) if hits is None]
        if missing:
            exact = self._search_exact(state, ann, allowed, n_allowed, [qs[i] for i in missing], k, group, min_score)
            for i, hits in zip(missing, exact, strict=True):
                out[i] = hits
        return [hits or [] for hits in out]

    def _search_exact(self, state: _State, ann: UsearchIndex | None, allowed: list[_Video] | None, n_allowed: int,
                      qs: list[np.ndarray], k: int, group: Group, min_score: float | None) -> list[list[VectorHit]]:
        """Exact search of each query: one pass over the vectors for all of them (the cost is reading memory)."""
        if state.count == 0:
            return [[] for _ in qs]
        queries = np.stack(qs, axis=1)  # (d, m)
        if ann is None and (allowed is None or 4 * n_allowed > state.count):
            m = state.matrix()  # exact mode: one mat-mul over the cached matrix
            scores, gens, idxs, seqs = m.vectors @ queries, m.gens, m.idxs, m.seqs
            if allowed is not None:
                mask = np.zeros(len(scores), bool)
                for v in allowed:
                    a, b = m.offsets[v.video_id]
                    mask[a:b] = True
                rows = np.flatnonzero(mask)
                scores, gens, idxs, seqs = scores[rows], gens[rows], idxs[rows], seqs[rows]
        else:
            # a selective filter (or a grouping that would need a huge over-fetch): exact over the subset
            vids = allowed if allowed is not None else list(state.videos.values())
            scores = np.concatenate([v.vectors @ queries for v in vids])
            gens = np.concatenate([np.full(v.size, v.gen, np.int64) for v in vids])
            idxs = np.concatenate([np.arange(v.size, dtype=np.int64) for v in vids])
            seqs = np.concatenate([v.seq for v in vids])
        return [_select(state, np.ascontiguousarray(scores[:, j]), gens, idxs, seqs, k, group, min_score)[0]
                for j in range(len(qs))]

    def _allowed(self, state: _State, video_ids: Collection[str] | None) -> tuple[list[_Video] | None, int]:
        """The videos of `video_ids` in `state` (None: all of them) and their vector count. A search service
        passes the same frozenset for every search until its videos change, so the answer is memoised."""
        if video_ids is None:
            return None, state.count
        memo = self._allowed_memo
        if memo is not None and memo[0] is video_ids and memo[1] is state:
            return memo[2], memo[3]  # (only frozensets are memoised: a set could change under the same identity)
        allowed: list[_Video] | None = [v for vid in video_ids if (v := state.videos.get(vid)) is not None]
        n_allowed = sum(v.size for v in allowed or ())
        if n_allowed == state.count:
            allowed = None
        if isinstance(video_ids, frozenset):
            self._allowed_memo = (video_ids, state, allowed, n_allowed)
        return allowed, n_allowed

    def _allowed_mask(self, state: _State, allowed: list[_Video] | None) -> np.ndarray | None:
        """Per row of the state's generation table: is that video allowed (memoised like `_allowed`)."""
        if allowed is None:
            return None
        memo = self._mask_memo
        if memo is not None and memo[0] is allowed:
            return memo[1]
        table = state.table()
        mask = np.isin(table.gens, np.fromiter((v.gen for v in allowed), np.int64, len(allowed)))
        self._mask_memo = (allowed, mask)
        return mask

    def _search_ann(self, ann: UsearchIndex, state: _State, qs: list[np.ndarray], k: int, fetch: int,
                    allowed: list[_Video] | None, group: Group,
                    min_score: float | None) -> list[list[VectorHit] | None]:
        """Over-fetching HNSW search of each query (read lock held); None for a query whose over-fetch would
        get too large (exact search answers it)."""
        mask = self._allowed_mask(state, allowed)
        size = len(ann)
        out: list[list[VectorHit] | None] = [None] * len(qs)
        pending = list(range(len(qs)))
        while pending and fetch < size:  # asking for (nearly) everything: exact is as cheap and complete
            count = min(fetch, size)
            if len(pending) == 1:
                m = ann.search(qs[pending[0]], count, threads=1)
                found = [(np.asarray(m.keys), np.asarray(m.distances))]
            else:
                batch = ann.search(np.stack([qs[i] for i in pending]), count, threads=min(len(pending), _CPUS))
                counts = np.asarray(batch.counts)  # type: ignore[union-attr]  # several queries: BatchMatches
                found = [(np.asarray(batch.keys[r][:counts[r]]), np.asarray(batch.distances[r][:counts[r]]))
                         for r in range(len(pending))]
            again = []
            for i, (raw_keys, distances) in zip(pending, found, strict=True):
                keys = raw_keys.astype(np.int64)
                approx = 1.0 - distances.astype(np.float32)
                gens, idxs = keys >> _IDX_BITS, keys & _IDX_MASK
                valid, seqs = _lookup(state, gens, idxs, mask)
                hits, groups = _select(state, approx[valid], gens[valid], idxs[valid], seqs[valid], k, group,
                                       min_score, exact_query=qs[i])
                exhausted = len(keys) < count or (
                    min_score is not None and len(approx) > 0 and float(approx.min()) < min_score - 0.01)
                if groups >= k or exhausted:
                    out[i] = hits
                else:
                    again.append(i)
            pending = again
            fetch *= 4
            if fetch > self.params.max_fetch:
                break
        return out


def _lookup(state: _State, gens: np.ndarray, idxs: np.ndarray,
            allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """For ANN candidates: which are live (and allowed), and their clip seqs (vectorised over the state's
    generation table)."""
    table = state.table()
    if not len(gens) or not len(table.gens):
        return np.zeros(len(gens), bool), np.zeros(len(gens), np.int64)
    pos = np.minimum(np.searchsorted(table.gens, gens), len(table.gens) - 1)
    # a key of a video being added or removed by a concurrent write is not in this state's table
    valid = (table.gens[pos] == gens) & (idxs < table.sizes[pos])
    if allowed is not None:
        valid &= allowed[pos]
    seqs = np.zeros(len(gens), np.int64)
    seqs[valid] = table.seqs[table.offsets[pos[valid]] + idxs[valid]]
    return valid, seqs


def _select(state: _State, scores: np.ndarray, gens: np.ndarray, idxs: np.ndarray, seqs: np.ndarray, k: int,
            group: Group, min_score: float | None,
            exact_query: np.ndarray | None = None) -> tuple[list[VectorHit], int]:
    """Best `k` candidates (or the best vector of each of the best `k` groups), best first, and the
    number of distinct groups among the candidates considered (to tell whether to fetch more). With
    `exact_query`, `scores` are the ANN's reduced-precision ones: the chosen hits are re-scored exactly."""
    if min_score is not None:
        keep = np.flatnonzero(scores >= min_score)
        scores, gens, idxs, seqs = scores[keep], gens[keep], idxs[keep], seqs[keep]
    n = len(scores)
    if n == 0:
        return [], 0
    want = k if group == "vector" else k * 8
    while True:
        # top-m by score; when m candidates hold >= k groups, the first k groups are the true top k
        m = min(n, want)
        top = np.argpartition(-scores, m - 1)[:m] if m < n else np.arange(n)
        order = top[np.argsort(-scores[top], kind="stable")]
        if group == "vector":
            chosen, found = order[:k], n
            break
        _, dense = np.unique(gens[order], return_inverse=True)  # small ints: no overflow below
        gkey = dense if group == "video" else (dense.astype(np.int64) << 32) | seqs[order]
        _, first = np.unique(gkey, return_index=True)
        first.sort()
        found = len(first)
        chosen = order[first[:k]]
        if found >= k or m == n:
            break
        want = m * 4
    hits: list[VectorHit] = []
    for i in chosen.tolist():
        v = state.by_gen[int(gens[i])]
        j = int(idxs[i])
        if exact_query is not None and group != "vector":
            # HNSW may reach a group through one of its weaker vectors: its hit is its best vector, found exactly
            rows = np.arange(len(v.seq)) if group == "video" else np.flatnonzero(v.seq == v.seq[j])
            j = int(rows[int(np.argmax(v.vectors[rows] @ exact_query))])
        score = float(scores[i]) if exact_query is None else float(v.vectors[j] @ exact_query)
        hits.append(VectorHit(v.video_id, int(v.seq[j]), float(v.start[j]), float(v.end[j]), score, v.payloads[j]))
    if exact_query is not None:
        hits.sort(key=lambda h: -h.score)
    return hits, found


# --- the adapter -----------------------------------------------------------------------------------


class EmbeddedVectorIndex:
    """`VectorIndex` on local files, exact below `ann_threshold` vectors per space and usearch HNSW above.

    One instance owns `root` (an exclusive flock on ``root/.lock``; a second instance, in this or
    another process, gets RuntimeError). Call `close()` (or use it as a context manager) to save
    the HNSW snapshots; without it nothing is lost, but the next open re-adds the vectors written
    since the last snapshot (`autosave_s`).
    """

    def __init__(self, root: Path, *, ann_threshold: int = 20_000, ann: AnnParams | None = None,
                 autosave_s: float | None = 300.0) -> None:
        self.root = Path(root)
        self.ann_threshold = ann_threshold
        self.params = ann or AnnParams()
        self.autosave_s = autosave_s
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock_file: IO[bytes] | None = open(self.root / ".lock", "ab")  # noqa: SIM115
        try:
            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            self._lock_file = None
            raise RuntimeError(f"vector index {self.root} is already open (another process or instance)") from None
        shutil.rmtree(self.root / ".trash", ignore_errors=True)
        self._collections: dict[tuple[str, str, str], _Collection] = {}
        self._registry = threading.Lock()
        self._closed = False

    def __enter__(self) -> EmbeddedVectorIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _index_dir(self, tenant_id: str, index_id: str) -> Path:
        if self._closed:
            raise RuntimeError("vector index is closed")
        return self.root / check_name("tenant_id", tenant_id) / check_name("index_id", index_id)

    def _collection(self, tenant_id: str, index_id: str, space: str) -> _Collection:
        key = (check_name("tenant_id", tenant_id), check_name("index_id", index_id), check_name("space", space))
        with self._registry:
            if self._closed:
                raise RuntimeError("vector index is closed")
            c = self._collections.get(key)
            if c is None:
                c = _Collection(self.root.joinpath(*key), ann_threshold=self.ann_threshold, params=self.params,
                                autosave_s=self.autosave_s)
                self._collections[key] = c
        return c

    def _space_names(self, tenant_id: str, index_id: str) -> set[str]:
        d = self._index_dir(tenant_id, index_id)
        names = {p.name for p in d.iterdir() if p.is_dir()} if d.is_dir() else set()
        with self._registry:
            names |= {s for (t, i, s) in self._collections if (t, i) == (tenant_id, index_id)}
        return names

    # the port

    def replace_video(self, *, tenant_id: str, index_id: str, space: str, video_id: str,
                      records: Sequence[VectorRecord]) -> None:
        check_name("video_id", video_id)
        self._collection(tenant_id, index_id, space).replace_video(video_id, records)

    def search(self, *, tenant_id: str, index_id: str, space: str, query: np.ndarray, k: int,
               video_ids: Collection[str] | None = None, group: Group = "clip",
               min_score: float | None = None) -> list[VectorHit]:
        return self.search_many(tenant_id=tenant_id, index_id=index_id, space=space, queries=[query], k=k,
                                video_ids=video_ids, group=group, min_score=min_score)[0]

    def search_many(self, *, tenant_id: str, index_id: str, space: str, queries: Sequence[np.ndarray], k: int,
                    video_ids: Collection[str] | None = None, group: Group = "clip",
                    min_score: float | None = None) -> list[list[VectorHit]]:
        check_group(group)
        if video_ids is not None and not isinstance(video_ids, set | frozenset | dict):
            video_ids = set(video_ids)
        if video_ids is not None and not video_ids:
            return [[] for _ in queries]
        c = self._collection(tenant_id, index_id, space)
        return c.search(queries, k, video_ids, group, min_score)

    def segments_for_video(self, *, tenant_id: str, index_id: str, space: str, video_id: str) -> list[VectorRecord]:
        v = self._collection(tenant_id, index_id, space).state().videos.get(video_id)
        if v is None:
            return []
        return [VectorRecord(v.video_id, int(v.seq[i]), float(v.start[i]), float(v.end[i]), v.vectors[i].copy(),
                             v.payloads[i]) for i in range(v.size)]

    def delete_video(self, *, tenant_id: str, index_id: str, video_id: str) -> None:
        check_name("video_id", video_id)
        for space in sorted(self._space_names(tenant_id, index_id)):
            self._collection(tenant_id, index_id, space).delete_video(video_id)

    def delete_index(self, *, tenant_id: str, index_id: str) -> None:
        d = self._index_dir(tenant_id, index_id)
        target: Path | None = None
        with self._registry:  # held throughout, so nobody reopens the collections half-way
            doomed = [key for key in self._collections if key[:2] == (tenant_id, index_id)]
            for key in doomed:
                self._collections.pop(key).close(save=False)  # waits for a write in progress
            if d.exists():
                trash = self.root / ".trash"
                trash.mkdir(exist_ok=True)
                target = trash / uuid.uuid4().hex
                os.replace(d, target)  # atomic: the index disappears at once, even if rmtree is cut short
                _fsync_dir(d.parent)
        if target is not None:
            shutil.rmtree(target, ignore_errors=True)

    def spaces(self, *, tenant_id: str, index_id: str) -> list[str]:
        return sorted(s for s in self._space_names(tenant_id, index_id)
                      if self._collection(tenant_id, index_id, s).state().count)

    def count(self, *, tenant_id: str, index_id: str, space: str | None = None, video_id: str | None = None) -> int:
        names = [space] if space is not None else sorted(self._space_names(tenant_id, index_id))
        total = 0
        for s in names:
            state = self._collection(tenant_id, index_id, s).state()
            if video_id is None:
                total += state.count
            elif (v := state.videos.get(video_id)) is not None:
                total += v.size
        return total

    def flush(self) -> None:
        """Save the HNSW snapshots that changed (adapter-specific; `close` does it too)."""
        with self._registry:
            colls = list(self._collections.values())
        for c in colls:
            c.save()

    def close(self) -> None:
        with self._registry:
            if self._closed:
                return
            self._closed = True
            colls = list(self._collections.values())
            self._collections.clear()
        for c in colls:
            try:
                c.close(save=True)
            except Exception:
                log.exception("saving the HNSW snapshot of %s failed", c.path)
        if self._lock_file is not None:
            self._lock_file.close()  # releases the flock
            self._lock_file = None

    def load_all(self) -> int:
        """Load every collection on disk now (a server does this at start-up, so its first searches do not
        pay for reading vectors and HNSW snapshots); returns the number of vectors loaded."""
        total = 0
        if self.root.is_dir():
            for space_dir in sorted(self.root.glob("*/*/*")):
                if space_dir.is_dir():
                    tenant, index, space = space_dir.relative_to(self.root).parts
                    total += self._collection(tenant, index, space).state().count
        return total

    # introspection for tests and benchmarks

    def mode(self, *, tenant_id: str, index_id: str, space: str) -> str:
        """'exact' or 'ann': how the collection is searched now."""
        c = self._collection(tenant_id, index_id, space)
        c.ensure_loaded()
        return "ann" if c._ann is not None else "exact"


def open_embedded(root: Path, **options: Any) -> EmbeddedVectorIndex:
    """The default `VectorIndex`: files under ``root`` (see the module docstring)."""
    return EmbeddedVectorIndex(root, **options)
