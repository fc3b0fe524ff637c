"""Blob store port (media, thumbnails, upload chunks) and its local-filesystem adapter."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO, Protocol

_CHUNK = 1024 * 1024
log = logging.getLogger("framedex.blobs")

# Partial writes go to `.tmp-<pid>.<token>-*` beside their target. The pid and a token drawn once per
# process tell a sweep which files belong to a process that is gone (killed mid-write) and which to
# a live writer (another framedex process on the same data dir, e.g. `framedex upload`); the token
# also tells a restarted process apart from its predecessor when both got the same pid (containers).
_TMP = ".tmp-"
_PROCESS_TOKEN = secrets.token_hex(4)
# A temporary file this old is abandoned whoever wrote it: no single blob write takes an hour.
TMP_MAX_AGE_SECONDS = 3600.0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def _tmp_abandoned(name: str, age: float) -> bool:
    if age > TMP_MAX_AGE_SECONDS:
        return True
    owner = name[len(_TMP):].split("-", 1)[0]
    pid_text, _, token = owner.partition(".")
    if not pid_text.isdigit() or not token:
        return False  # not written by this scheme: only age decides
    if token == _PROCESS_TOKEN:
        return False  # ours, being written right now
    pid = int(pid_text)
    return pid == os.getpid() or not _pid_alive(pid)


def _durable(out: BinaryIO) -> None:
    """On disk before the rename makes it visible: the database row that refers to a blob is committed after
    the blob is written, so after a power cut a committed row never points at an empty or torn file."""
    out.flush()
    os.fsync(out.fileno())


class BlobTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"blob exceeds {limit} bytes")
        self.limit = limit


class BlobStore(Protocol):
    def put_stream(self, key: str, stream: BinaryIO, max_bytes: int | None = None) -> tuple[int, str]:
        """Store `stream` under `key`; return (size, md5 hex). Atomic: a partial write is never visible."""
        ...

    def put_bytes(self, key: str, data: bytes) -> tuple[int, str]: ...

    def concat(self, key: str, parts: Iterable[str]) -> int: ...

    def open(self, key: str) -> BinaryIO: ...

    def open_range(self, key: str, start: int, end: int | None = None) -> BinaryIO:
        """Bytes `start`..`end` (inclusive, as HTTP ranges) or to the end of the blob; readers must stop
        after ``end - start + 1`` bytes (a local file is simply positioned at `start`)."""
        ...

    def local_path(self, key: str) -> Path:
        """A local file path for readers that need one (PyAV, ffmpeg)."""
        ...

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int: ...

    def delete(self, key: str) -> None: ...

    def delete_prefix(self, prefix: str) -> None: ...

    def sweep_temp(self) -> int:
        """Remove partial writes left by processes that died mid-write; return how many."""
        ...

    def list_groups(self, prefix: str) -> dict[str, float]:
        """The names directly under ``prefix/`` that hold blobs (``assets/<id>/…`` → ``<id>``), each with the
        newest modification time (Unix seconds) of anything under it: what the orphan sweep walks."""
        ...

    def ready(self) -> bool:
        """Whether the store can take writes now (the readiness probe)."""
        ...


def _check_key(key: str) -> str:
    # Keys are made by us from ids, never from user input; this guard keeps it that way.
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"invalid blob key {key!r}")
    return key


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def put_stream(self, key: str, stream: BinaryIO, max_bytes: int | None = None) -> tuple[int, str]:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.md5(usedforsecurity=False)
        size = 0
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{_TMP}{os.getpid()}.{_PROCESS_TOKEN}-")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(_CHUNK):
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise BlobTooLarge(max_bytes)
                    digest.update(chunk)
                    out.write(chunk)
                _durable(out)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return size, digest.hexdigest()

    def put_bytes(self, key: str, data: bytes) -> tuple[int, str]:
        import io

        return self.put_stream(key, io.BytesIO(data))

    def concat(self, key: str, parts: Iterable[str]) -> int:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{_TMP}{os.getpid()}.{_PROCESS_TOKEN}-")
        try:
            with os.fdopen(fd, "wb") as out:
                for part in parts:
                    with open(self._path(part), "rb") as src:
                        shutil.copyfileobj(src, out, _CHUNK)
                _durable(out)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path.stat().st_size

    def open(self, key: str) -> BinaryIO:
        return open(self._path(key), "rb")

    def open_range(self, key: str, start: int, end: int | None = None) -> BinaryIO:
        f = open(self._path(key), "rb")  # noqa: SIM115 - the caller closes it
        f.seek(start)
        return f

    def local_path(self, key: str) -> Path:
        return self._path(key)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        return self._path(key).stat().st_size

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> None:
        target = self._path(prefix.rstrip("/"))
        if target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
        else:
            target.unlink(missing_ok=True)

    def sweep_temp(self) -> int:
        removed = 0
        now = time.time()
        for dirpath, _dirs, files in os.walk(self.root):
            for name in files:
                if not name.startswith(_TMP):
                    continue
                path = Path(dirpath) / name
                try:
                    age = now - path.stat().st_mtime
                except FileNotFoundError:  # finished (renamed) or removed meanwhile
                    continue
                if _tmp_abandoned(name, age):
                    path.unlink(missing_ok=True)
                    removed += 1
        if removed:
            log.info("removed %d partial blob write(s) left by a stopped process", removed)
        return removed

    def list_groups(self, prefix: str) -> dict[str, float]:
        base = self._path(prefix.rstrip("/"))
        if not base.is_dir():
            return {}
        groups: dict[str, float] = {}
        for child in base.iterdir():
            with contextlib.suppress(FileNotFoundError):  # removed meanwhile
                newest = child.stat().st_mtime
                if child.is_dir():
                    for dirpath, _dirs, files in os.walk(child):
                        for name in files:
                            with contextlib.suppress(FileNotFoundError):
                                newest = max(newest, (Path(dirpath) / name).stat().st_mtime)
                groups[child.name] = newest
        return groups

    def ready(self) -> bool:
        return os.access(self.root, os.W_OK)
