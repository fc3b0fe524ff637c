// The playground: plain ES modules, no build step. State lives in the DOM and in `state` below;
// every API call goes through api.js so that errors are shown as the API's own messages.
import { ApiError, call, get, post, session, stream, upload } from "./api.js";

const $ = (sel) => document.querySelector(sel);
const state = { indexId: localStorage.getItem("framedex.index") || "", videos: new Map(), playback: new Map(),
                image: null, analyzing: null, pictures: [], transcript: null };

// --- small helpers -----------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children.flat()) {
    if (child !== undefined && child !== null && child !== false) node.append(child);
  }
  return node;
}

export function clock(seconds) {
  const s = Math.max(0, Number(seconds) || 0);
  const m = Math.floor(s / 60);
  const rest = (s - m * 60).toFixed(1).padStart(4, "0");
  return `${m}:${rest}`;
}

function showError(err) {
  if (err?.name === "AbortError") return;
  const text = err instanceof ApiError ? `${err.message} (${err.code})` : String(err?.message || err);
  $("#error-text").textContent = text;
  $("#error").hidden = false;
  console.error(err);
}

function clearError() { $("#error").hidden = true; }

// Run an async UI action: errors go to the alert, the button is disabled meanwhile.
async function guarded(button, work) {
  clearError();
  if (button) button.disabled = true;
  try { return await work(); } catch (err) { showError(err); } finally { if (button) button.disabled = false; }
}

// --- sign in -----------------------------------------------------------------------------------

async function signIn(key) {
  session.key = key;
  try {
    await get("/indexes", { page_limit: 1 });
  } catch (err) {
    session.key = "";
    throw err;
  }
  $("#signin-view").hidden = true;
  $("#app").hidden = false;
  $("#account").hidden = false;
  await loadIndexes();
}

function signOut() {
  session.key = "";
  location.reload();
}

// --- tabs --------------------------------------------------------------------------------------

const TABS = ["indexes", "upload", "library", "search", "analyze", "entities"];

function selectTab(name, focus = false) {
  for (const t of TABS) {
    const tab = $(`#tab-${t}`);
    const on = t === name;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    $(`#panel-${t}`).hidden = !on;
    if (on && focus) tab.focus();
  }
  // Without an index there is nothing to load yet: that is no error to show.
  if (name === "library" && state.indexId) loadLibrary().catch(showError);
  if (name === "analyze" && state.indexId) fillVideoChoices();
  if (name === "entities") loadCollections().catch(showError);
}

function tabKeys(event) {
  const i = TABS.indexOf(event.target.id.replace("tab-", ""));
  const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
  if (i < 0) return;
  if (step) selectTab(TABS[(i + step + TABS.length) % TABS.length], true);
  else if (event.key === "Home") selectTab(TABS[0], true);
  else if (event.key === "End") selectTab(TABS[TABS.length - 1], true);
  else return;
  event.preventDefault();
}

// --- indexes -----------------------------------------------------------------------------------

async function loadIndexes() {
  const page = await get("/indexes", { page_limit: 50, sort_by: "created_at", sort_option: "desc" });
  const list = $("#index-list");
  const select = $("#index-select");
  list.replaceChildren();
  select.replaceChildren();
  for (const index of page.data) {
    const models = index.models.map((m) => `${m.model_name} (${m.model_options.join(", ")})`).join("; ");
    select.append(el("option", { value: index._id }, index.index_name));
    list.append(el("li", { class: "card" },
      el("strong", {}, index.index_name),
      el("span", {}, `${index.video_count} videos · ${clock(index.total_duration)}`),
      el("small", {}, models + (index.addons.length ? ` · addons: ${index.addons.join(", ")}` : "")),
      el("button", { type: "button", onclick: () => useIndex(index._id) }, "Use")));
  }
  if (!page.data.some((i) => i._id === state.indexId)) state.indexId = page.data[0]?._id || "";
  select.value = state.indexId;
  if (!page.data.length) list.append(el("li", {}, "No index yet: create one below."));
}

function useIndex(id) {
  state.indexId = id;
  localStorage.setItem("framedex.index", id);
  $("#index-select").value = id;
  state.videos.clear();
  $("#results").replaceChildren();
}

function requireIndex() {
  if (!state.indexId) throw new Error("Create or choose an index first.");
  return state.indexId;
}

