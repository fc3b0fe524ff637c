// The playground's only way to the API: every call sends the key from sessionStorage and turns
// the API's {"code","message"} errors into ApiError, so the page can show the API's own words.

const KEY = "framedex.apiKey";
// Relative to the page, so a reverse proxy may mount framedex under a sub-path.
const BASE = new URL("v1.3/", document.baseURI);

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const session = {
  get key() { return sessionStorage.getItem(KEY) || ""; },
  set key(value) {
    if (value) sessionStorage.setItem(KEY, value);
    else sessionStorage.removeItem(KEY);
  },
};

export function url(path, params) {
  const u = new URL(path.replace(/^\//, ""), BASE);
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== "") u.searchParams.set(k, v);
  }
  return u;
}

function headers(extra) {
  const h = { ...extra };
  if (session.key) h["x-api-key"] = session.key;
  return h;
}

async function failure(response) {
  let code = `http_${response.status}`;
  let message = response.statusText || "The request failed.";
  try {
    const body = await response.json();
    if (body && typeof body.message === "string") message = body.message;
    if (body && typeof body.code === "string") code = body.code;
  } catch { /* not JSON: keep the status line */ }
  return new ApiError(response.status, code, message);
}

export async function call(method, path, { params, json, form, signal } = {}) {
  const init = { method, headers: headers(), signal };
  if (json !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (form !== undefined) {
    init.body = form;
  }
  let response;
  try {
    response = await fetch(url(path, params), init);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "network_error", "The server could not be reached.");
  }
  if (!response.ok) throw await failure(response);
  if (response.status === 204) return null;
  return response.json();
}

export const get = (path, params) => call("GET", path, { params });
export const post = (path, json) => call("POST", path, { json });

// NDJSON streaming (POST /analyze with stream: true): `onEvent` gets each parsed line as it arrives.
export async function stream(path, json, onEvent, signal) {
  const response = await fetch(url(path), {
    method: "POST", signal,
    headers: headers({ "content-type": "application/json", accept: "application/x-ndjson" }),
    body: JSON.stringify(json),
  });
  if (!response.ok) throw await failure(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    pending += value;
    let nl;
    while ((nl = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      if (line) onEvent(JSON.parse(line));
    }
  }
  if (pending.trim()) onEvent(JSON.parse(pending));
}

// Multipart upload through XHR, the one browser API that reports upload progress.
export function upload(path, form, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url(path));
    if (session.key) xhr.setRequestHeader("x-api-key", session.key);
    xhr.responseType = "json";
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onload = () => {
      const body = xhr.response;
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(new ApiError(xhr.status, body?.code || `http_${xhr.status}`, body?.message || "The upload failed."));
    };
    xhr.onerror = () => reject(new ApiError(0, "network_error", "The upload was interrupted."));
    xhr.send(form);
  });
}
