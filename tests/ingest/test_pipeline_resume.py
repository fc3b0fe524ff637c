"""The ingest pipeline's resume logic (`ingest.pipeline.Pipeline.run`): each stage commits its outputs with its
name in `stages_done`, so a worker that dies part-way resumes after the last finished stage instead of
starting over; a stage that fails commits nothing of its own; a deleted video stops the run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from framedex.config import Settings
from framedex.ingest.pipeline import Pipeline, VideoContext, VideoGone
from framedex.ingest.probe import MediaInfo
from framedex.platform import Platform
from framedex.services import auth, indexes
from framedex.services.assets import new_asset
from framedex.services.videos import create_indexed_asset
from framedex.storage.tables import AssetRow, IndexedAssetRow


class Crash(Exception):
    pass


class FakeStage:
    """Records its runs and writes a marker into the video's user metadata (inside the stage's transaction)."""

    def __init__(self, name: str, log: list[str], *, fail_times: int = 0, applies: bool = True) -> None:
        self.name, self.log, self.fail_times, self._applies = name, log, fail_times, applies

    def applies(self, ctx: VideoContext) -> bool:
        return self._applies

    def run(self, ctx: VideoContext, session: Session) -> None:
        self.log.append(self.name)
        video = session.get(IndexedAssetRow, ctx.video_id)
        assert video is not None
        video.user_metadata = {**(video.user_metadata or {}), self.name: True}
        session.flush()
        if self.fail_times:
            self.fail_times -= 1
            raise Crash(self.name)


@pytest.fixture()
def platform(tmp_path: Path) -> Iterator[Platform]:
    p = Platform(Settings(data_dir=tmp_path, workers=0))
    yield p
    p.close()


def _context(platform: Platform) -> VideoContext:
    _key, info = auth.create_key(platform, "resume")
    tenant = info.tenant_id
    index = indexes.create(platform, tenant, name="resume",
                           models=[{"model_name": "marengo3.0", "model_options": ["visual"]}])
    with platform.store.session() as s:
        asset = new_asset(s, tenant, method="direct", filename="v.mp4")
        s.flush()
        asset_row = s.get(AssetRow, asset.id)
        assert asset_row is not None
        video = create_indexed_asset(platform, s, tenant, index.id, asset_row)
        video_id = video.id
    media = MediaInfo(duration=10.0, size=1, format="mp4", has_video=True, has_audio=False)
    return VideoContext(platform=platform, video_id=video_id, tenant_id=tenant, index_id=index.id,
                        asset_id=asset.id, media_path=Path("/nonexistent"), info=media,
                        modalities={"visual"}, addons=[])


def _video(platform: Platform, video_id: str) -> IndexedAssetRow:
    with platform.store.session() as s:
        row = s.get(IndexedAssetRow, video_id)
        assert row is not None
        return row


def test_resumes_after_the_last_finished_stage(platform: Platform) -> None:
    ctx = _context(platform)
    log: list[str] = []
    stages = [FakeStage("decode", log), FakeStage("clips", log), FakeStage("speech", log, fail_times=1),
              FakeStage("visual", log)]
    with pytest.raises(Crash):
        Pipeline(list(stages)).run(ctx)  # type: ignore[arg-type]
    video = _video(platform, ctx.video_id)
    assert video.stages_done == ["decode", "clips"]
    assert set(video.stage_timings or {}) == {"decode", "clips"}
    assert "speech" not in (video.user_metadata or {})  # the failed stage's writes were rolled back

    Pipeline(list(stages)).run(ctx)  # type: ignore[arg-type]  # the retry, as a new job attempt would
    assert log == ["decode", "clips", "speech", "speech", "visual"]
    video = _video(platform, ctx.video_id)
    assert video.stages_done == ["decode", "clips", "speech", "visual"]
    assert set(video.user_metadata or {}) == {"decode", "clips", "speech", "visual"}


def test_a_finished_pipeline_runs_nothing_again(platform: Platform) -> None:
    ctx = _context(platform)
    log: list[str] = []
    stages = [FakeStage("decode", log), FakeStage("clips", log)]
    Pipeline(list(stages)).run(ctx)  # type: ignore[arg-type]
    Pipeline(list(stages)).run(ctx)  # type: ignore[arg-type]
    assert log == ["decode", "clips"]


def test_stages_that_do_not_apply_are_skipped_and_not_marked(platform: Platform) -> None:
    ctx = _context(platform)
    log: list[str] = []
    Pipeline([FakeStage("decode", log), FakeStage("thumbnails", log, applies=False)]).run(ctx)  # type: ignore[list-item]
    assert log == ["decode"]
    assert _video(platform, ctx.video_id).stages_done == ["decode"]


def test_a_deleted_video_stops_the_run(platform: Platform) -> None:
    ctx = _context(platform)
    with platform.store.session() as s:
        row = s.get(IndexedAssetRow, ctx.video_id)
        s.delete(row)
    log: list[str] = []
    with pytest.raises(VideoGone):
        Pipeline([FakeStage("decode", log)]).run(ctx)  # type: ignore[list-item]
    assert log == []
