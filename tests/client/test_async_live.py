"""``AsyncTwelveLabs`` against the real framedex server on loopback."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from framedex import AsyncTwelveLabs
from framedex.client import types
from framedex.errors import NotFoundError, UnauthorizedError

from .conftest import MODELS, unique


def test_async_client_flow(live_server: Any, api_key: str, speech_video: Path) -> None:
    async def main() -> None:
        async with AsyncTwelveLabs(api_key=api_key, base_url=live_server.api, timeout=120) as client:
            created = await client.indexes.create(index_name=unique("async"), models=MODELS)
            assert created.id
            others = [await client.indexes.create(index_name=unique("async-p"), models=MODELS) for _ in range(2)]
            pager = await client.indexes.list(page_limit=1)
            listed = [i.id async for i in pager]
            assert {created.id, *(o.id for o in others)} <= set(listed)
            assert pager.page_info and len(listed) == pager.page_info.total_results

            task = await client.tasks.create(index_id=created.id, video_file=speech_video)
            assert isinstance(task, types.AsyncTask)
            statuses: list[str | None] = []

            async def on_poll(t: types.AsyncTask) -> None:
                statuses.append(t.status)

            await task.wait_for_done(sleep_interval=0.25, callback=on_poll, timeout=240)
            assert task.status == "ready" and statuses[-1] == "ready"

            # two requests at once on the same client
            video, again = await asyncio.gather(
                client.indexes.indexed_assets.retrieve(created.id, task.video_id or "", transcription=True),
                client.tasks.retrieve(task.id or ""),
            )
            assert video.transcription and again.status == "ready"

            search = await client.search.query(index_id=created.id, query_text="lazy dog",
                                               search_options=["transcription"])
            assert task.video_id in [hit.video_id async for hit in search]

            with pytest.raises(NotFoundError) as err:
                await client.indexes.retrieve("0" * 24)
            assert err.value.code == "resource_not_exists"
            await client.indexes.delete(created.id)

        async with AsyncTwelveLabs(api_key="tlk_wrong", base_url=live_server.url) as wrong:
            with pytest.raises(UnauthorizedError):
                await wrong.indexes.list()

    asyncio.run(main())


def test_async_multipart_upload(live_server: Any, api_key: str, speech_video: Path) -> None:
    async def main() -> types.UploadResult:
        async with AsyncTwelveLabs(api_key=api_key, base_url=live_server.url) as client:
            seen: list[float] = []

            async def progress(p: types.UploadProgress) -> None:
                seen.append(p.percentage)

            result = await client.multipart_upload.upload_file(speech_video, progress_callback=progress)
            assert seen == [100.0]
            assert result.asset_id
            asset = await client.assets.retrieve(result.asset_id)
            assert asset.method == "multipart"
            return result

    assert asyncio.run(main()).asset_url
