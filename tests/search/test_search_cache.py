"""The search caches (`services.search.cache`) follow the metadata database: a video that becomes ready, is
edited, re-indexed or deleted is seen by the next search, and text matching gives what it gave uncached."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select

from framedex.config import Settings
from framedex.ids import new_id
from framedex.platform import Platform
from framedex.services import auth, indexes, search
from framedex.services.search import cache as search_cache
from framedex.services.search import text as search_text
from framedex.storage.tables import AssetRow, ClipFeatureRow, ClipRow, IndexedAssetRow


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    p = Platform(Settings(data_dir=tmp_path / "data"))
    try:
        yield p
    finally:
        p.close()


def _setup(platform: Platform) -> tuple[str, str]:
    key, _ = auth.create_key(platform, "cache")
    tenant = auth.authenticate(platform, key)
    index = indexes.create(platform, tenant, name="cache",
                           models=[{"model_name": "marengo3.0", "model_options": ["visual", "audio"]}])
    return tenant, index.id


def _video(platform: Platform, tenant: str, index_id: str, *, status: str = "ready", label: str = "dog",
           line: str = "GRAND OPENING", meta: dict[str, Any] | None = None) -> str:
    video_id = new_id()
    with platform.store.session() as s:
        asset = AssetRow(id=new_id(), tenant_id=tenant, method="direct", status="ready", filename="v.mp4")
        s.add(asset)
        s.flush()
        s.add(IndexedAssetRow(id=video_id, tenant_id=tenant, index_id=index_id, asset_id=asset.id, status=status,
                              filename="v.mp4", duration=10.0, width=640, height=360, user_metadata=meta or {}))
        s.flush()
        for seq in range(2):
            s.add(ClipRow(tenant_id=tenant, index_id=index_id, video_id=video_id, seq=seq, start=5.0 * seq,
                          end=5.0 * seq + 5))
            s.add(ClipFeatureRow(tenant_id=tenant, index_id=index_id, video_id=video_id, kind="visual", clip_seq=seq,
                                 start=5.0 * seq, end=5.0 * seq + 1, text=label,
                                 data={"terms": [[label, 1.0]], "attributes": ["furry"]}))
        s.add(ClipFeatureRow(tenant_id=tenant, index_id=index_id, video_id=video_id, kind="ocr", clip_seq=0,
                             start=0.0, end=2.0, text=line, data={}))
    return video_id


def _set(platform: Platform, video_id: str, **values: Any) -> None:
    time.sleep(0.002)  # a later updated_at than the previous write
    with platform.store.session() as s:
        row = s.get(IndexedAssetRow, video_id)
        assert row is not None
        for k, v in values.items():
            setattr(row, k, v)


def test_ready_videos_follow_status_edits_and_deletes(platform: Platform) -> None:
    tenant, index_id = _setup(platform)
    a = _video(platform, tenant, index_id)
    pending = _video(platform, tenant, index_id, status="indexing")
    ready = search_cache.ready_videos(platform, tenant, index_id)
    assert ready.ids == {a}
    assert search_cache.ready_videos(platform, tenant, index_id) is ready  # unchanged: the same cached object

    _set(platform, pending, status="ready")
    assert search_cache.ready_videos(platform, tenant, index_id).ids == {a, pending}

    _set(platform, a, user_metadata={"team": "blue"})
    again = search_cache.ready_videos(platform, tenant, index_id)
    assert again.by_id[a].user_metadata == {"team": "blue"}
    assert [v.id for v in search._filter_videos(again.videos, {"team": "blue"})] == [a]

    with platform.store.session() as s:
        s.execute(delete(IndexedAssetRow).where(IndexedAssetRow.id == pending))
    assert search_cache.ready_videos(platform, tenant, index_id).ids == {a}


def test_per_video_data_is_reloaded_when_the_video_changes(platform: Platform) -> None:
    tenant, index_id = _setup(platform)
    a = _video(platform, tenant, index_id, label="dog", line="GRAND OPENING")
    ready = search_cache.ready_videos(platform, tenant, index_id)
    feats = search_cache.clip_features(platform, index_id, "visual", [(a, 0), (a, 1), (a, 7)], ready.versions)
    assert feats[(a, 0)][0].terms == (("dog", 1.0),) and feats[(a, 0)][0].names == "dog furry"
    assert (a, 7) not in feats
    assert [c[2] for c in search_cache.clip_spans(platform, index_id, [a], ready.versions)[a]] == [0, 1]
    assert [line.text for line in search_cache.ocr_lines(platform, tenant, index_id, ready)] == ["GRAND OPENING"]

    # re-indexed: new features and clips, then ready again (a newer updated_at)
    _set(platform, a, status="indexing")
    with platform.store.session() as s:
        for row in s.scalars(select(ClipFeatureRow).where(ClipFeatureRow.video_id == a)):
            row.data = {"terms": [["cat", 0.5]], "attributes": []} if row.kind == "visual" else row.data
            row.text = "CLOSING SALE" if row.kind == "ocr" else row.text
        s.add(ClipRow(tenant_id=tenant, index_id=index_id, video_id=a, seq=2, start=10.0, end=15.0))
    _set(platform, a, status="ready")
    ready = search_cache.ready_videos(platform, tenant, index_id)
    feats = search_cache.clip_features(platform, index_id, "visual", [(a, 0)], ready.versions)
    assert feats[(a, 0)][0].terms == (("cat", 0.5),)
    assert [c[2] for c in search_cache.clip_spans(platform, index_id, [a], ready.versions)[a]] == [0, 1, 2]
    assert [line.text for line in search_cache.ocr_lines(platform, tenant, index_id, ready)] == ["CLOSING SALE"]

    b = _video(platform, tenant, index_id, line="grand prix")
    ready = search_cache.ready_videos(platform, tenant, index_id)
    assert sorted(line.video_id for line in search_cache.ocr_lines(platform, tenant, index_id, ready)) == sorted([a, b])


def test_caches_are_per_platform(tmp_path: Path) -> None:
    one = Platform(Settings(data_dir=tmp_path / "one"))
    two = Platform(Settings(data_dir=tmp_path / "two"))
    try:
        assert search_cache.cache_of(one) is search_cache.cache_of(one)
        assert search_cache.cache_of(one) is not search_cache.cache_of(two)
    finally:
        one.close()
        two.close()


@pytest.mark.parametrize(("query", "text"), [
    ("grand opening", "GRAND 0PENING SALE"), ("grand opening", "grandopening"), ("springfield", "SPRlNGFIELD"),
    ("forno a legna", "forno a regna"), ("the heavy snowfall", "it's no fault"), ("café", "cafe au lait"),
])
def test_text_matching_is_the_same_cold_and_memoised(query: str, text: str) -> None:
    search_text.clear_caches()
    cold = (search_text.coverage(query, text), search_text.coverage(query, text, fuzzy=False),
            search_text.fuzzy_coverage(query, text))
    warm = (search_text.coverage(query, text), search_text.coverage(query, text, fuzzy=False),
            search_text.fuzzy_coverage(query, text))
    assert cold == warm
    # the pruned fuzzy matching equals difflib over every pair
    from difflib import SequenceMatcher

    q, words = search_text.tokens(query), search_text.tokens(text)
    for w in q:
        full = max(SequenceMatcher(None, w, t, autojunk=False).ratio() for t in words)
        assert search_text._best_ratio(w, words, 0.7) == (full if full >= 0.7 else 0.0)


def test_best_window_points_at_the_phrase_and_forgives_homophones() -> None:
    line = "making a famine where abundance lies, thy self thy foe, to thy sweet self to cruel."
    said = line.split()
    assert search_text.best_window("where abundance lies", said)[:2] == (3, 5)
    first, last, score = search_text.best_window("thy sweet self", said)
    assert (first, last) == (11, 13) and score == 1.0  # the phrase, not the earlier "thy self"
    assert search_text.best_window("zebra crossing", said) == (-1, -1, 0.0)
    # a misheard homophone ("rows" for "rose") still counts, partly; an unrelated word does not
    assert 0.5 < search_text.coverage("beauty's rose", "that thereby beauty's rows might never die") < 1.0
    assert search_text.coverage("beauty's rose", "that thereby beauty's rows") > \
        search_text.coverage("beauty's nose", "that thereby beauty's rows")
    # compounds said apart or written together
    assert search_text.coverage("sandcastle", "they built a sand castle") == 1.0
    assert search_text.coverage("sand castle", "they built a sandcastle") >= 0.75
