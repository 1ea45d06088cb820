// Previews in a dialog: images, audio and video straight from /dav; PDF
// and text fetched and shown from a blob: copy or as text; small text
// files can be edited and saved back, refused if the file changed since
// it was opened (If-Match).

import { $, el, announce } from "./ui.js";
import { davURL, request, getText, putText } from "./dav.js";
import { explain } from "./errors.js";
import { kindOf, maxEdit } from "./kinds.js";

let blobURL = "";
let editing = null; // {url, etag, area} while a text is open

export function openPreview(ctx, item) {
  const d = $("#preview");
  const url = davURL(ctx.here.share, [...ctx.here.segs, item.name]);
  $("#preview-title").textContent = item.name;
  const dl = $("#preview-download");
  dl.href = url;
  dl.download = item.name;
  $("#preview-edit").hidden = true;
  $("#preview-save").hidden = true;
  if (!d.dataset.wired) wire(ctx, d);
  reset(ctx);
  const body = $("#preview-body");
  body.replaceChildren(el("p", { class: "meta", text: "Loading…" }));
  d.showModal();
  show(kindOf(item), item, url, body);
}

function wire(ctx, d) {
  d.dataset.wired = "1";
  $("#preview-close").addEventListener("click", () => d.close());
  // The close event comes a task after close(): a preview opened since
  // keeps its body.
  d.addEventListener("close", () => { if (!d.open) reset(ctx); });
  $("#preview-edit").addEventListener("click", () => edit());
  $("#preview-save").addEventListener("click", () => save());
}

// reset ends the preview shown before: media stopped, blob freed, the
// listing reloaded after a save.
function reset(ctx) {
  $("#preview-body").replaceChildren();
  if (blobURL) URL.revokeObjectURL(blobURL);
  blobURL = "";
  if (editing && editing.saved) ctx.reload();
  editing = null;
}

async function show(kind, item, url, body) {
  const name = item.name;
  try {
    switch (kind) {
      case "image":
        return body.replaceChildren(el("img", { src: url, alt: name }));
      case "video":
        return body.replaceChildren(el("video", { src: url, controls: true, preload: "metadata", "aria-label": name }));
      case "audio":
        return body.replaceChildren(el("audio", { src: url, controls: true, preload: "metadata", "aria-label": name }));
      case "pdf":
        return body.replaceChildren(await pdf(url, name));
      case "text":
        return await text(item, url, body);
      default:
        body.replaceChildren(el("p", { class: "empty", text: "No preview for this kind of file. Download it to open it." }));
    }
  } catch (err) {
    body.replaceChildren(el("p", { class: "empty", text: explain(err, `Could not open "${name}"`) }));
  }
}

// pdf shows the file from a blob: copy: the /dav original is served in a
// CSP sandbox, in which the browser's PDF viewer does not run.
async function pdf(url, name) {
  const resp = await request("GET", url);
  blobURL = URL.createObjectURL(new Blob([await resp.blob()], { type: "application/pdf" }));
  return el("iframe", { src: blobURL, title: name, class: "pdf" });
}

async function text(item, url, body) {
  if (item.size > 4 * maxEdit) {
    body.replaceChildren(el("p", { class: "empty", text: "This file is too large to show here. Download it to open it." }));
    return;
  }
  const { text, etag } = await getText(url);
  editing = { url, etag, text, area: null };
  body.replaceChildren(el("pre", { class: "text", tabindex: "0", text }));
  $("#preview-edit").hidden = item.size > maxEdit;
}

function edit() {
  const area = el("textarea", { class: "text", "aria-label": "File contents", spellcheck: "false" });
  area.value = editing.text;
  editing.area = area;
  $("#preview-body").replaceChildren(area);
  $("#preview-edit").hidden = true;
  $("#preview-save").hidden = false;
  area.focus();
}

async function save() {
  const e = editing;
  try {
    e.etag = await putText(e.url, e.area.value, e.etag);
    e.text = e.area.value;
    e.saved = true;
    announce("Saved.");
    $("#preview-save").textContent = "Saved";
    setTimeout(() => { $("#preview-save").textContent = "Save"; }, 1500);
  } catch (err) {
    const msg = err.status === 412
      ? "Not saved: the file changed since you opened it. Copy your text, close and open the file again."
      : explain(err, "Not saved");
    $("#preview-body").prepend(el("p", { class: "alert", role: "alert", text: msg }));
  }
}
