"""Request encoding: query strings, multipart bodies and file inputs, as the real API expects them.

* Query strings: ``None`` is dropped, lists repeat the key, mappings become deepObject keys
  (``duration[gte]=10``), booleans are ``true``/``false``.
* Multipart bodies (``POST /tasks``, ``/assets``, ``/search``, ``/embed``, ``/embed/tasks``): scalars are text
  parts, lists repeat the part, mappings (``user_metadata``, ``filter``) are JSON strings, files are file
  parts. Multipart is used even when no file is attached.
"""

from __future__ import annotations

import json
import mimetypes
import os
import secrets
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeAlias

import httpx

# What a caller may pass where a file is expected: a path, raw bytes, an open binary file, or a
# ``(filename, content, content_type)`` / ``(filename, content)`` tuple, content being bytes or a file.
FileContent: TypeAlias = bytes | bytearray | memoryview | IO[bytes]
FileInput: TypeAlias = (
    str
    | os.PathLike[str]
    | FileContent
    | tuple[str | None, FileContent]
    | tuple[str | None, FileContent, str | None]
)

QueryValue: TypeAlias = Any
CHUNK = 64 * 1024


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    if hasattr(value, "value") and isinstance(value.value, str):  # enums
        return str(value.value)
    return str(value)


def encode_query(
    params: Mapping[str, QueryValue] | None,
) -> list[tuple[str, str | int | float | bool | None]]:
    """Flatten ``params`` into ``(key, value)`` pairs (repeated keys for lists, deepObject for mappings)."""
    out: list[tuple[str, str | int | float | bool | None]] = []
    if not params:
        return out

    def add(key: str, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, Mapping):
            for sub, item in value.items():
                add(f"{key}[{sub}]", item)
        elif isinstance(value, list | tuple | set | frozenset):
            for item in value:
                if isinstance(item, Mapping):
                    raise TypeError(f"query parameter {key!r}: a list of objects cannot be encoded")
                add(key, item)
        else:
            out.append((key, _scalar(value)))

    for key, value in params.items():
        add(key, value)
    return out


def to_jsonable(value: Any) -> Any:
    """Turn pydantic models (by alias, unset fields dropped) and tuples into plain JSON values."""
    if hasattr(value, "model_dump") and callable(value.model_dump):
        return value.model_dump(by_alias=True, exclude_none=True, mode="json")
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def json_body(**fields: Any) -> dict[str, Any]:
    """A JSON body with the given fields, ``None`` meaning "not sent"."""
    return {k: to_jsonable(v) for k, v in fields.items() if v is not None}


# --------------------------------------------------------------------------------------------- files


@dataclass
class _FilePart:
    name: str
    filename: str
    content_type: str
    data: bytes | None = None  # in-memory content
    path: Path | None = None  # opened on each iteration, closed after
    fileobj: IO[bytes] | None = None  # caller's file: read from its position at creation
    start: int | None = None  # fileobj position to rewind to; None when not seekable

    def size(self) -> int | None:
        if self.data is not None:
            return len(self.data)
        if self.path is not None:
            return self.path.stat().st_size
        if self.fileobj is not None and self.start is not None:
            try:
                end = os.fstat(self.fileobj.fileno()).st_size
                return max(end - self.start, 0)
            except (AttributeError, OSError, ValueError):
                pass
            try:
                here = self.fileobj.tell()
                self.fileobj.seek(0, os.SEEK_END)
                end = self.fileobj.tell()
                self.fileobj.seek(here)
                return max(end - self.start, 0)
            except (AttributeError, OSError, ValueError):
                return None
        return None

    def chunks(self) -> Iterator[bytes]:
        if self.data is not None:
            for i in range(0, len(self.data), CHUNK):
                yield self.data[i : i + CHUNK]
            return
        if self.path is not None:
            with self.path.open("rb") as fh:
                while chunk := fh.read(CHUNK):
                    yield chunk
            return
        assert self.fileobj is not None
        if self.start is not None:
            self.fileobj.seek(self.start)
        while True:
            chunk = self.fileobj.read(CHUNK)
            if not chunk:
                break
            yield bytes(chunk)


def _guess_type(filename: str) -> str:
    guessed, _ = mimetypes.guess_type(filename)
    return guessed or "application/octet-stream"


