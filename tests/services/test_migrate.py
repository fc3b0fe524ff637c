"""`framedex migrate`: an embedded data dir with a really indexed video, copied into PostgreSQL + pgvector, S3
and Redis (the real servers of tests/server_fixtures.py), then used through the API with the same key and ids."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from framedex import TwelveLabs
from framedex.cli.main import app
from framedex.config import Settings
from framedex.platform import Platform
from framedex.services import auth
from framedex.services.migrate import MigrationError, Progress, TargetNotEmpty, migrate
from framedex.storage.tables import AssetRow, ClipRow, SpeechSegmentRow
from tests.conftest import Media, start_server
from tests.servers import Server

pytestmark = pytest.mark.slow

MODELS = [{"model_name": "marengo3.0", "model_options": ["visual", "audio"]}]
PROBE_KIND = "migrate_probe"


class Interrupted(Exception):
    pass


def _top(client: TwelveLabs, index_id: str, query: str, option: str) -> list[tuple[str, float, float]]:
    hits = client.search.query(index_id=index_id, query_text=query, search_options=[option])
    return [(h.video_id or "", round(h.start or 0.0, 2), round(h.end or 0.0, 2)) for h in list(hits)[:3]]


def _searches(client: TwelveLabs, index_id: str) -> dict[str, list[tuple[str, float, float]]]:
    return {option: _top(client, index_id, query, option)
            for option, query in (("transcription", "volcanoes and glaciers"), ("visual", "colorful test pattern"))}


def _source_settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, database_url=None, vector_url=None, blob_url=None, queue_url=None, workers=0)


def test_migrate_an_embedded_data_dir_into_the_scale_out_stack(
        tmp_path: Path, media: Media, postgres_url: str, redis_server: Server, s3_server: Server) -> None:
    # --- an embedded data dir with real content: a key, an entity collection, an indexed spoken video ---
    src = tmp_path / "src"
    platform = Platform(_source_settings(src))
    key, info = auth.create_key(platform, "moving")
    platform.close()
    with TwelveLabs(api_key=key, data_dir=src) as client:
        collection = client.entity_collections.create(name="people")
        index = client.indexes.create(index_name="moved", models=MODELS)
        task = client.tasks.create(index_id=index.id or "", video_file=media.speech_video)
        done = task.wait_for_done(sleep_interval=0.2, timeout=240)
        assert done.status == "ready", done
        before = _searches(client, index.id or "")
    assert before["transcription"] and before["transcription"][0][0] == task.video_id
    assert before["visual"]

    urls: dict[str, Any] = {"database_url": postgres_url, "vector_url": postgres_url,
                            "blob_url": f"{s3_server.url}/migrate{uuid.uuid4().hex[:8]}",
                            "queue_url": redis_server.url}
    target_settings = Settings(data_dir=tmp_path / "target", workers=0, **urls)
    source = Platform(_source_settings(src))
    probe = source.queue.enqueue(PROBE_KIND, {"n": 1})  # a job still queued when the data moves
    source_segments = _count(source, SpeechSegmentRow)
    assert source_segments > 0
    target = Platform(target_settings)
    try:
        # --- killed half-way (after the first blob), then refused without --resume ---
        def stop_at_blobs(p: Progress) -> None:
            if p.phase == "blobs":
                raise Interrupted

        with pytest.raises(Interrupted):
            migrate(source, target, progress=stop_at_blobs, blob_batch=1)
        assert _count(target, SpeechSegmentRow) == source_segments
        with pytest.raises(TargetNotEmpty, match="--resume"):
            migrate(source, target)

        # --- the CLI refuses a source a process still holds, then finishes the migration with --resume ---
        runner = CliRunner()
        args = ["migrate", "--data-dir", str(src), "--to-database-url", postgres_url, "--to-blob-url",
                urls["blob_url"], "--to-queue-url", redis_server.url, "--resume", "--batch", "7"]
        held = runner.invoke(app, args)
        assert held.exit_code == 1 and "already open" in held.output, held.output
        source.close()
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert "tables  speech_segments" in result.output and "done in" in result.output

        # --- running it again changes nothing ---
        source = Platform(_source_settings(src))
        again = migrate(source, target, resume=True)
        assert again.nothing_copied, again.summary()
        assert again.tables["speech_segments"].skipped == source_segments
        assert again.blobs.copied == 0 and again.blobs.skipped > 0 and again.vectors.skipped > 0

        # --- the target holds the same data under the same keys ---
        assert auth.authenticate(target, key) == info.tenant_id
        assert [(k.id, k.created_at) for k in auth.list_keys(target)] == [(info.id, info.created_at)]
        assert target.signing_key == (src / "signing.key").read_bytes()
        with source.store.session() as s:
            blob_key = s.scalars(select(AssetRow.blob_key).where(AssetRow.blob_key.is_not(None))).first()
        assert blob_key is not None
        with target.blobs.open(blob_key) as f:
            assert f.read() == (src / "blobs" / blob_key).read_bytes()
        for space in source.vectors.spaces(tenant_id=info.tenant_id, index_id=index.id or ""):
            assert target.vectors.count(tenant_id=info.tenant_id, index_id=index.id or "", space=space) == \
                source.vectors.count(tenant_id=info.tenant_id, index_id=index.id or "", space=space) > 0
        claimed = target.queue.claim("migrate-test", [PROBE_KIND])  # announced to Redis by the migration
        assert claimed is not None and claimed.id == probe
        with target.store.session() as s:  # a worker's next clip row gets a fresh id
            top = s.execute(select(func.max(ClipRow.id))).scalar()
            assert s.execute(text("SELECT nextval(pg_get_serial_sequence('clips', 'id'))")).scalar() > top
    finally:
        source.close()
        target.close()

    # --- through the API on the target: same key, same ids, same search results ---
    server, thread, url = start_server(Settings(data_dir=tmp_path / "api", workers=0, **urls))
    try:
        with TwelveLabs(api_key=key, base_url=url, timeout=120) as client:
            assert [i.id for i in client.indexes.list()] == [index.id]
            assert [v.id for v in client.indexes.videos.list(index_id=index.id or "")] == [task.video_id]
            assert [c.id for c in client.entity_collections.list()] == [collection.id]
            assert client.tasks.retrieve(task.id or "").status == "ready"
            assert _searches(client, index.id or "") == before
    finally:
        server.should_exit = True
        thread.join(30)


def test_migrate_refuses_a_source_blob_store_that_is_not_local(tmp_path: Path, s3_server: Server) -> None:
    source = Platform(Settings(data_dir=tmp_path / "a", blob_url=f"{s3_server.url}/notlocal"))
    target = Platform(Settings(data_dir=tmp_path / "b"))
    try:
        with pytest.raises(MigrationError, match="local directory"):
            migrate(source, target)
    finally:
        source.close()
        target.close()


def _count(platform: Platform, row: Any) -> int:
    with platform.store.session() as s:
        return int(s.execute(select(func.count()).select_from(row)).scalar() or 0)
