"""The analyze-task job survives being killed after it handed its task on: run again, it does nothing, so a
task never gets two jobs (and two generations)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from framedex.config import Settings
from framedex.ids import utcnow
from framedex.platform import Platform
from framedex.services.analysis.tasks import JOB_KIND, AnalyzeJobs, AnalyzeTaskInput, create_task
from framedex.services.auth import create_key
from framedex.storage.tables import JobRow
from framedex.storage.tables_analysis import AnalyzeTaskRow
from tests.analysis.conftest import FakeLLM, insert_video


@pytest.fixture()
def llm() -> FakeLLM:
    return FakeLLM()


@pytest.fixture()
def platform(tmp_path: Path, llm: FakeLLM) -> Iterator[Platform]:
    platform = Platform(Settings(data_dir=tmp_path, workers=0))
    platform.models.register("llm", llm)
    yield platform
    platform.close()


def _task_jobs(platform: Platform, task_id: str) -> list[JobRow]:
    with platform.store.session() as s:
        return list(s.scalars(select(JobRow).where(JobRow.kind == JOB_KIND,
                                                   JobRow.payload["task_id"].as_string() == task_id)
                              .order_by(JobRow.created_at)))


def _task(platform: Platform, task_id: str) -> AnalyzeTaskRow:
    with platform.store.session() as s:
        task = s.get(AnalyzeTaskRow, task_id)
        assert task is not None
        return task


def test_a_job_run_again_after_handing_its_task_on_does_nothing(platform: Platform, llm: FakeLLM) -> None:
    tenant = create_key(platform, "t")[1].tenant_id
    video = insert_video(platform, tenant, duration=20, status="indexing",
                         speech=[(1, 4, "Lava flows down the volcano.")])
    request = AnalyzeTaskInput.from_body(platform, {"video_id": video.id, "prompt": "What happens?",
                                                    "model_name": "pegasus1.2"})
    task_id = create_task(platform, tenant, request).id
    jobs = AnalyzeJobs(platform)

    first = platform.queue.claim("worker-a", [JOB_KIND])
    assert first is not None and first.payload["task_id"] == task_id
    jobs.run(first)  # the video is still indexing: the task waits in a new job
    assert [j.status for j in _task_jobs(platform, task_id)] == ["running", "queued"]
    # The worker is killed here, before it marks the first job done: the queue runs the first job again.
    jobs.run(first)
    assert [j.status for j in _task_jobs(platform, task_id)] == ["running", "queued"], "a second successor"
    assert llm.calls == []

    with platform.store.session() as s:
        row = s.get(type(video), video.id)
        assert row is not None
        row.status = "ready"
    assert platform.queue.complete(first.id, "worker-a")
    with platform.store.session() as s:  # the waiting job is due now
        s.execute(update(JobRow).where(JobRow.status == "queued").values(available_at=utcnow()))
    second = platform.queue.claim("worker-b", [JOB_KIND])
    assert second is not None and second.id != first.id
    jobs.run(second)  # the newest job is never the one that stands back
    assert _task(platform, task_id).status == "ready"
    assert len(llm.calls) == 1
