"""Entity collections and entities through the official SDK, and entity search on real footage.

The search tests index real videos the way ingest does (faces of frames sampled at 1 fps into the
`faces` space, CNN features into `visual_image`, joint embeddings into `visual`), then ask which clips
an entity, known only by reference photos, appears in.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from framedex.ids import new_id
from framedex.ingest.decode import sample_frames
from framedex.ingest.probe import probe
from framedex.platform import Platform
from framedex.services import entities
from framedex.storage.tables import AssetRow, ClipRow, IndexedAssetRow
from framedex.storage.tables_entities import EntityCollectionRow, EntityRow
from framedex.storage.vectors import VectorIndex, VectorRecord
from framedex.storage.vectors_embedded import open_embedded
from tests.conftest import SHARED_MEDIA, LiveServer, ffmpeg

IMAGES = SHARED_MEDIA / "images"
VIDEOS = SHARED_MEDIA / "video"
CLIP_SECONDS = 2.0


def upload_image(tl: Any, name: str) -> str:
    asset = tl.assets.create(method="direct", file=(name, (IMAGES / name).read_bytes(), "image/jpeg"))
    return str(asset.id)


def wait_ready(tl: Any, collection_id: str, entity_id: str, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entity = tl.entity_collections.entities.retrieve(collection_id, entity_id)
        if entity.status == "ready":
            return entity
        time.sleep(0.3)
    raise TimeoutError(entity_id)


def test_collections_and_entities_crud(tl: Any, http: httpx.Client) -> None:
    coll = tl.entity_collections.create(name="crud people", description="for the CRUD test")
    assert coll.id and coll.name == "crud people"
    assert tl.entity_collections.retrieve(coll.id).description == "for the CRUD test"
    assert tl.entity_collections.update(coll.id, name="crud people 2").name == "crud people 2"
    assert coll.id in [c.id for c in tl.entity_collections.list()]
    assert [c.id for c in tl.entity_collections.list(name="crud people 2")] == [coll.id]

    a1, a2, a3 = upload_image(tl, "jesper.jpg"), upload_image(tl, "jesper_2.jpg"), upload_image(tl, "donna.jpg")
    person = tl.entity_collections.entities.create(coll.id, name="Jesper", asset_ids=[a1],
                                                   metadata={"role": "host", "age": 40})
    assert person.entity_collection_id == coll.id and person.asset_ids == [a1]
    assert person.status in ("processing", "ready") and person.metadata == {"role": "host", "age": 40}
    person = wait_ready(tl, coll.id, person.id)
    assert tl.entity_collections.entities.create_assets(coll.id, person.id, asset_ids=[a2]).asset_ids == [a1, a2]
    assert tl.entity_collections.entities.delete_assets(coll.id, person.id, asset_ids=[a1]).asset_ids == [a2]
    r = http.request("DELETE", f"/entity-collections/{coll.id}/entities/{person.id}/assets", json={"asset_ids": [a2]})
    assert r.status_code == 400  # an entity keeps at least one asset
    updated = tl.entity_collections.entities.update(coll.id, person.id, description="the presenter",
                                                    metadata={"role": "guest"})
    assert updated.description == "the presenter" and updated.metadata == {"role": "guest"}

    bulk = tl.entity_collections.entities.create_bulk(coll.id, entities=[
        {"name": "Donna", "asset_ids": [a3]}, {"name": "Ghost", "asset_ids": ["0" * 24]}])
    assert bulk.success_count == 1 and bulk.failed_count == 1
    assert bulk.errors[0].entity_index == 1 and bulk.errors[0].entity_name == "Ghost"
    names = sorted(e.name for e in tl.entity_collections.entities.list(coll.id))
    assert names == ["Donna", "Jesper"]
    assert [e.name for e in tl.entity_collections.entities.list(coll.id, sort_by="name", sort_option="asc")] == \
        ["Donna", "Jesper"]
    assert [e.name for e in tl.entity_collections.entities.list_by_asset(a3)] == ["Donna"]
    assert list(tl.entity_collections.entities.list_by_asset(a1)) == []

    r = http.post(f"/entity-collections/{coll.id}/entities", json={"name": "x", "asset_ids": []})
    assert r.status_code == 400
    r = http.post(f"/entity-collections/{coll.id}/entities", json={"name": "x", "asset_ids": ["f" * 24]})
    assert r.status_code == 400
    assert http.get(f"/entity-collections/{'a' * 24}").status_code == 404
    # past the last page: 200 with empty data (the SDK pager stops on it)
    r = http.get(f"/entity-collections/{coll.id}/entities", params={"page": 9})
    assert r.status_code == 200 and r.json()["data"] == []

    tl.entity_collections.entities.delete(coll.id, person.id)
    assert http.get(f"/entity-collections/{coll.id}/entities/{person.id}").status_code == 404
    tl.entity_collections.delete(coll.id)
    assert http.get(f"/entity-collections/{coll.id}").status_code == 404


def test_deleting_an_asset_unlinks_it_from_entities(tl: Any, http: httpx.Client, live_server: LiveServer) -> None:
    """`DELETE /assets/{id}`: "The platform unlinks any entity associations"; the entities stay."""
    from sqlalchemy import select

    from framedex.storage.tables_entities import EntityReferenceRow

    coll = tl.entity_collections.create(name=f"unlink {time.time()}")
    gone, kept = upload_image(tl, "jesper.jpg"), upload_image(tl, "jesper_2.jpg")
    both = tl.entity_collections.entities.create(coll.id, name="Jesper", asset_ids=[gone, kept])
    only = tl.entity_collections.entities.create(coll.id, name="Jesper alone", asset_ids=[gone])
    wait_ready(tl, coll.id, both.id)
    wait_ready(tl, coll.id, only.id)

    def referenced(entity_id: str) -> set[str]:
        with live_server.platform.store.session() as s:
            return set(s.scalars(select(EntityReferenceRow.asset_id)
                                 .where(EntityReferenceRow.entity_id == entity_id)))

    assert referenced(both.id) == {gone, kept} and referenced(only.id) == {gone}
    assert sorted(e.name for e in tl.entity_collections.entities.list_by_asset(gone)) == ["Jesper", "Jesper alone"]

    tl.assets.delete(gone)
    assert http.get(f"/assets/{gone}").status_code == 404
    assert tl.entity_collections.entities.retrieve(coll.id, both.id).asset_ids == [kept]
    assert http.get(f"/entity-collections/{coll.id}/entities/{only.id}").json()["asset_ids"] == []
    assert referenced(both.id) == {kept} and referenced(only.id) == set()
    assert [e.name for e in tl.entity_collections.entities.list_by_asset(kept)] == ["Jesper"]
    # the entity left with no assets takes new ones
    again = tl.entity_collections.entities.create_assets(coll.id, only.id, asset_ids=[kept])
    assert again.asset_ids == [kept]


def test_parse_entity_query() -> None:
    ids, rest = entities.split_entity_query("<@66f1a2b3c4d5e6f708192a3b> is walking")
    assert ids == ["66f1a2b3c4d5e6f708192a3b"] and rest == "is walking"
    assert entities.split_entity_query("<@a>") == (["a"], "")
    assert entities.split_entity_query("a red car") == ([], "a red car")


# --- entity search on real footage ---------------------------------------------------------------


def _vectors(platform: Platform, tmp: Path) -> VectorIndex:
    existing = getattr(platform, "vectors", None)
    if existing is None:
        existing = open_embedded(tmp)
        setattr(platform, "vectors", existing)  # noqa: B010  (until the platform wires its index)
    return existing


@pytest.fixture(scope="module")
def tenant(tl: Any, live_server: LiveServer) -> str:
    coll = tl.entity_collections.create(name="tenant probe")
    with live_server.platform.store.session() as s:
        row = s.get(EntityCollectionRow, coll.id)
        assert row is not None
        return row.tenant_id


@pytest.fixture(scope="module")
def index_id(tl: Any) -> str:
    return str(tl.indexes.create(index_name="entity footage",
                                 models=[{"model_name": "marengo3.0", "model_options": ["visual", "audio"]}]).id)


@pytest.fixture(scope="module")
def footage(live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory, tenant: str,
            index_id: str) -> dict[str, str]:
    """Five ready videos in `index_id`: 2 s clips, and the faces and frame vectors ingest would store.
    Returns {video name: video id}."""
    platform = live_server.platform
    tmp = tmp_path_factory.mktemp("entity-footage")
    still = tmp / "pool_person.mp4"  # another person's face, as a 4 s video
    ffmpeg("-loop", "1", "-i", str(IMAGES / "pool.jpg"), "-t", "4", "-vf", "scale=640:-2,fps=10",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", str(still))
    videos = {"jesper": VIDEOS / "jesper_talking_5s.avi", "pool": still, "dogs": VIDEOS / "samoyed_dog_2s.mp4",
              "lego": VIDEOS / "lego_motor_6s.mp4", "ball": VIDEOS / "ball_throw_10s.mp4"}
    index = _vectors(platform, tmp / "vectors")
    faces, frames = platform.models.faces(), platform.models.frames()
    ids: dict[str, str] = {}
    for name, path in videos.items():
        duration = probe(path).duration
        with platform.store.session() as s:
            asset = AssetRow(id=new_id(), tenant_id=tenant, method="direct", status="ready", filename=path.name)
            s.add(asset)
            s.flush()
            video = IndexedAssetRow(id=new_id(), tenant_id=tenant, index_id=index_id, asset_id=asset.id,
                                    status="ready", filename=path.name, duration=duration)
            s.add(video)
            s.flush()
            for seq in range(max(1, math.ceil(duration / CLIP_SECONDS))):
                s.add(ClipRow(tenant_id=tenant, index_id=index_id, video_id=video.id, seq=seq,
                              start=seq * CLIP_SECONDS, end=min(duration, (seq + 1) * CLIP_SECONDS)))
            ids[name] = video_id = video.id
        times = [t + 0.5 for t in range(int(duration))] or [duration / 2]
        face_records, feature_records, joint_records = [], [], []
        for frame in sample_frames(path, times, max_side=640):
            seq = int(frame.time // CLIP_SECONDS)
            for face in faces.faces(frame.image):
                face_records.append(VectorRecord(video_id, seq, frame.time, frame.time + 1, face.embedding))
            analysis = frames.analyze([frame.image])[0]
            feature_records.append(VectorRecord(video_id, seq, frame.time, frame.time + 1, analysis.tags.feature))
            joint_records.append(VectorRecord(video_id, seq, frame.time, frame.time + 1, analysis.embedding))
        for space, records in (("faces", face_records), ("visual_image", feature_records),
                               ("visual", joint_records)):
            index.replace_video(tenant_id=tenant, index_id=index_id, space=space, video_id=video_id,
                                records=records)
    return ids


def _entity(tl: Any, name: str, images: list[str]) -> str:
    coll = tl.entity_collections.create(name=f"search {name}")
    entity = tl.entity_collections.entities.create(coll.id, name=name,
                                                   asset_ids=[upload_image(tl, i) for i in images])
    return str(entity.id)


def test_reference_photos_find_the_person(tl: Any, live_server: LiveServer, tenant: str, index_id: str,
                                          footage: dict[str, str]) -> None:
    entity_id = _entity(tl, "Jesper", ["jesper.jpg", "jesper_2.jpg"])
    # Searching right away embeds the references on demand (the job may not have run yet).
    clips = entities.entity_clips(live_server.platform, tenant, index_id, entity_id, set(footage.values()))
    jesper = footage["jesper"]
    n_jesper = 2  # frames at 0.5 … 3.5 s in 2 s clips
    assert [c.video_id for c in clips[:n_jesper]] == [jesper] * n_jesper
    assert all(c.kind == "face" for c in clips[:n_jesper])
    assert all(c.video_id != footage["pool"] or c.relevance < clips[n_jesper - 1].relevance for c in clips)
    with live_server.platform.store.session() as s:
        row = s.get(EntityRow, entity_id)
        assert row is not None and row.status == "ready"


def test_reference_photo_of_an_animal_finds_it(tl: Any, live_server: LiveServer, tenant: str, index_id: str,
                                               footage: dict[str, str]) -> None:
    entity_id = _entity(tl, "Samoyeds", ["two_samoyeds_grass_IMG_20200608_111614_1600px.jpg"])
    clips = entities.entity_clips(live_server.platform, tenant, index_id, entity_id, set(footage.values()))
    assert clips and clips[0].video_id == footage["dogs"]


def test_unknown_entity_in_query_is_a_bad_request(live_server: LiveServer, tenant: str, index_id: str) -> None:
    from framedex.domain_errors import InvalidParameter

    with pytest.raises(InvalidParameter):
        entities.entity_clips(live_server.platform, tenant, index_id, "0" * 24, {"x"})


def test_combine_restricts_to_entity_clips_and_boosts_by_the_rest() -> None:
    ent = [{"video_id": "v", "start": 0.0, "end": 2.0, "modalities": {"visual": 0.6}, "transcription": None,
            "relevance": 0.6},
           {"video_id": "v", "start": 2.0, "end": 4.0, "modalities": {"visual": 0.7}, "transcription": None,
            "relevance": 0.7}]
    other = [{"video_id": "v", "start": 0.5, "end": 1.5, "modalities": {"visual": 0.9}, "transcription": None,
              "relevance": 0.9},
             {"video_id": "w", "start": 0.0, "end": 9.0, "modalities": {"visual": 1.0}, "transcription": None,
              "relevance": 1.0}]
    out = entities.combine_with_entities(ent, other, has_rest=True)
    assert [(r["video_id"], r["start"]) for r in out] == [("v", 0.0), ("v", 2.0)]
    assert out[0]["relevance"] > 0.6 and out[1]["relevance"] == pytest.approx(0.7)
    assert entities.combine_with_entities(ent, other, has_rest=False) == ent


def test_object_without_a_face_is_found_by_appearance(tl: Any, live_server: LiveServer, tenant: str,
                                                      index_id: str, footage: dict[str, str]) -> None:
    entity_id = _entity(tl, "Donna", ["donna.jpg", "donna_2.jpg"])  # a black dog; no face found
    clips = entities.entity_clips(live_server.platform, tenant, index_id, entity_id, set(footage.values()))
    assert clips and clips[0].kind == "appearance" and clips[0].video_id == footage["dogs"]
    assert all(c.relevance < clips[0].relevance for c in clips[1:])


def test_search_with_entity_in_the_query(tl: Any, http: httpx.Client, footage: dict[str, str],
                                         index_id: str) -> None:
    """`POST /search` through the SDK: `<@id>` alone and with words around it."""
    entity_id = _entity(tl, "Jesper again", ["jesper.jpg", "jesper_2.jpg"])
    for query in (f"<@{entity_id}>", f"<@{entity_id}> is talking"):
        hits = list(tl.search.query(index_id=index_id, query_text=query, search_options=["visual"]))
        assert hits, query
        assert [h.video_id for h in hits[:2]] == [footage["jesper"]] * 2
        assert all(h.video_id == footage["jesper"] for h in hits)  # faces: only the clips he is in
        assert sorted((h.start, h.end) for h in hits[:2]) == [(0.0, 2.0), (2.0, 4.0)]
    r = http.post("/search", data={"index_id": index_id, "query_text": f"<@{'0' * 24}> walking",
                                   "search_options": "visual"}, files={"x": ("", b"")})
    assert r.status_code == 400 and r.json()["code"] == "entity_not_found"
