// The file manager page: which folder is open (from the URL, /files/<share>/
// <path>/), its breadcrumbs, listing and toolbar. The file operations are in
// actions.js, uploads in upload.js, previews in preview.js.

import { $, el, showError, announce } from "./ui.js";
import { davURL, list } from "./dav.js";
import { explain } from "./errors.js";
import { Listing } from "./listing.js";
import * as actions from "./actions.js";
import { Uploads } from "./upload.js";
import { openPreview } from "./preview.js";

const dec = decodeURIComponent;

// filesURL is the page's own URL of a folder.
export function filesURL(share, segs = []) {
  return "/files/" + [share, ...segs].map(encodeURIComponent).join("/") + "/";
}

function route() {
  const parts = location.pathname.split("/").filter(Boolean);
  if (parts[0] !== "files" || parts.length < 2) return { share: null, segs: [] };
  try {
    return { share: dec(parts[1]), segs: parts.slice(2).map(dec) };
  } catch {
    return { share: null, segs: [] };
  }
}

export function startFiles() {
  const here = { share: null, segs: [], loading: 0 };
  const ctx = { here, reload: () => load(ctx) };
  ctx.listing = new Listing({
    tbody: $("#rows"),
    hrefOf: (i) => (i.dir ? filesURL(here.share, [...here.segs, i.name]) : davURL(here.share, [...here.segs, i.name])),
    fileURL: (i) => davURL(here.share, [...here.segs, i.name]),
    onOpen: (i) => (i.dir ? go(ctx, filesURL(here.share, [...here.segs, i.name])) : openPreview(ctx, i)),
    onChange: () => updateToolbar(ctx),
    onKey: (a) => (a === "delete" ? actions.removeSelected(ctx) : actions.renameSelected(ctx)),
  });
  ctx.uploads = new Uploads(ctx);
  wireToolbar(ctx);
  document.addEventListener("click", (e) => {
    const a = e.target.closest("a[href]");
    if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0 || a.hasAttribute("download")) return;
    const href = a.getAttribute("href");
    if (href === "/" || href.startsWith("/files/")) {
      e.preventDefault();
      go(ctx, href);
    }
  });
  addEventListener("popstate", () => load(ctx, true));
  load(ctx);
}

// go opens another folder of the page without reloading the page.
export function go(ctx, href) {
  history.pushState(null, "", href);
  load(ctx, true);
}

// load lists the folder the URL names. moved: the user went there (the
// alert of the folder before is cleared); else it is the same folder again,
// after an operation whose alert stays.
async function load(ctx, moved = false) {
  const r = route();
  const { here, listing } = ctx;
  Object.assign(here, r);
  const n = ++here.loading;
  if (moved) showError("");
  markShare(r.share);
  renderCrumbs(ctx);
  $("#toolbar").hidden = !r.share;
  if (!r.share) {
    $("#listing").hidden = true;
    showEmpty(document.querySelector("#shares li") ? "Choose a share to see its files." : "");
    document.title = "davgate – files";
    return;
  }
  document.title = `davgate – ${[r.share, ...r.segs].join("/")}`;
  let items;
  try {
    items = await list(davURL(r.share, r.segs, true));
  } catch (err) {
    if (n !== here.loading) return;
    listing.set([]);
    $("#listing").hidden = true;
    showEmpty("");
    showError(explain(err, `Could not open "${r.segs.at(-1) || r.share}"`));
    return;
  }
  if (n !== here.loading) return; // another folder was opened meanwhile
  $("#filter").value = "";
  listing.filter = "";
  listing.set(items);
  if (moved) {
    $("#main").focus({ preventScroll: true });
    announce(`${r.segs.at(-1) || r.share}: ${items.length} items`);
  }
}

function markShare(share) {
  for (const a of document.querySelectorAll("#shares a")) {
    if (a.dataset.share === share) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

function renderCrumbs({ here }) {
  const nav = $("#crumbs");
  if (!here.share) {
    nav.replaceChildren();
    return;
  }
  const parts = [el("a", { href: "/", text: "Shares" })];
  const all = [here.share, ...here.segs];
  all.forEach((name, i) => {
    parts.push(el("span", { class: "sep", "aria-hidden": "true", text: "/" }));
    const last = i === all.length - 1;
    parts.push(last
      ? el("span", { "aria-current": "page", text: name })
      : el("a", { href: filesURL(here.share, here.segs.slice(0, i)), text: name }));
  });
  nav.replaceChildren(...parts);
}

function showEmpty(text) {
  const e = $("#empty");
  e.textContent = text;
  e.hidden = !text;
}

// updateToolbar follows the selection, the sort and the empty state.
function updateToolbar({ here, listing }) {
  const sel = listing.selection();
  $("#download").disabled = sel.length === 0;
  $("#rename").disabled = sel.length !== 1;
  $("#move").disabled = sel.length === 0;
  $("#delete").disabled = sel.length === 0;
  const shown = listing.shown();
  const all = $("#select-all");
  all.checked = shown.length > 0 && shown.every((i) => listing.selected.has(i.name));
  all.indeterminate = !all.checked && shown.some((i) => listing.selected.has(i.name));
  for (const b of document.querySelectorAll("button[data-sort]")) {
    const cell = b.closest("th");
    if (b.dataset.sort === listing.sort.key) cell.setAttribute("aria-sort", listing.sort.dir > 0 ? "ascending" : "descending");
    else cell.removeAttribute("aria-sort");
  }
  if (!here.share) return;
  $("#listing").hidden = shown.length === 0;
  if (listing.items.length === 0) showEmpty("This folder is empty. Drop files here, or use Upload files.");
  else if (shown.length === 0) showEmpty(`Nothing here matches “${$("#filter").value}”.`);
  else showEmpty("");
}

function wireToolbar(ctx) {
  const { listing } = ctx;
  $("#filter").addEventListener("input", (e) => listing.setFilter(e.target.value));
  $("#select-all").addEventListener("change", (e) => listing.selectAll(e.target.checked));
  for (const b of document.querySelectorAll("button[data-sort]")) {
    b.addEventListener("click", () => listing.sortBy(b.dataset.sort));
  }
  $("#new-folder").addEventListener("click", () => actions.newFolder(ctx));
  $("#rename").addEventListener("click", () => actions.renameSelected(ctx));
  $("#move").addEventListener("click", () => actions.moveSelected(ctx));
  $("#delete").addEventListener("click", () => actions.removeSelected(ctx));
  $("#download").addEventListener("click", () => actions.downloadSelected(ctx));
}
