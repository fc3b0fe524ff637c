"""`BlobStore` on S3-compatible object storage (AWS S3, MinIO, SeaweedFS, Ceph RGW, ...).

boto3 rather than obstore: multipart copy (``UploadPartCopy``, which `concat` needs so that a large
upload is assembled inside the store instead of streamed through the API process) and explicit
multipart control are first-class in boto3, its endpoint/credential handling is what operators know,
and it is pure Python (no extra native wheel). obstore is faster for bulk reads but exposes no
part-copy.

* `put_stream`: a single PUT up to `multipart_threshold`, a multipart upload above (never more than one
  part in memory); aborted on any error or when `max_bytes` is exceeded, so a partial object is never
  visible (S3 makes an object visible only when its PUT or CompleteMultipartUpload succeeds).
* `open`: a streamed GET (the body is read as it arrives); `open_range` reads a byte range (video playback).
* `concat`: multipart upload whose parts are server-side copies of the source objects. S3 requires every
  part but the last to be at least 5 MiB: smaller sources are downloaded and re-uploaded in bigger parts.
* `local_path`: a **port smell**. PyAV and ffmpeg want a file, so the object is downloaded to a cache
  directory (keyed by key + ETag, so a replaced object is fetched again) and that path is returned. It
  costs a full download per process and disk equal to the media being processed; the port should grow a
  "materialise for the duration of a with-block" call, or readers should take a URL (ffmpeg reads
  presigned HTTP URLs with range requests).

URL form: ``s3://ACCESS:SECRET@host:port/bucket[/prefix]?secure=false&region=us-east-1`` for a custom
endpoint, or ``s3://bucket/prefix`` with the standard AWS credential chain.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qs, unquote, urlsplit

from framedex.storage.blobs import BlobTooLarge, _check_key

MIB = 1024 * 1024
_MIN_PART = 5 * MIB  # S3's minimum size of every part but the last


def parse_s3_url(url: str) -> dict[str, Any]:
    """Split a blob URL into bucket, prefix and boto3 client arguments."""
    parts = urlsplit(url)
    if parts.scheme != "s3":
        raise ValueError(f"not an s3:// URL: {url!r}")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    path = [p for p in parts.path.split("/") if p]
    client: dict[str, Any] = {"region_name": query.get("region", "us-east-1")}
    if parts.port is not None or query.get("endpoint"):  # s3://[key:secret@]host:port/bucket/prefix
        scheme = "https" if query.get("secure", "false").lower() in ("1", "true", "yes") else "http"
        client["endpoint_url"] = query.get("endpoint") or f"{scheme}://{parts.hostname}:{parts.port}"
        if not path:
            raise ValueError("the URL names no bucket: s3://host:port/bucket[/prefix]")
        bucket, prefix = path[0], "/".join(path[1:])
    else:  # s3://bucket/prefix on AWS
        bucket, prefix = parts.hostname or "", "/".join(path)
    if parts.username:
        client["aws_access_key_id"] = unquote(parts.username)
        client["aws_secret_access_key"] = unquote(parts.password or "")
    return {"bucket": bucket, "prefix": prefix, "client": client}


class _Body(io.RawIOBase):
    """A streamed object body as a file object (readers expect `read`, `readinto`, `close`, with-blocks)."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._body.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._body.close()
        super().close()


