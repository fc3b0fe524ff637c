"""An audio-only asset gets a transcript (`GET /assets/{id}/transcription`: "the transcription of a video or
audio asset"). No index takes an audio asset, so the asset is transcribed by a job of its own once ready."""

from __future__ import annotations

import re
import time
from typing import Any

from twelvelabs import TwelveLabs
from twelvelabs.errors import BadRequestError

from framedex.ingest.keys import transcript_blob_key
from tests.conftest import SHARED_MEDIA, LiveServer

AUDIO = SHARED_MEDIA / "speech" / "librivox_ss_0870.wav"  # 7 s of LibriVox, 16 kHz mono, no video track
# its line of the pocketsphinx test data's reference transcription
SAID = "and mister john dashwood had then leisure to consider how much there might be prudently in his power to do " \
       "for them"


def words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower().replace("mr.", "mister").replace("mr ", "mister "))


def wait_transcript(tl: TwelveLabs, asset_id: str, **kwargs: Any) -> Any:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        transcript = tl.assets.retrieve_transcription(asset_id, **kwargs)
        if transcript.status in ("ready", "failed"):
            return transcript
        assert transcript.status in ("pending", "processing"), transcript
        time.sleep(0.5)
    raise TimeoutError(asset_id)


def test_audio_only_asset_is_transcribed(tl: TwelveLabs, live_server: LiveServer) -> None:
    with AUDIO.open("rb") as fh:
        asset: Any = tl.assets.create(method="direct", file=fh, filename=AUDIO.name)
    transcript = wait_transcript(tl, asset.id, include=["words", "sentences"])
    assert transcript.status == "ready", transcript
    assert tl.assets.retrieve(asset.id).file_type == "audio"
    heard = words(" ".join(s.value for s in transcript.sentences or []))
    expected = words(SAID)
    assert len(set(heard) & set(expected)) >= 0.8 * len(set(expected)), heard
    timed = transcript.words or []
    assert timed and all(0 <= w.start <= w.end <= 7.2 for w in timed)
    assert [w.start for w in timed] == sorted(w.start for w in timed)

    # An audio asset is still not indexable; its transcript is the asset's own.
    index = tl.indexes.create(index_name=f"audio-only-{time.time()}",
                              models=[{"model_name": "marengo3.0", "model_options": ["visual", "audio"]}])
    try:
        tl.indexes.indexed_assets.create(index.id, asset_id=asset.id)
        raise AssertionError("an audio asset was indexed")
    except BadRequestError:
        pass

    # An audio asset whose transcript is missing (uploaded before audio transcripts) is transcribed on request.
    live_server.platform.blobs.delete(transcript_blob_key(asset.id))
    assert tl.assets.retrieve_transcription(asset.id).status == "processing"
    assert wait_transcript(tl, asset.id).status == "ready"

    tl.assets.delete(asset.id)
    assert not live_server.platform.blobs.exists(transcript_blob_key(asset.id))
