"""Where imports read from: operator-declared integrations (a local folder or an S3-compatible bucket).

Integrations come from `Settings.integrations` only. A client names one (`integration_id`) and never
sees its path, endpoint or credentials: nothing here is echoed back, and error messages name the
integration, not its secrets.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Protocol

from framedex.config import Settings
from framedex.domain_errors import Forbidden, NotFound, ServiceError

log = logging.getLogger(__name__)

# What an import takes from a folder or bucket. The real API indexes videos only; anything else under the
# prefix (sidecar files, images, documents) is left alone rather than reported as failed.
VIDEO_SUFFIXES = frozenset({
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".wmv", ".flv", ".mpg", ".mpeg", ".ts", ".mts",
    ".m2ts", ".3gp", ".ogv", ".mxf",
})
# Keys per ListObjectsV2 page (the S3 maximum); a module constant so tests can force several pages.
LIST_PAGE_SIZE = 1000
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_MAX_KEY = 1024


class SourceUnavailable(ServiceError):
    """The storage behind an integration cannot be listed or read (down, access denied, missing)."""

    status = 400
    code = "integration_unavailable"


@dataclass(frozen=True)
class SourceObject:
    key: str  # relative to the folder / prefix, '/'-separated
    size: int
    fingerprint: str  # changes when the content does (size+mtime, or the S3 ETag)


class Source(Protocol):
    def list(self, limit: int) -> list[SourceObject]:
        """Every video under the folder or prefix, sorted by key, at most `limit` objects walked."""
        ...

    def open(self, key: str) -> BinaryIO: ...


def is_video_key(key: str) -> bool:
    return PurePosixPath(key).suffix.lower() in VIDEO_SUFFIXES


def check_key(key: str) -> str:
    """A relative key that cannot leave its folder: no absolute paths, no `..`, no empty parts, no NUL."""
    parts = key.split("/")
    if (not key or len(key) > _MAX_KEY or key.startswith("/") or "\x00" in key or "\\" in key
            or any(p in ("", ".", "..") for p in parts)):
        raise SourceUnavailable(f"The object key {key[:200]!r} is not a safe relative path.")
    return key


class LocalSource:
    """A folder under one of `Settings.import_roots`. Both the folder and every file are resolved (symlinks
    followed) and must stay under the folder, so a link cannot smuggle `/etc` into an index."""

    def __init__(self, name: str, path: str, roots: list[Path]) -> None:
        self.name = name
        if not path or not Path(path).is_absolute():
            raise SourceUnavailable(f"Integration {name!r} must declare an absolute folder path.")
        try:
            root = Path(path).resolve(strict=True)
        except (OSError, RuntimeError) as exc:
            raise SourceUnavailable(f"The folder of integration {name!r} does not exist.") from exc
        allowed = [r.resolve() for r in roots]
        if not any(root.is_relative_to(r) for r in allowed):
            raise Forbidden(
                f"The folder of integration {name!r} lies outside the import roots (FRAMEDEX_IMPORT_ROOTS); "
                "the server refuses to read it.", code="integration_path_not_allowed")
        if not root.is_dir():
            raise SourceUnavailable(f"The path of integration {name!r} is not a folder.")
        self.root = root

    def _inside(self, path: Path) -> Path | None:
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        return real if real.is_relative_to(self.root) and real.is_file() else None

    def list(self, limit: int) -> list[SourceObject]:
        found: list[SourceObject] = []
        walked = 0
        # followlinks=False: a linked directory could loop or lead anywhere; linked files are checked one by one.
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=False):
            dirnames.sort()
            for filename in sorted(filenames):
                walked += 1
                if walked > limit:
                    return sorted(found, key=lambda o: o.key)
                full = Path(dirpath) / filename
                key = full.relative_to(self.root).as_posix()
                if not is_video_key(key) or len(key) > _MAX_KEY:
                    continue
                real = self._inside(full)
                if real is None:
                    continue
                st = real.stat()
                found.append(SourceObject(key, st.st_size, f"{st.st_size}:{st.st_mtime_ns}"))
        return sorted(found, key=lambda o: o.key)

    def open(self, key: str) -> BinaryIO:
        real = self._inside(self.root / check_key(key))
        if real is None:
            raise SourceUnavailable(f"The file {key!r} is no longer in integration {self.name!r}.")
        return real.open("rb")


class S3Source:
    """A bucket (and key prefix) of an S3-compatible server, listed page by page."""

    def __init__(self, name: str, config: dict[str, Any]) -> None:
        try:
            import boto3
            from botocore.config import Config
        except ImportError as exc:  # boto3 is an optional dependency
            raise SourceUnavailable("S3 integrations need boto3: pip install 'framedex[s3]'.") from exc
        self.name = name
        self.bucket = str(config.get("bucket") or "")
        if not self.bucket:
            raise SourceUnavailable(f"Integration {name!r} declares no bucket.")
        prefix = str(config.get("prefix") or "").lstrip("/")
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        endpoint = config.get("endpoint") or None
        if endpoint is not None and not str(endpoint).startswith(("http://", "https://")):
            raise SourceUnavailable(f"The endpoint of integration {name!r} must be an http(s) URL.")
        self.client = boto3.client(
            "s3", endpoint_url=endpoint, region_name=config.get("region") or "us-east-1",
            aws_access_key_id=config.get("access_key_id"), aws_secret_access_key=config.get("secret_access_key"),
            # path-style works with every S3-compatible server (SeaweedFS, MinIO); bounded waits and retries
            config=Config(s3={"addressing_style": "path"}, connect_timeout=10, read_timeout=60,
                          retries={"max_attempts": 3, "mode": "standard"}, signature_version="s3v4"),
        )

    def _unavailable(self, exc: Exception) -> SourceUnavailable:
        # botocore's messages never name the credentials, but a connection error's names the endpoint, an
        # address the operator keeps from clients: the client gets S3's error code at most, the log the rest.
        log.warning("integration %s: %s", self.name, exc)
        from botocore.exceptions import ClientError

        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))[:64]
            detail = f"the storage answered {code}" if code.replace(".", "").isalnum() else "the storage refused"
        else:
            detail = "its storage could not be reached"
        return SourceUnavailable(f"The bucket of integration {self.name!r} cannot be read: {detail}.")

    def list(self, limit: int) -> list[SourceObject]:
        from botocore.exceptions import BotoCoreError, ClientError

        found: list[SourceObject] = []
        walked = 0
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix, PaginationConfig={"PageSize": LIST_PAGE_SIZE})
            for page in pages:
                for item in page.get("Contents", []):
                    walked += 1
                    if walked > limit:
                        return found
                    key = str(item["Key"])[len(self.prefix):]
                    if not is_video_key(key):
                        continue
                    try:
                        check_key(key)
                    except SourceUnavailable:
                        continue  # "a/../b" is a legal S3 key but not a file name we show or store
                    etag = str(item.get("ETag", "")).strip('"')
                    found.append(SourceObject(key, int(item.get("Size", 0)), f"{item.get('Size', 0)}:{etag}"))
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable(exc) from exc
        return found  # S3 lists keys in UTF-8 binary order already

    def open(self, key: str) -> BinaryIO:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.prefix + check_key(key))
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable(exc) from exc
        body: BinaryIO = response["Body"]
        return body


def integration_config(settings: Settings, integration_id: str) -> dict[str, Any]:
    config = settings.integrations.get(integration_id) if _NAME.match(integration_id) else None
    if not isinstance(config, dict):
        raise NotFound("integration", integration_id)
    return config


def open_source(settings: Settings, integration_id: str) -> Source:
    config = integration_config(settings, integration_id)
    kind = config.get("type")
    if kind == "local":
        return LocalSource(integration_id, str(config.get("path") or ""), list(settings.import_roots))
    if kind == "s3":
        return S3Source(integration_id, config)
    raise SourceUnavailable(f"Integration {integration_id!r} has an unknown type; use local or s3.")