class S3BlobStore:
    def __init__(self, url: str, *, cache_dir: Path | None = None, cache_max_bytes: int = 20 * 1024 * MIB,
                 part_size: int = 16 * MIB, multipart_threshold: int = 16 * MIB, create_bucket: bool = True) -> None:
        import boto3
        from botocore.config import Config

        conf = parse_s3_url(url)
        self.bucket: str = conf["bucket"]
        self.prefix: str = conf["prefix"].strip("/")
        if part_size < _MIN_PART:
            raise ValueError("part_size must be at least 5 MiB (an S3 rule)")
        self.part_size = part_size
        self.multipart_threshold = max(multipart_threshold, 1)
        # path-style addressing: S3-compatible servers on an IP:port have no per-bucket DNS names
        self.s3 = boto3.client("s3", config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5}),
                               **conf["client"])
        self.cache_dir = cache_dir or Path(tempfile.gettempdir()) / "framedex-blob-cache"
        self.cache_max_bytes = cache_max_bytes
        self._cache_lock = threading.Lock()
        if create_bucket:
            self._ensure_bucket()

    def _ensure_bucket(self) -> None:
        from botocore.exceptions import ClientError

        try:
            self.s3.head_bucket(Bucket=self.bucket)
        except ClientError:
            with contextlib.suppress(self.s3.exceptions.BucketAlreadyOwnedByYou):
                self.s3.create_bucket(Bucket=self.bucket)

    def _key(self, key: str) -> str:
        _check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    # --- writes ------------------------------------------------------------------------------------

    def put_stream(self, key: str, stream: BinaryIO, max_bytes: int | None = None) -> tuple[int, str]:
        name = self._key(key)
        digest = hashlib.md5(usedforsecurity=False)
        size = 0

        def chunks() -> Iterator[bytes]:
            nonlocal size
            buf = bytearray()
            while chunk := stream.read(MIB):
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise BlobTooLarge(max_bytes)
                digest.update(chunk)
                buf += chunk
                if len(buf) >= self.part_size:
                    yield bytes(buf[:self.part_size])
                    del buf[:self.part_size]
            yield bytes(buf)

        parts = chunks()
        first = next(parts)
        second = next(parts, None)
        if second is None and len(first) < self.multipart_threshold:
            self.s3.put_object(Bucket=self.bucket, Key=name, Body=first)
            return size, digest.hexdigest()
        upload = self.s3.create_multipart_upload(Bucket=self.bucket, Key=name)["UploadId"]
        try:
            done = []
            pending = [first] if second is None else [first, second]

            def all_parts() -> Iterator[bytes]:
                yield from pending
                yield from parts

            for number, data in enumerate(all_parts(), start=1):
                if not data and number > 1:
                    continue  # the trailing empty chunk of an input that ended on a part boundary
                etag = self.s3.upload_part(Bucket=self.bucket, Key=name, UploadId=upload, PartNumber=number,
                                           Body=data)["ETag"]
                done.append({"PartNumber": number, "ETag": etag})
            self.s3.complete_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload,
                                              MultipartUpload={"Parts": done})
        except BaseException:
            with contextlib.suppress(Exception):
                self.s3.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload)
            raise
        return size, digest.hexdigest()

    def put_bytes(self, key: str, data: bytes) -> tuple[int, str]:
        return self.put_stream(key, io.BytesIO(data))

    def concat(self, key: str, parts: Iterable[str]) -> int:
        names = [self._key(p) for p in parts]
        name = self._key(key)
        sizes = [self.s3.head_object(Bucket=self.bucket, Key=n)["ContentLength"] for n in names]
        if sum(sizes) < self.multipart_threshold:  # small: join in memory and PUT once
            return self._concat_streamed(name, names)
        upload = self.s3.create_multipart_upload(Bucket=self.bucket, Key=name)["UploadId"]
        try:
            done: list[dict[str, Any]] = []
            small = bytearray()  # sources under 5 MiB are glued together and uploaded as one part

            def flush() -> None:
                if small:
                    etag = self.s3.upload_part(Bucket=self.bucket, Key=name, UploadId=upload,
                                               PartNumber=len(done) + 1, Body=bytes(small))["ETag"]
                    done.append({"PartNumber": len(done) + 1, "ETag": etag})
                    small.clear()

            for i, (src, size) in enumerate(zip(names, sizes, strict=True)):
                last = i == len(names) - 1
                if size >= _MIN_PART and not small:
                    res = self.s3.upload_part_copy(Bucket=self.bucket, Key=name, UploadId=upload,
                                                   PartNumber=len(done) + 1,
                                                   CopySource={"Bucket": self.bucket, "Key": src})
                    done.append({"PartNumber": len(done) + 1, "ETag": res["CopyPartResult"]["ETag"]})
                else:
                    small += self.s3.get_object(Bucket=self.bucket, Key=src)["Body"].read()
                    if len(small) >= _MIN_PART or last:
                        flush()
            flush()
            self.s3.complete_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload,
                                              MultipartUpload={"Parts": done})
        except BaseException:
            with contextlib.suppress(Exception):
                self.s3.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload)
            raise
        return sum(sizes)

    def _concat_streamed(self, name: str, names: list[str]) -> int:
        buf = io.BytesIO()
        for src in names:
            shutil.copyfileobj(self.s3.get_object(Bucket=self.bucket, Key=src)["Body"], buf, MIB)
        self.s3.put_object(Bucket=self.bucket, Key=name, Body=buf.getvalue())
        return buf.tell()

    # --- reads -------------------------------------------------------------------------------------

    def open(self, key: str) -> BinaryIO:
        body = self.s3.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        return io.BufferedReader(_Body(body), MIB)

    def open_range(self, key: str, start: int, end: int | None = None) -> BinaryIO:
        """Bytes `start`..`end` inclusive (HTTP Range semantics), streamed: playback reads only what it sends."""
        rng = f"bytes={start}-{'' if end is None else end}"
        body = self.s3.get_object(Bucket=self.bucket, Key=self._key(key), Range=rng)["Body"]
        return io.BufferedReader(_Body(body), MIB)

    def local_path(self, key: str) -> Path:
        name = self._key(key)
        etag = self.s3.head_object(Bucket=self.bucket, Key=name)["ETag"].strip('"')
        path = self.cache_dir / name / etag
        with self._cache_lock:
            if path.is_file():
                os.utime(path)  # recently used: evicted last
                return path
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as out:
                    self.s3.download_fileobj(self.bucket, name, out)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            for old in path.parent.iterdir():  # earlier versions of the object
                if old != path and not old.name.startswith(".tmp-"):
                    old.unlink(missing_ok=True)
            self._evict(keep=path)
        return path

    def _evict(self, keep: Path) -> None:
        """Keep the download cache under `cache_max_bytes`: least recently used files go first. A file a
        reader still holds open stays readable (POSIX); the cache is a per-process convenience, never the data."""
        files = []
        for dirpath, _dirs, names in os.walk(self.cache_dir):
            for n in names:
                if not n.startswith(".tmp-"):
                    f = Path(dirpath) / n
                    with contextlib.suppress(FileNotFoundError):
                        st = f.stat()
                        files.append((st.st_mtime, st.st_size, f))
        total = sum(size for _, size, _ in files)
        for _, size, f in sorted(files, key=lambda x: x[0]):
            if total <= self.cache_max_bytes:
                break
            if f != keep:
                f.unlink(missing_ok=True)
                total -= size

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.s3.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def size(self, key: str) -> int:
        return int(self.s3.head_object(Bucket=self.bucket, Key=self._key(key))["ContentLength"])

    def delete(self, key: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=self._key(key))

    def delete_prefix(self, prefix: str) -> None:
        """The object `prefix` itself and everything under ``prefix/`` (as the local store's rmtree)."""
        base = self._key(prefix.rstrip("/"))
        self.s3.delete_object(Bucket=self.bucket, Key=base)
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=base + "/"):
            objects = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if objects:
                self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True})

    # --- upkeep ------------------------------------------------------------------------------------

    def list_groups(self, prefix: str) -> dict[str, float]:
        base = self._key(prefix.rstrip("/")) + "/"
        groups: dict[str, float] = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base):
            for obj in page.get("Contents", []):
                name = obj["Key"][len(base):].split("/", 1)[0]
                if name:
                    groups[name] = max(groups.get(name, 0.0), obj["LastModified"].timestamp())
        return groups

    def sweep_temp(self) -> int:
        """Abort multipart uploads under this store's prefix started over `TMP_MAX_AGE_SECONDS` ago: a process
        killed mid-upload leaves its parts billed and invisible until then (no object is ever partial)."""
        from datetime import UTC, datetime, timedelta

        from framedex.storage.blobs import TMP_MAX_AGE_SECONDS

        cutoff = datetime.now(UTC) - timedelta(seconds=TMP_MAX_AGE_SECONDS)
        aborted = 0
        paginator = self.s3.get_paginator("list_multipart_uploads")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for upload in page.get("Uploads", []):
                if upload["Initiated"] < cutoff:
                    with contextlib.suppress(Exception):  # finished or aborted meanwhile
                        self.s3.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"],
                                                       UploadId=upload["UploadId"])
                        aborted += 1
        return aborted

    def ready(self) -> bool:
        try:
            self.s3.head_bucket(Bucket=self.bucket)
        except Exception:
            return False
        return True