async function createIndex(form) {
  const data = new FormData(form);
  const models = [];
  if (data.get("marengo")) models.push({ model_name: data.get("marengo"), model_options: data.getAll("marengo_option") });
  if (data.get("pegasus")) models.push({ model_name: data.get("pegasus"), model_options: data.getAll("pegasus_option") });
  const body = { index_name: data.get("index_name"), models };
  if (data.get("addon_thumbnail")) body.addons = ["thumbnail"];
  const created = await post("/indexes", body);
  useIndex(created._id);
  await loadIndexes();
  form.reset();
  $("#index-name").value = "";
}

// --- upload and tasks --------------------------------------------------------------------------

function taskItem(task, label) {
  const status = el("span", { class: "status", dataset: { status: task.status || "pending" } }, task.status || "pending");
  const item = el("li", { class: "card", dataset: { task: task._id } }, el("strong", {}, label), status);
  $("#task-list").prepend(item);
  return { item, status };
}

async function followTask(taskId, label) {
  const { item, status } = taskItem({ _id: taskId, status: "pending" }, label);
  for (;;) {
    const task = await get(`/tasks/${taskId}`);
    status.textContent = task.status;
    status.dataset.status = task.status;
    if (task.status === "ready") {
      item.dataset.videoId = task.video_id;
      item.append(el("button", { type: "button", onclick: () => play(task.video_id, 0) }, "Play"));
      state.videos.clear();
      return task;
    }
    if (task.status === "failed") {
      const reason = task.error?.message || task.system_metadata?.error || "Indexing failed.";
      item.append(el("small", { class: "error" }, reason));
      return task;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function uploadFile(file) {
  const form = new FormData();
  form.append("index_id", requireIndex());
  form.append("video_file", file, file.name);
  const bar = $("#upload-progress");
  bar.hidden = false;
  bar.value = 0;
  try {
    const task = await upload("/tasks", form, (f) => { bar.value = f; });
    bar.value = 1;
    followTask(task._id, file.name).catch(showError);
  } finally {
    setTimeout(() => { bar.hidden = true; }, 800);
  }
}

async function uploadUrl(videoUrl) {
  const form = new FormData();
  form.append("index_id", requireIndex());
  form.append("video_url", videoUrl);
  const task = await call("POST", "/tasks", { form });
  followTask(task._id, videoUrl).catch(showError);
}

// --- library and playback ----------------------------------------------------------------------

async function loadVideos() {
  const index = requireIndex();
  const page = await get(`/indexes/${index}/videos`, { page_limit: 50 });
  state.videos = new Map(page.data.map((v) => [v._id, v]));
  return page.data;
}

async function playbackUrl(videoId) {
  const cached = state.playback.get(videoId);
  if (cached && Date.parse(cached.expires_at) - Date.now() > 60_000) return cached.url;
  const result = await get(`/media/${videoId}/playback-url`);
  state.playback.set(videoId, result);
  return result.url;
}

async function loadLibrary() {
  const videos = await loadVideos();
  const grid = $("#library");
  grid.replaceChildren();
  if (!videos.length) grid.append(el("li", {}, "No videos in this index yet."));
  for (const v of videos) {
    const m = v.system_metadata || {};
    const preview = el("video", { muted: true, preload: "metadata", "aria-hidden": "true", tabindex: "-1" });
    const card = el("li", { class: "card video", dataset: { videoId: v._id } },
      preview,
      el("strong", {}, m.filename || v._id),
      el("span", {}, `${clock(m.duration)} · ${m.width || "?"}×${m.height || "?"} · ${v.status}`),
      v.user_metadata ? el("small", {}, JSON.stringify(v.user_metadata)) : null,
      el("div", { class: "row" },
        el("button", { type: "button", onclick: () => play(v._id, 0) , disabled: v.status !== "ready" }, "Play"),
        el("button", { type: "button", disabled: v.status !== "ready",
                       onclick: () => { selectTab("analyze"); $("#analyze-video").value = v._id; } }, "Analyze")));
    grid.append(card);
    // A frame one second in stands for the thumbnail: range requests fetch only what it needs.
    if (v.status === "ready") playbackUrl(v._id).then((u) => { preview.src = `${u}#t=1`; }).catch(() => {});
  }
}

async function play(videoId, start) {
  const player = $("#player");
  const src = await playbackUrl(videoId);
  const v = state.videos.get(videoId);
  $("#player-caption").textContent = `${v?.system_metadata?.filename || videoId} from ${clock(start)}`;
  player.dataset.videoId = videoId;
  player.dataset.start = String(start);
  const seek = () => {
    player.currentTime = start;
    player.play().catch(() => { /* autoplay refused: the user presses play */ });
  };
  if (player.dataset.src === src && player.readyState >= 1) {
    seek();
  } else {
    player.dataset.src = src;
    player.addEventListener("loadedmetadata", seek, { once: true });
    player.src = src;
  }
  $("#player-panel").scrollIntoView({ block: "nearest", behavior: "smooth" });
}

// --- search --------------------------------------------------------------------------------------

function setImage(file) {
  state.image = file;
  $("#image-label").textContent = file ? `Image query: ${file.name || "pasted image"}` :
    "Image query: drop or paste an image, or choose one";
  $("#image-clear").hidden = !file;
}

function hitItem(hit, filename) {
  const snippet = hit.transcription ? el("q", {}, hit.transcription) : null;
  const modules = (hit.modules || []).map((m) => m.type).join(", ");
  const button = el("button", { type: "button", class: "hit", dataset: { videoId: hit.video_id, start: hit.start },
                                onclick: () => play(hit.video_id, hit.start).catch(showError) },
    hit.thumbnail_url ? el("img", { src: hit.thumbnail_url, alt: "", loading: "lazy", width: 160, height: 90 }) : null,
    el("span", { class: "meta" },
      el("strong", {}, filename || hit.video_id),
      el("span", {}, `${clock(hit.start)} – ${clock(hit.end)}`),
      el("span", { class: "score" }, `score ${hit.score} · `, el("span", { class: `conf ${hit.confidence}` }, hit.confidence),
         modules ? ` · ${modules}` : ""),
      snippet));
  button.setAttribute("aria-label", `Play ${filename || hit.video_id} from ${clock(hit.start)}, score ${hit.score}, ${hit.confidence} confidence`);
  return el("li", {}, button);
}

async function search(form) {
  const index = requireIndex();
  const data = new FormData(form);
  const body = new FormData();
  body.append("index_id", index);
  const text = String(data.get("query_text") || "").trim();
  if (text) body.append("query_text", text);
  if (state.image) {
    body.append("query_media_type", "image");
    body.append("query_media_file", state.image, state.image.name || "query.png");
  }
  if (!text && !state.image) throw new Error("Type a query or give an image.");
  for (const option of data.getAll("search_options")) body.append("search_options", option);
  body.append("operator", data.get("operator"));
  if (data.get("group_by")) body.append("group_by", "video");
  const filter = String(data.get("filter") || "").trim();
  if (filter) body.append("filter", filter);
  body.append("page_limit", "20");
  $("#search-status").textContent = "Searching…";
  const [page] = await Promise.all([call("POST", "/search", { form: body }),
                                    state.videos.size ? null : loadVideos()]);
  const results = $("#results");
  results.replaceChildren();
  const name = (id) => state.videos.get(id)?.system_metadata?.filename;
  for (const item of page.data) {
    if (item.clips) {
      results.append(el("li", { class: "group" }, el("h3", {}, `${name(item.id) || item.id} · score ${item.score}`),
        el("ol", {}, item.clips.map((c) => hitItem(c, name(c.video_id))))));
    } else {
      results.append(hitItem(item, name(item.video_id)));
    }
  }
  const total = page.page_info?.total_results ?? page.data.length;
  $("#search-status").textContent = total ? `${total} results` : "No results.";
}

// --- analyze -------------------------------------------------------------------------------------

async function fillVideoChoices() {
  const select = $("#analyze-video");
  const previous = select.value;
  try {
    const videos = (await loadVideos()).filter((v) => v.status === "ready");
    select.replaceChildren(...videos.map((v) => el("option", { value: v._id }, v.system_metadata?.filename || v._id)));
    if (videos.some((v) => v._id === previous)) select.value = previous;
  } catch (err) { showError(err); }
}

function chosenVideo() {
  const id = $("#analyze-video").value;
  if (!id) throw new Error("Choose a ready video first.");
  return id;
}

async function analyze(form) {
  const videoId = chosenVideo();
  const answer = $("#answer");
  answer.textContent = "";
  answer.setAttribute("aria-busy", "true");
  const controller = new AbortController();
  state.analyzing = controller;
  $("#analyze-stop").hidden = false;
  const data = new FormData(form);
  try {
    await stream("/analyze", { video_id: videoId, prompt: data.get("prompt"), stream: true,
                               max_tokens: Number(data.get("max_tokens")) || 200 }, (event) => {
      if (event.event_type === "text_generation") answer.append(event.text);
      if (event.event_type === "stream_end" && event.error) showError(new ApiError(0, event.error.code, event.error.message));
    }, controller.signal);
  } finally {
    answer.removeAttribute("aria-busy");
    $("#analyze-stop").hidden = true;
    state.analyzing = null;
  }
}

function momentButton(videoId, start, end, title, text) {
  return el("li", {},
    el("button", { type: "button", class: "moment", dataset: { start }, onclick: () => play(videoId, start).catch(showError) },
      `${clock(start)}–${clock(end)}`),
    " ", el("strong", {}, title || ""), text ? el("p", {}, text) : null);
}

async function summarize(kind) {
  const videoId = chosenVideo();
  const out = $("#insights");
  out.replaceChildren(el("p", {}, `Working on the ${kind}…`));
  const result = await post("/summarize", { video_id: videoId, type: kind });
  if (kind === "summary") out.replaceChildren(el("h3", {}, "Summary"), el("p", {}, result.summary));
  else if (kind === "chapter") {
    out.replaceChildren(el("h3", {}, "Chapters"), el("ol", {}, result.chapters.map((c) =>
      momentButton(videoId, c.start_sec ?? c.start, c.end_sec ?? c.end, c.chapter_title, c.chapter_summary))));
  } else {
    out.replaceChildren(el("h3", {}, "Highlights"), el("ol", {}, result.highlights.map((h) =>
      momentButton(videoId, h.start_sec ?? h.start, h.end_sec ?? h.end, h.highlight, h.highlight_summary))));
  }
}

async function gist() {
  const videoId = chosenVideo();
  const out = $("#insights");
  out.replaceChildren(el("p", {}, "Working on the gist…"));
  const g = await post("/gist", { video_id: videoId, types: ["title", "topic", "hashtag"] });
  out.replaceChildren(el("h3", {}, g.title || "Gist"),
    el("p", {}, `Topics: ${(g.topics || []).join(", ")}`),
    el("p", {}, (g.hashtags || []).map((h) => `#${h.replace(/^#/, "")}`).join(" ")));
}

// The asset's transcription has a time for every word (GET /assets/{id}/transcription); a video whose
// asset has none (not transcribed yet, or an older index) falls back to the video's timed lines.
async function transcript() {
  const videoId = chosenVideo();
  if (!state.videos.has(videoId)) await loadVideos();
  const assetId = state.videos.get(videoId)?.asset_id;
  const out = $("#insights");
  state.transcript = null;
  if (assetId) {
    let result = null;
    try {
      result = await get(`/assets/${assetId}/transcription`, { include: "words,sentences" });
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;  // 404: no transcription
    }
    if (result?.status === "ready" && result.words?.length) {
      out.replaceChildren(el("h3", {}, "Transcript"),
        el("p", { class: "hint", id: "transcript-help" },
           "Every word plays the video from where it is said. Arrow keys move between words."),
        wordTranscript(videoId, result.sentences || [], result.words));
      return;
    }
  }
  const video = await get(`/indexes/${requireIndex()}/videos/${videoId}`, { transcription: "true" });
  const lines = video.transcription || [];
  out.replaceChildren(el("h3", {}, "Transcript"), lines.length
    ? el("ol", { class: "transcript" }, lines.map((t) => momentButton(videoId, t.start, t.end, "", t.value)))
    : el("p", {}, "No speech was transcribed in this video."),
    lines.length ? el("p", { class: "hint" }, "Word times are not available for this video: each line plays from its start.") : null);
}

function wordTranscript(videoId, sentences, words) {
  const seek = (start) => () => play(videoId, start).catch(showError);
  const lines = sentences.length ? sentences : [{ start: words[0].start, end: words[words.length - 1].end }];
  const list = el("ol", { class: "transcript words", "aria-describedby": "transcript-help" });
  const buttons = [];
  let w = 0;
  lines.forEach((line, i) => {
    // A word belongs to the last line that starts before it does.
    const next = i + 1 < lines.length ? lines[i + 1].start : Infinity;
    const mine = [];
    while (w < words.length && words[w].start < next - 0.005) mine.push(words[w++]);
    if (!mine.length) return;
    const time = el("button", { type: "button", class: "moment", tabindex: "-1", dataset: { start: line.start },
                                onclick: seek(line.start) }, clock(line.start));
    time.setAttribute("aria-label", `Play from ${clock(line.start)}`);
    const spoken = mine.map((word) => el("button", {
      type: "button", class: "word", tabindex: "-1", title: `${clock(word.start)}–${clock(word.end)}`,
      dataset: { start: word.start, end: word.end }, onclick: seek(word.start) }, word.value.trim()));
    buttons.push(time, ...spoken);
    list.append(el("li", {}, time, " ", el("span", { class: "line" }, spoken.flatMap((b) => [b, " "]))));
  });
  if (buttons.length) buttons[0].tabIndex = 0;
  // One tab stop for the whole transcript; arrows, Home and End move the focus (a roving tabindex).
  list.addEventListener("keydown", (event) => {
    const i = buttons.indexOf(event.target);
    const to = { ArrowRight: i + 1, ArrowDown: i + 1, ArrowLeft: i - 1, ArrowUp: i - 1, Home: 0,
                 End: buttons.length - 1 }[event.key];
    if (i < 0 || to === undefined) return;
    event.preventDefault();
    const target = buttons[Math.max(0, Math.min(buttons.length - 1, to))];
    buttons[i].tabIndex = -1;
    target.tabIndex = 0;
    target.focus();
  });
  const spokenWords = buttons.filter((b) => b.classList.contains("word"));
  state.transcript = { videoId, words: spokenWords, starts: spokenWords.map((b) => Number(b.dataset.start)), now: null };
  return list;
}

// While the video plays, the word being said is marked in the transcript.
function markSpokenWord() {
  const t = state.transcript;
  const player = $("#player");
  if (!t || player.dataset.videoId !== t.videoId || !t.words[0]?.isConnected) return;
  const time = player.currentTime;
  let lo = 0, hi = t.starts.length - 1, found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (t.starts[mid] <= time) { found = mid; lo = mid + 1; } else hi = mid - 1;
  }
  const word = found >= 0 && time <= Number(t.words[found].dataset.end) + 0.25 ? t.words[found] : null;
  if (word === t.now) return;
  t.now?.classList.remove("now");
  t.now?.removeAttribute("aria-current");
  word?.classList.add("now");
  word?.setAttribute("aria-current", "true");
  t.now = word;
}

// --- entities ------------------------------------------------------------------------------------

async function loadCollections(selected) {
  const page = await get("/entity-collections", { page_limit: 50, sort_by: "created_at", sort_option: "desc" });
  const select = $("#entity-collection");
  const previous = selected || select.value;
  select.replaceChildren(...page.data.map((c) => el("option", { value: c._id }, c.name)));
  if (page.data.some((c) => c._id === previous)) select.value = previous;
  await loadEntities();
}

function entityItem(entity) {
  const token = `<@${entity._id}>`;
  const find = el("button", { type: "button", disabled: entity.status !== "ready",
                              onclick: () => searchEntity(token) }, `Search for ${entity.name}`);
  return el("li", { class: "card", dataset: { entityId: entity._id } },
    el("strong", {}, entity.name),
    el("span", { class: "status", dataset: { status: entity.status } }, entity.status),
    el("small", {}, `${entity.asset_ids.length} picture${entity.asset_ids.length === 1 ? "" : "s"} · `,
       el("code", {}, token)),
    find);
}

async function loadEntities() {
  const collection = $("#entity-collection").value;
  const list = $("#entity-list");
  if (!collection) {
    list.replaceChildren(el("li", {}, "No collection yet: create one above."));
    return [];
  }
  const page = await get(`/entity-collections/${collection}/entities`, { page_limit: 50 });
  list.replaceChildren(...page.data.map(entityItem));
  if (!page.data.length) list.append(el("li", {}, "No entity in this collection yet."));
  return page.data;
}

async function createCollection(form) {
  const created = await post("/entity-collections", { name: new FormData(form).get("name") });
  form.reset();
  await loadCollections(created._id);
  $("#entity-name").focus();
}

function setPictures(files) {
  state.pictures = files;
  $("#entity-pictures-label").textContent = files.length
    ? `Pictures: ${files.map((f) => f.name || "pasted image").join(", ")}`
    : "Pictures: drop images here, or choose them";
}

async function createEntity(form) {
  const data = new FormData(form);
  const collection = data.get("collection");
  if (!collection) throw new Error("Create a collection first.");
  const pictures = state.pictures;
  if (!pictures.length) throw new Error("Choose at least one picture of the entity.");
  const status = $("#entity-status");
  try {
    // Each picture becomes an asset (as the API wants), then the entity names those assets.
    const assetIds = [];
    for (const [i, file] of pictures.entries()) {
      status.textContent = `Uploading picture ${i + 1} of ${pictures.length}…`;
      const body = new FormData();
      body.append("method", "direct");
      body.append("enable_hls", "false");
      body.append("enable_thumbnail", "false");
      body.append("file", file, file.name || `picture-${i + 1}.png`);
      assetIds.push((await call("POST", "/assets", { form: body }))._id);
    }
    status.textContent = "Creating the entity…";
    let entity = await post(`/entity-collections/${collection}/entities`,
                            { name: String(data.get("name")).trim(), asset_ids: assetIds });
    form.reset();
    $("#entity-collection").value = collection;
    setPictures([]);
    await loadEntities();
    status.textContent = `Learning what ${entity.name} looks like…`;
    for (let waited = 0; entity.status !== "ready" && waited < 300; waited++) {
      await new Promise((r) => setTimeout(r, 1000));
      entity = await get(`/entity-collections/${collection}/entities/${entity._id}`);
    }
    await loadEntities();
    status.textContent = entity.status === "ready"
      ? `${entity.name} is ready: search for it with <@${entity._id}>.`
      : `${entity.name} is still ${entity.status}; its pictures are being processed.`;
  } catch (err) {
    status.textContent = "";
    throw err;
  }
}

function searchEntity(token) {
  selectTab("search");
  const query = $("#query");
  query.value = `${token} `;
  $("#search").requestSubmit();
  query.focus();
}

// --- wiring --------------------------------------------------------------------------------------

function onSubmit(selector, work) {
  $(selector).addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(event.submitter || event.target.querySelector("[type=submit]"), () => work(event.target));
  });
}

