// The destination picker of Move or copy: a share and a folder in it,
// browsed in the dialog by PROPFIND.

import { $, el, ask } from "./ui.js";
import { davURL, list } from "./dav.js";
import { explain } from "./errors.js";

// pickFolder resolves to {share, segs, copy} or null if cancelled.
export async function pickFolder(ctx, title) {
  const at = { share: ctx.here.share, segs: [...ctx.here.segs] };
  const select = $("#pick-share");
  const shares = [...document.querySelectorAll("#shares a[data-share]")].map((a) => a.dataset.share);
  select.replaceChildren(...shares.map((s) => el("option", { value: s, text: s })));
  select.value = at.share;
  select.onchange = () => { at.share = select.value; at.segs = []; show(at); };
  const { action } = await ask({ title, ok: "Move here", alt: "Copy here", setup: () => {
    $("#ask-picker").hidden = false;
    show(at);
  } });
  if (action === "cancel") return null;
  return { ...at, copy: action === "alt" };
}

async function show(at) {
  const crumbs = [el("button", { type: "button", class: "link", text: at.share, onclick: () => { at.segs = []; show(at); } })];
  at.segs.forEach((s, i) => {
    crumbs.push(el("span", { class: "sep", "aria-hidden": "true", text: "/" }),
      el("button", { type: "button", class: "link", text: s, onclick: () => { at.segs = at.segs.slice(0, i + 1); show(at); } }));
  });
  $("#pick-crumbs").replaceChildren(...crumbs);
  const ul = $("#pick-list");
  ul.replaceChildren(el("li", { class: "meta", text: "Loading…" }));
  const want = [at.share, ...at.segs].join("/");
  let folders;
  try {
    folders = (await list(davURL(at.share, at.segs, true))).filter((i) => i.dir);
  } catch (err) {
    ul.replaceChildren(el("li", { class: "meta", text: explain(err, "Could not list this folder") }));
    return;
  }
  if (want !== [at.share, ...at.segs].join("/")) return; // moved on meanwhile
  folders.sort((a, b) => a.name.localeCompare(b.name));
  ul.replaceChildren(...(folders.length ? folders.map((f) => el("li", {},
    el("button", { type: "button", class: "link", text: f.name, "aria-label": `Open folder ${f.name}`,
      onclick: () => { at.segs = [...at.segs, f.name]; show(at); } })))
    : [el("li", { class: "meta", text: "No folders in here." })]));
}
