"""The playground in a real headless browser (Debian's chromium driven by Playwright) against the session's
live server, so the models it loads are the ones the API tests use: sign in, create an index, upload a
short video, wait for it to be ready, search, play the hit from its start, ask a question and watch the
answer stream, play the transcript from a word, make an entity from two photos and find the person with
`<@entity>`. Screenshots of each step go to build/test-artifacts/web/ (ignored by git)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SHARED_MEDIA, LiveServer, Media

CHROMIUM = os.environ.get("FRAMEDEX_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts" / "web"
# A real 5-s clip of a man talking, and two other photos of him: the entity's pictures.
PERSON_VIDEO = SHARED_MEDIA / "video" / "jesper_talking_5s.avi"
PERSON_PHOTOS = [SHARED_MEDIA / "images" / "jesper.jpg", SHARED_MEDIA / "images" / "jesper_2.jpg"]

playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install -e .[dev]")
if not Path(CHROMIUM).exists():  # pragma: no cover - setup.sh --dev installs it
    pytest.fail(f"{CHROMIUM} is missing: run scripts/setup.sh --dev (Debian package chromium)", pytrace=False)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        # --no-sandbox: CI and dev containers run as root, where chromium's sandbox cannot start.
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                              args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"])
        yield b
        b.close()


@pytest.fixture
def shots() -> Iterator[Any]:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    count = iter(range(1, 100))

    def shot(page: Any, name: str) -> None:
        page.screenshot(path=str(ARTIFACTS / f"{next(count):02d}-{name}.png"), full_page=True)

    yield shot


def test_playground_end_to_end(browser: Any, live_server: LiveServer, media: Media, shots: Any) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    expect = playwright_api.expect

    # Sign in: a wrong key shows the API's own message, the right one opens the app.
    page.goto(live_server.url + "/")
    page.get_by_label("API key").fill("fdx_not-a-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#error-text")).to_contain_text("The API key you provided is not valid.")
    shots(page, "wrong-key")
    page.get_by_label("API key").fill(live_server.new_key("browser"))
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#app")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('framedex.apiKey')").startswith("fdx_")
    assert page.evaluate("localStorage.getItem('framedex.apiKey')") is None
    shots(page, "signed-in")

    # Tabs work from the keyboard.
    page.locator("#tab-indexes").focus()
    page.keyboard.press("ArrowRight")
    expect(page.locator("#tab-upload")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#tab-upload")).to_be_focused()
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#panel-indexes")).to_be_visible()

    # Create an index.
    page.get_by_label("Name", exact=True).fill("browser test")
    page.get_by_role("button", name="Create index").click()
    expect(page.locator("#index-list")).to_contain_text("browser test")
    expect(page.locator("#index-select option:checked")).to_have_text("browser test")
    shots(page, "index-created")

    # Upload a short video and wait until it is indexed.
    page.get_by_role("tab", name="Upload").click()
    page.locator("#video-file").set_input_files(str(media.speech_video))
    page.get_by_role("button", name="Upload and index").click()
    task = page.locator("#task-list li").filter(has_text=media.speech_video.name)
    expect(task).to_be_visible()
    shots(page, "uploading")

    # Meanwhile the clip of a person (for the entity search at the end) goes to a second index, one
    # without a generation model: nothing is prepared for analysis in the background after it is ready.
    page.get_by_role("tab", name="Indexes").click()
    page.get_by_label("Name", exact=True).fill("people")
    page.locator("#pegasus-model").select_option("")
    page.get_by_role("button", name="Create index").click()
    expect(page.locator("#index-select option:checked")).to_have_text("people")
    page.get_by_role("tab", name="Upload").click()
    page.locator("#video-file").set_input_files(str(PERSON_VIDEO))
    page.get_by_role("button", name="Upload and index").click()
    person_task = page.locator("#task-list li").filter(has_text=PERSON_VIDEO.name)
    expect(person_task).to_be_visible()
    page.get_by_label("Index", exact=True).select_option(label="browser test")
    expect(task.locator(".status")).to_have_text("ready", timeout=300_000)
    shots(page, "ready")

    # The library lists it with its duration.
    page.get_by_role("tab", name="Library").click()
    card = page.locator("#library li").filter(has_text=media.speech_video.name)
    expect(card).to_contain_text("0:10.0")
    shots(page, "library")

    # Search for a spoken phrase; the hit plays from its start.
    page.get_by_role("tab", name="Search").click()
    page.get_by_label("Query", exact=True).fill("humpback whales in the Pacific Ocean")
    page.get_by_role("button", name="Search", exact=True).click()
    hit = page.locator("#results button.hit").first
    expect(hit).to_be_visible(timeout=60_000)
    expect(hit).to_contain_text(media.speech_video.name)
    shots(page, "search-results")
    start = float(hit.get_attribute("data-start") or "nan")

    def at_hit_start() -> None:
        page.wait_for_function(
            """start => { const v = document.querySelector('#player');
                         return v.readyState >= 1 && !v.seeking && Math.abs(v.currentTime - start) <= 0.5; }""",
            arg=start, timeout=30_000)

    hit.click()
    at_hit_start()
    assert page.locator("#player").get_attribute("data-video-id") == hit.get_attribute("data-video-id")
    shots(page, "playing-hit")
    # Moved away and clicked again: the player goes back to the hit, so the seek is the click's doing.
    page.evaluate("() => { const v = document.querySelector('#player'); v.pause(); v.currentTime = v.duration - 0.2; }")
    page.wait_for_function("() => Math.abs(document.querySelector('#player').currentTime - "
                           "(document.querySelector('#player').duration - 0.2)) < 0.3")
    hit.click()
    at_hit_start()

    # Ask a question: text appears while the answer streams.
    page.get_by_role("tab", name="Analyze").click()
    expect(page.locator("#analyze-video option").filter(has_text=media.speech_video.name)).to_have_count(1)
    page.locator("#analyze-video").select_option(label=media.speech_video.name)
    page.get_by_label("Prompt").fill("Which animals are mentioned?")
    page.get_by_label("Max tokens").fill("24")
    page.get_by_role("button", name="Ask").click()
    expect(page.locator("#answer")).to_have_attribute("aria-busy", "true")
    expect(page.locator("#answer")).not_to_be_empty(timeout=240_000)
    shots(page, "answer-streaming")
    expect(page.locator("#answer")).not_to_have_attribute("aria-busy", "true", timeout=240_000)
    assert page.locator("#answer").inner_text().strip()
    shots(page, "answer-done")

    # The transcript has a time for every word: a click plays from the word, and so does Enter after
    # moving to it with the arrow keys (one tab stop for the whole transcript).
    page.get_by_role("button", name="Transcript").click()
    word = page.locator("#insights .transcript button.word").filter(has_text="whales").first
    expect(word).to_be_visible()
    expect(page.locator("#insights")).to_contain_text("humpback whales")
    start = float(word.get_attribute("data-start") or "nan")
    assert 0 < start < 10 and float(word.get_attribute("data-end") or "nan") > start
    word.click()
    at_hit_start()
    # The word being said is marked (paused on it, so that playing on does not move the mark).
    page.evaluate("start => { const v = document.querySelector('#player'); v.pause(); v.currentTime = start + 0.01; }",
                  start)
    expect(word).to_have_attribute("aria-current", "true")
    shots(page, "transcript")
    buttons = page.locator("#insights .transcript button")
    assert page.locator("#insights .transcript button[tabindex='0']").count() == 1
    buttons.first.focus()
    page.keyboard.press("ArrowRight")
    expect(buttons.nth(1)).to_be_focused()
    start = float(buttons.nth(1).get_attribute("data-start") or "nan")
    page.keyboard.press("Enter")
    at_hit_start()

    # Entities: a collection, an entity from two photos, then a search for `<@entity>` finds the clip of
    # that person. An unknown entity in a query shows the API's own message.
    page.get_by_role("tab", name="Entities").click()
    page.get_by_label("Collection name").fill("people")
    page.get_by_role("button", name="Create collection").click()
    expect(page.locator("#entity-collection option:checked")).to_have_text("people")
    page.get_by_label("Entity name").fill("Jesper")
    page.locator("#entity-pictures").set_input_files([str(p) for p in PERSON_PHOTOS])
    expect(page.locator("#entity-pictures-label")).to_contain_text("jesper_2.jpg")
    page.get_by_role("button", name="Create entity").click()
    entity = page.locator("#entity-list li").filter(has_text="Jesper")
    expect(entity.locator(".status")).to_have_text("ready", timeout=120_000)
    expect(entity).to_contain_text("2 pictures")
    entity_id = entity.get_attribute("data-entity-id") or ""
    shots(page, "entity-ready")
    expect(person_task.locator(".status")).to_have_text("ready", timeout=300_000)
    person_video = person_task.get_attribute("data-video-id")
    page.get_by_label("Index", exact=True).select_option(label="people")
    entity.get_by_role("button", name="Search for Jesper").click()
    expect(page.locator("#panel-search")).to_be_visible()
    expect(page.get_by_label("Query", exact=True)).to_have_value(f"<@{entity_id}> ")
    expect(page.locator(f"#results button.hit[data-video-id='{person_video}']").first).to_be_visible(timeout=60_000)
    assert page.locator("#results button.hit").first.get_attribute("data-video-id") == person_video
    shots(page, "entity-search")
    page.get_by_label("Query", exact=True).fill("<@" + "0" * 24 + ">")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#error-text")).to_contain_text(f"The entity '{'0' * 24}' in the query does not exist.")
    shots(page, "entity-unknown")

    # Phone-sized: nothing wider than the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("tab", name="Search").click()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shots(page, "phone")
    assert not errors, errors
    context.close()