def _content_part(
    name: str, content: FileContent, filename: str | None, content_type: str | None
) -> _FilePart:
    if isinstance(content, bytes | bytearray | memoryview):
        fname = filename or "upload"
        ctype = content_type or ("application/octet-stream" if filename is None else _guess_type(fname))
        return _FilePart(name, fname, ctype, data=bytes(content))
    if not hasattr(content, "read"):
        raise TypeError(f"{name}: expected bytes or a binary file object, got {type(content).__name__}")
    fname = filename or os.path.basename(str(getattr(content, "name", "") or "")) or "upload"
    ctype = content_type or _guess_type(fname)
    start: int | None
    try:
        start = content.tell() if content.seekable() else None
    except (AttributeError, OSError, ValueError):
        start = None
    return _FilePart(name, fname, ctype, fileobj=content, start=start)


def file_part(name: str, value: FileInput) -> _FilePart:
    """Normalise one file argument into a part named ``name``."""
    if isinstance(value, str | os.PathLike):
        path = Path(os.fspath(value))
        if not path.is_file():
            raise FileNotFoundError(f"{name}: no such file: {path}")
        return _FilePart(name, path.name, _guess_type(path.name), path=path)
    if isinstance(value, tuple):
        if len(value) == 2:
            fname, content = value
            ctype = None
        elif len(value) == 3:
            fname, content, ctype = value
        else:
            raise TypeError(f"{name}: a file tuple is (filename, content[, content_type])")
        return _content_part(name, content, fname, ctype)
    return _content_part(name, value, None, None)


# ----------------------------------------------------------------------------------------- multipart


class MultipartBody(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A streamed ``multipart/form-data`` body that can be sent again (for retries) when its files allow.

    Built from text fields and file parts; file contents are read in chunks while sending, never all at
    once (except bytes the caller already holds).
    """

    def __init__(self, fields: Sequence[tuple[str, str]], files: Sequence[_FilePart]) -> None:
        self.boundary = secrets.token_hex(16)
        self._fields = list(fields)
        self._files = list(files)

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    @property
    def replayable(self) -> bool:
        return all(f.fileobj is None or f.start is not None for f in self._files)

    def _field_head(self, name: str) -> bytes:
        return (
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"\r\n\r\n'
        ).encode()

    def _file_head(self, part: _FilePart) -> bytes:
        return (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="{_quote(part.name)}"; '
            f'filename="{_quote(part.filename)}"\r\n'
            f"Content-Type: {part.content_type}\r\n\r\n"
        ).encode()

    def _tail(self) -> bytes:
        return f"--{self.boundary}--\r\n".encode()

    def content_length(self) -> int | None:
        total = 0
        for name, value in self._fields:
            total += len(self._field_head(name)) + len(value.encode()) + 2
        for part in self._files:
            size = part.size()
            if size is None:
                return None
            total += len(self._file_head(part)) + size + 2
        return total + len(self._tail())

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": self.content_type}
        length = self.content_length()
        if length is not None:
            headers["Content-Length"] = str(length)
        return headers

    def __iter__(self) -> Iterator[bytes]:
        for name, value in self._fields:
            yield self._field_head(name) + value.encode() + b"\r\n"
        for part in self._files:
            yield self._file_head(part)
            yield from part.chunks()
            yield b"\r\n"
        yield self._tail()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self:
            yield chunk

    def read_all(self) -> bytes:
        return b"".join(self)


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def form_fields(fields: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Text parts for a multipart body: lists repeat, mappings become JSON strings, ``None`` is dropped."""
    out: list[tuple[str, str]] = []
    for name, value in fields.items():
        if value is None:
            continue
        if isinstance(value, Mapping) or hasattr(value, "model_dump"):
            out.append((name, json.dumps(to_jsonable(value))))
        elif isinstance(value, list | tuple):
            for item in value:
                if item is None:
                    continue
                if isinstance(item, Mapping):
                    out.append((name, json.dumps(to_jsonable(item))))
                else:
                    out.append((name, _scalar(item)))
        else:
            out.append((name, _scalar(value)))
    return out


def multipart(fields: Mapping[str, Any], files: Iterable[tuple[str, FileInput | None]] = ()) -> MultipartBody:
    """Build a multipart body from ``fields`` and ``(part name, file)`` pairs (``None`` files skipped)."""
    parts = [file_part(name, value) for name, value in files if value is not None]
    return MultipartBody(form_fields(fields), parts)