function dropTarget(zone, input, accept) {
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    const files = [...(e.dataTransfer?.files || [])];
    if (files.length) accept(files[0], files);
  });
  input.addEventListener("change", () => { if (input.files[0]) accept(input.files[0], [...input.files]); });
}

function start() {
  $("#error-close").addEventListener("click", clearError);
  onSubmit("#signin", async (form) => signIn(form.key.value.trim()));
  $("#signout").addEventListener("click", signOut);
  for (const t of TABS) {
    $(`#tab-${t}`).addEventListener("click", () => selectTab(t));
    $(`#tab-${t}`).addEventListener("keydown", tabKeys);
  }
  $("#index-select").addEventListener("change", (e) => useIndex(e.target.value));
  onSubmit("#create-index", createIndex);

  let chosen = null;
  dropTarget($("#dropzone"), $("#video-file"), (file) => {
    chosen = file;
    $("#dropzone span").textContent = `${file.name} (${(file.size / 1e6).toFixed(1)} MB)`;
  });
  onSubmit("#upload-file", async () => {
    if (!chosen) throw new Error("Choose or drop a video file first.");
    await uploadFile(chosen);
  });
  onSubmit("#upload-url", async (form) => uploadUrl(form.video_url.value.trim()));
  $("#library-refresh").addEventListener("click", () => guarded(null, loadLibrary));

  dropTarget($("#image-drop"), $("#query-image"), setImage);
  $("#image-clear").addEventListener("click", () => { setImage(null); $("#query-image").value = ""; });
  document.addEventListener("paste", (e) => {
    if ($("#panel-search").hidden) return;
    const file = [...(e.clipboardData?.files || [])].find((f) => f.type.startsWith("image/"));
    if (file) { e.preventDefault(); setImage(file); }
  });
  onSubmit("#search", search);

  onSubmit("#analyze", analyze);
  $("#analyze-stop").addEventListener("click", () => state.analyzing?.abort());
  for (const b of document.querySelectorAll("[data-summarize]")) {
    b.addEventListener("click", () => guarded(b, () => summarize(b.dataset.summarize)));
  }
  $("#gist").addEventListener("click", (e) => guarded(e.currentTarget, gist));
  $("#transcript").addEventListener("click", (e) => guarded(e.currentTarget, transcript));
  $("#player").addEventListener("timeupdate", markSpokenWord);

  onSubmit("#create-collection", createCollection);
  $("#entity-collection").addEventListener("change", () => guarded(null, loadEntities));
  dropTarget($("#entity-drop"), $("#entity-pictures"), (_first, files) => {
    const images = files.filter((f) => f.type.startsWith("image/"));
    if (!images.length) showError(new Error("Those files are not images."));
    else setPictures(images);
  });
  onSubmit("#create-entity", createEntity);

  if (session.key) guarded(null, () => signIn(session.key));
}

start();
