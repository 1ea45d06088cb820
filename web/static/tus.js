// Resumable uploads by tus 1.0 against /api/v1/uploads: POST creates an
// upload for a /dav target, PATCH sends chunks, and after a drop HEAD says
// how much the server holds, so the upload goes on from there instead of
// starting again. The upload's URL is kept in localStorage, keyed by the
// target, size and date of the file, so that it resumes after a reload too.

import { send, HttpError } from "./dav.js";

export const endpoint = "/api/v1/uploads";
// chunkSize: each PATCH streams this much of the file (a cut-off PATCH
// keeps what arrived, so a drop costs nothing more with bigger chunks;
// fewer requests cost less; see BenchmarkBrowserUpload).
export const chunkSize = 32 << 20;
// minSize: smaller files go by one plain PUT.
export const minSize = 8 << 20;
const maxRetries = 20;
const tusHeaders = { "Tus-Resumable": "1.0.0" };

// NoTus means the server offers no tus endpoint: send by PUT instead.
export class NoTus extends Error {}

// Cancelled is thrown when the task was cancelled.
export class Cancelled extends Error {}

function b64(s) {
  let bin = "";
  for (const b of new TextEncoder().encode(s)) bin += String.fromCharCode(b);
  return btoa(bin);
}

const keyOf = (target, file) => `davgate.tus ${target} ${file.size} ${file.lastModified}`;

// retryable: a drop, an offset that moved on (409), the upload held by
// another request (423: one cut off a moment ago that the server is still
// finishing), or a passing server trouble; anything else is an answer.
const retryable = (s) => s === 0 || s === 409 || s === 423 || s === 500 || s === 502 || s === 503 || s === 504;

// upload sends file to target (the /dav path, not percent-encoded) and
// resolves when the server holds all of it. t is the task: t.cancelled
// stops it, t.abort is set to cancel the request in flight, t.onRetry
// hears retries; onProgress hears the bytes the server holds.
export async function upload(t, file, target, overwrite, onProgress) {
  const key = keyOf(target, file);
  let loc = localStorage.getItem(key);
  let offset = loc ? await resumeOffset(t, loc) : -1;
  if (offset < 0) {
    loc = await create(t, file, target, overwrite);
    localStorage.setItem(key, loc);
    offset = 0;
  }
  t.tusURL = loc;
  t.tusKey = key;
  onProgress(offset);
  for (let failures = 0; offset < file.size;) {
    const base = offset;
    const r = await send("PATCH", loc, {
      headers: { ...tusHeaders, "Upload-Offset": String(base), "Content-Type": "application/offset+octet-stream" },
      body: file.slice(base, Math.min(base + chunkSize, file.size)),
      onProgress: (n) => onProgress(base + n), abort: t,
    });
    if (t.cancelled || r.aborted) throw new Cancelled();
    if (r.status === 204) {
      offset = Number(r.header("Upload-Offset"));
      if (failures && t.onRetry) t.onRetry(0);
      failures = 0;
      onProgress(offset);
      continue;
    }
    if (!retryable(r.status) || ++failures > maxRetries) throw new HttpError(r.status, "PATCH", loc);
    if (t.onRetry) t.onRetry(failures);
    offset = await recover(t, loc, failures);
  }
  localStorage.removeItem(key);
}

// recover waits a while after a failed chunk and asks the server how much
// it holds, until it answers.
async function recover(t, loc, failures) {
  for (;;) {
    await sleep(t, Math.min(1000 * 2 ** (failures - 1), 30000));
    const { offset, status } = await offsetOf(loc, t);
    if (offset >= 0) return offset;
    if (!retryable(status) || ++failures > maxRetries) throw new HttpError(status, "HEAD", loc);
  }
}

// resumeOffset asks how much of an upload from before (a reload) the
// server holds, retrying while it cannot say yet; -1 when the upload is
// gone and must start afresh.
async function resumeOffset(t, loc) {
  const { offset, status } = await offsetOf(loc, t);
  if (offset >= 0 || !retryable(status)) return offset;
  if (t.onRetry) t.onRetry(1);
  try {
    return await recover(t, loc, 1);
  } catch (err) {
    if (err instanceof Cancelled) throw err;
    return -1;
  } finally {
    if (t.onRetry) t.onRetry(0);
  }
}

// create makes the upload on the server. The POST is not aborted by a
// cancel (its temporary file would be left on the share, unknown to the
// page): an upload made after the cancel is ended at once.
async function create(t, file, target, overwrite) {
  const r = await send("POST", endpoint, { headers: { ...tusHeaders,
    "Upload-Length": String(file.size),
    "Upload-Metadata": `target ${b64(target)},overwrite ${b64(overwrite ? "T" : "F")}`,
  } });
  const loc = r.header("Location");
  if (t.cancelled) {
    if (r.status === 201 && loc) send("DELETE", new URL(loc, location.href).href, { headers: tusHeaders });
    throw new Cancelled();
  }
  if (r.status === 404 || r.status === 405 || r.status === 501) throw new NoTus();
  if (r.status !== 201 || !loc) throw new HttpError(r.status, "POST", endpoint);
  return new URL(loc, location.href).href;
}

// offsetOf asks how much of the upload the server holds: offset -1 when it
// does not say (status tells why: 404 or 410 when the upload is gone).
async function offsetOf(loc, t) {
  const r = await send("HEAD", loc, { headers: tusHeaders, abort: t });
  if (t.cancelled || r.aborted) throw new Cancelled();
  const o = r.header("Upload-Offset");
  return r.status === 200 && o !== null ? { offset: Number(o), status: 200 } : { offset: -1, status: r.status };
}

// sleep waits ms, or less when the browser comes back online.
function sleep(t, ms) {
  return new Promise((resolve, reject) => {
    const end = Date.now() + ms;
    const offline = !navigator.onLine;
    const tick = () => {
      if (t.cancelled) reject(new Cancelled());
      else if (Date.now() >= end || (offline && navigator.onLine)) resolve();
      else setTimeout(tick, 200);
    };
    tick();
  });
}

// forget ends a cancelled upload on the server (tus termination) and drops
// its URL, so a later upload of the file starts afresh.
export function forget(t) {
  if (t.tusKey) localStorage.removeItem(t.tusKey);
  if (t.tusURL) send("DELETE", t.tusURL, { headers: tusHeaders });
}
