"""Start-up recovery and upkeep on a real data dir: partial writes of a killed process are swept,
interrupted multipart assemblies finish, stranded assets fail, old rows are purged, and a stage that
races a delete leaves no orphan vectors."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import cast

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from framedex.config import Settings
from framedex.ids import new_id, utcnow
from framedex.ingest.pipeline import Pipeline, VideoContext, VideoGone
from framedex.ingest.probe import MediaInfo
from framedex.platform import Platform
from framedex.services import assets, auth, indexes, uploads, videos
from framedex.services.recovery import run_maintenance
from framedex.storage.blobs import LocalBlobStore
from framedex.storage.tables import AssetRow, IndexedAssetRow, JobRow, MultipartUploadRow, SearchSessionRow
from framedex.storage.vectors import VectorRecord
from tests.conftest import SHARED_MEDIA

VIDEO = SHARED_MEDIA / "video" / "lego_motor_6s.mp4"


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    p = Platform(Settings(data_dir=tmp_path / "data", multipart_chunk_bytes=64 * 1024))
    yield p
    p.close()


@pytest.fixture
def tenant(platform: Platform) -> str:
    return auth.ensure_local_tenant(platform)


def all_tmp(root: Path) -> list[Path]:
    return [p for p in root.rglob(".tmp-*")]


def test_sweep_removes_the_partial_write_of_a_killed_process(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    writer = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from framedex.storage.blobs import LocalBlobStore\n"
        "class Slow:\n"
        "    def read(self, n): time.sleep(0.01); return b'x' * 4096\n"
        f"LocalBlobStore(Path({str(root)!r})).put_stream('assets/a/source', Slow())\n"
    )], env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    deadline = time.monotonic() + 30
    while not all_tmp(root) and time.monotonic() < deadline:
        time.sleep(0.05)
    writer.send_signal(signal.SIGKILL)
    writer.wait(10)
    assert len(all_tmp(root)) == 1  # the killed write

    store = LocalBlobStore(root)
    live_started = time.monotonic()
    legacy_fresh = root / "assets" / "a" / ".tmp-legacyfresh"
    legacy_old = root / "assets" / "a" / ".tmp-legacyold"
    legacy_fresh.write_bytes(b"?")
    legacy_old.write_bytes(b"?")
    hours_ago = time.time() - 2 * 3600
    os.utime(legacy_old, (hours_ago, hours_ago))

    class Blocking(io.RawIOBase):  # a write of this process in progress during the sweep
        def __init__(self) -> None:
            self.calls = 0

        def read(self, n: int = -1) -> bytes:
            self.calls += 1
            if self.calls == 1:
                assert store.sweep_temp() == 2  # the killed write and the old legacy file
                return b"y" * 10
            return b""

    store.put_stream("assets/b/source", cast(io.BufferedReader, Blocking()))
    assert store.size("assets/b/source") == 10  # our own write survived the sweep
    assert sorted(p.name for p in all_tmp(root)) == [".tmp-legacyfresh"]  # too young to judge by age
    assert not store.exists("assets/a/source")
    assert time.monotonic() - live_started < 30


def test_interrupted_multipart_assembly_finishes_at_startup(platform: Platform, tenant: str) -> None:
    data = VIDEO.read_bytes()
    upload = uploads.create_upload(platform, tenant, filename="lego.mp4", file_type="video", total_size=len(data))
    for i in range(1, upload.total_chunks + 1):
        chunk = data[(i - 1) * upload.chunk_size:i * upload.chunk_size]
        uploads.store_chunk(platform, upload.id, i, io.BytesIO(chunk), len(chunk))
    with platform.store.session() as s:  # every chunk reported, then killed inside `_assemble`
        for row in s.scalars(select(uploads.UploadChunkRow).where(uploads.UploadChunkRow.upload_id == upload.id)):
            row.reported = True
        session_row = s.get(MultipartUploadRow, upload.id)
        assert session_row is not None
        session_row.status = uploads.COMPLETING
    # A second session died mid-assembly and expired with its chunks half there.
    other = uploads.create_upload(platform, tenant, filename="x.mp4", file_type="video", total_size=len(data))
    uploads.store_chunk(platform, other.id, 1, io.BytesIO(data[:other.chunk_size]), other.chunk_size)
    with platform.store.session() as s:
        row = s.get(MultipartUploadRow, other.id)
        assert row is not None
        row.status, row.expires_at = uploads.COMPLETING, utcnow() - timedelta(minutes=1)

    report = run_maintenance(platform, at_startup=True)
    assert (report.uploads_finished, report.uploads_expired, report.errors) == (1, 1, [])
    with platform.store.session() as s:
        done = s.get(MultipartUploadRow, upload.id)
        expired = s.get(MultipartUploadRow, other.id)
        assert done is not None and expired is not None
        assert (done.status, expired.status) == (uploads.COMPLETED, uploads.EXPIRED)
        asset = s.get(AssetRow, upload.asset_id)
        failed = s.get(AssetRow, other.asset_id)
        assert asset is not None and failed is not None and failed.status == "failed"
        probes = [j.payload for j in s.scalars(select(JobRow).where(JobRow.kind == assets.PROBE_JOB))]
    assert asset.blob_key is not None and probes == [{"asset_id": upload.asset_id}]
    with platform.blobs.open(asset.blob_key) as f:
        assert f.read() == data
    assert not (platform.blobs.root / "uploads" / upload.id).exists()
    assert not (platform.blobs.root / "uploads" / other.id).exists()
    assert run_maintenance(platform, at_startup=True).uploads_finished == 0  # nothing assembled twice


def test_stranded_processing_assets_fail_and_orphan_bytes_go(platform: Platform, tenant: str) -> None:
    old = utcnow() - timedelta(hours=2)
    with platform.store.session() as s:
        stranded = assets.new_asset(s, tenant, method="direct", filename="a.mp4")
        queued = assets.new_asset(s, tenant, method="direct", filename="b.mp4")
        young = assets.new_asset(s, tenant, method="direct", filename="c.mp4")
        platform.queue.enqueue(assets.PROBE_JOB, {"asset_id": queued.id}, session=s)
    multipart = uploads.create_upload(platform, tenant, filename="d.mp4", file_type="video", total_size=10)
    with platform.store.session() as s:
        for asset_id in (stranded.id, queued.id, multipart.asset_id):
            row = s.get(AssetRow, asset_id)
            assert row is not None
            row.updated_at = old
    orphan_id, kept_id = new_id(), queued.id
    for asset_id in (orphan_id, kept_id):
        platform.blobs.put_bytes(assets.asset_blob_key(asset_id), b"bytes")
        then = old.timestamp()
        group = platform.blobs.root / "assets" / asset_id
        for path in (*group.rglob("*"), group):  # written two hours ago, nothing touched since
            os.utime(path, (then, then))

    report = run_maintenance(platform)
    assert (report.assets_failed, report.orphan_blobs, report.errors) == (1, 1, [])
    with platform.store.session() as s:
        statuses = {a: s.get(AssetRow, a).status  # type: ignore[union-attr]
                    for a in (stranded.id, queued.id, young.id, multipart.asset_id)}
    assert statuses == {stranded.id: "failed", queued.id: "processing", young.id: "processing",
                        multipart.asset_id: "processing"}
    assert not platform.blobs.exists(assets.asset_blob_key(orphan_id))
    assert platform.blobs.exists(assets.asset_blob_key(kept_id))


def test_expired_search_sessions_are_purged(platform: Platform, tenant: str) -> None:
    with platform.store.session() as s:
        for expires in (utcnow() - timedelta(seconds=1), utcnow() + timedelta(hours=1)):
            s.add(SearchSessionRow(id=new_id(), tenant_id=tenant, index_id=new_id(), page_limit=10, results=[],
                                   search_pool={}, expires_at=expires))
    assert run_maintenance(platform).search_sessions_purged == 1
    with platform.store.session() as s:
        assert len(list(s.scalars(select(SearchSessionRow)))) == 1


@pytest.mark.parametrize("deleted", ["video", "index"])
def test_a_stage_racing_a_delete_leaves_no_vectors(platform: Platform, tenant: str, deleted: str) -> None:
    index = indexes.create(platform, tenant, name=f"race-{deleted}",
                           models=[{"model_name": "marengo3.0", "model_options": ["visual"]}])
    with platform.store.session() as s:
        asset = assets.new_asset(s, tenant, method="direct", filename="v.mp4")
        video = IndexedAssetRow(id=new_id(), tenant_id=tenant, index_id=index.id, asset_id=asset.id,
                                status="indexing", system_metadata={})
        s.add(video)

    class SlowVisual:
        """Like a modality stage: long inference, then vectors, then its SQL rows."""

        name = "visual"

        def applies(self, ctx: VideoContext) -> bool:
            return True

        def run(self, ctx: VideoContext, session: Session) -> None:
            # The user deletes while the models run: the service removes the rows, then the vectors.
            if deleted == "video":
                videos.delete_video(platform, tenant, index.id, video.id)
            else:
                indexes.delete_index(platform, tenant, index.id)
            ctx.platform.vectors.replace_video(
                tenant_id=tenant, index_id=index.id, space="visual", video_id=video.id,
                records=[VectorRecord(video.id, 0, 0.0, 1.0, np.ones(8, dtype=np.float32))])

    ctx = VideoContext(platform=platform, video_id=video.id, tenant_id=tenant, index_id=index.id,
                       asset_id=asset.id, media_path=VIDEO, info=cast(MediaInfo, None), modalities={"visual"},
                       addons=[])
    with pytest.raises(VideoGone):
        Pipeline([SlowVisual()]).run(ctx)
    assert platform.vectors.count(tenant_id=tenant, index_id=index.id) == 0
    assert platform.vectors.spaces(tenant_id=tenant, index_id=index.id) == []
