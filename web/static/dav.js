// The WebDAV client the file manager uses: every file operation goes to
// davgate's own /dav, the same code path as every other WebDAV client.
// Unsafe requests carry the page's CSRF token.

import { meta } from "./ui.js";

export const davPrefix = meta("dav-prefix") || "/dav";

// HttpError is a request that failed: status 0 means no answer at all.
export class HttpError extends Error {
  constructor(status, method, url) {
    super(`${method} ${url}: ${status}`);
    this.status = status;
  }
}

const safeMethods = new Set(["GET", "HEAD", "OPTIONS", "PROPFIND"]);

// headersFor adds the CSRF token to an unsafe request's headers.
export function headersFor(method, headers = {}) {
  const h = { ...headers };
  if (!safeMethods.has(method)) h["X-CSRF-Token"] = meta("csrf-token");
  return h;
}

// davURL is the /dav URL of a path: share name and path segments, each
// percent-encoded; dir adds the trailing slash of a collection.
export function davURL(share, segs = [], dir = false) {
  const p = [share, ...segs].map(encodeURIComponent).join("/");
  return `${davPrefix}/${p}${dir ? "/" : ""}`;
}

// request sends one request and throws an HttpError unless it succeeded;
// a 207 answer to DELETE, COPY or MOVE names the members that failed, and
// the first failure is thrown.
export async function request(method, url, { headers = {}, body = null } = {}) {
  let resp;
  try {
    resp = await fetch(url, { method, headers: headersFor(method, headers), body, credentials: "same-origin", cache: "no-store" });
  } catch {
    throw new HttpError(0, method, url);
  }
  if (!resp.ok) throw new HttpError(resp.status, method, url);
  if (resp.status === 207 && method !== "PROPFIND" && method !== "PROPPATCH") {
    const failed = firstFailure(await resp.text());
    if (failed) throw new HttpError(failed, method, url);
  }
  return resp;
}

function firstFailure(xml) {
  const doc = new DOMParser().parseFromString(xml, "application/xml");
  for (const s of doc.getElementsByTagNameNS("DAV:", "status")) {
    const code = Number((s.textContent.match(/\s(\d{3})\s?/) || [])[1]);
    if (code && (code < 200 || code > 299)) return code;
  }
  return 0;
}

const propfindBody = `<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:getcontentlength/><D:getlastmodified/><D:getcontenttype/><D:getetag/></D:prop></D:propfind>`;

// list returns the members of the collection at url (its own entry left
// out): name, dir, size, modified, type and etag.
export async function list(url) {
  const resp = await request("PROPFIND", url, {
    headers: { Depth: "1", "Content-Type": "application/xml; charset=utf-8" },
    body: propfindBody,
  });
  const doc = new DOMParser().parseFromString(await resp.text(), "application/xml");
  const self = samePath(new URL(url, location.href).pathname);
  const out = [];
  for (const r of doc.getElementsByTagNameNS("DAV:", "response")) {
    const item = readResponse(r);
    if (item && samePath(item.path) !== self) out.push(item);
  }
  return out;
}

// samePath is a path in one spelling: decoded, without a trailing slash.
function samePath(p) {
  return decodeURIComponent(p).replace(/\/+$/, "");
}

function readResponse(r) {
  const text = (name) => {
    const e = r.getElementsByTagNameNS("DAV:", name)[0];
    return e ? e.textContent : "";
  };
  const href = text("href");
  if (!href) return null;
  const path = new URL(href, location.href).pathname;
  const dir = r.getElementsByTagNameNS("DAV:", "collection").length > 0;
  const segs = path.split("/").filter(Boolean);
  const name = decodeURIComponent(segs[segs.length - 1] || "");
  const len = text("getcontentlength");
  const mod = text("getlastmodified");
  return {
    name, dir, path,
    size: dir || len === "" ? null : Number(len),
    modified: mod ? new Date(mod) : null,
    type: text("getcontenttype").split(";")[0].trim(),
    etag: text("getetag"),
  };
}

export const mkcol = (url) => request("MKCOL", url);
export const remove = (url) => request("DELETE", url);

// transfer is MOVE or COPY of from to to (both /dav URLs, also on another
// share); it never replaces what is there unless overwrite.
export function transfer(method, from, to, overwrite = false) {
  return request(method, from, {
    headers: { Destination: new URL(to, location.href).href, Overwrite: overwrite ? "T" : "F" },
  });
}

// getText returns a file's text and the ETag it had.
export async function getText(url) {
  const resp = await request("GET", url);
  return { text: await resp.text(), etag: resp.headers.get("ETag") || "" };
}

// putText stores text at url if the file still has etag (412 if it
// changed meanwhile), and returns the new ETag.
export async function putText(url, text, etag) {
  const headers = { "Content-Type": "text/plain; charset=utf-8" };
  if (etag) headers["If-Match"] = etag;
  const resp = await request("PUT", url, { headers, body: text });
  return resp.headers.get("ETag") || "";
}

// send is one request by XMLHttpRequest, for uploads: onProgress hears the
// bytes sent so far, and abort.abort (set here) cancels it. It resolves to
// the response's status and headers; no answer at all is status 0.
export function send(method, url, { headers = {}, body = null, onProgress = null, abort = {} } = {}) {
  return new Promise((resolve) => {
    const x = new XMLHttpRequest();
    x.open(method, url);
    for (const [k, v] of Object.entries(headersFor(method, headers))) x.setRequestHeader(k, v);
    if (onProgress) x.upload.onprogress = (e) => onProgress(e.loaded);
    const done = (status) => () => resolve({ status, header: (h) => x.getResponseHeader(h), aborted: status === -1 });
    x.onload = () => done(x.status)();
    x.onerror = done(0);
    x.ontimeout = done(0);
    x.onabort = done(-1);
    abort.abort = () => x.abort();
    x.send(body);
  });
}
