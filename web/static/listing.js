// The folder listing: a table of the folder's items, sorted by a column,
// filtered as the user types, with a selection; keyboard: arrows move
// between rows, Space selects, Enter opens, Delete deletes, F2 renames.

import { el, formatSize, formatDate } from "./ui.js";
import { kindOf, icon } from "./kinds.js";

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

const compare = {
  name: (a, b) => collator.compare(a.name, b.name),
  size: (a, b) => (a.size ?? -1) - (b.size ?? -1) || collator.compare(a.name, b.name),
  modified: (a, b) => (a.modified ?? 0) - (b.modified ?? 0) || collator.compare(a.name, b.name),
};

export class Listing {
  // opts: tbody, hrefOf(item) (the link of an item), onOpen(item),
  // onChange() (selection or view changed), onKey(action) ("delete",
  // "rename").
  constructor(opts) {
    this.o = opts;
    this.items = [];
    this.sort = { key: "name", dir: 1 };
    this.filter = "";
    this.selected = new Set();
    opts.tbody.addEventListener("keydown", (e) => this.key(e));
  }

  set(items) {
    this.items = items;
    this.selected.clear();
    this.render();
  }

  // sortBy sorts by key; the same key again reverses.
  sortBy(key) {
    this.sort = { key, dir: this.sort.key === key ? -this.sort.dir : 1 };
    this.render();
  }

  setFilter(text) {
    this.filter = text.trim().toLowerCase();
    this.render();
  }

  // shown is the items as listed now: filtered, folders first, sorted.
  shown() {
    const f = this.filter;
    const list = this.items.filter((i) => !f || i.name.toLowerCase().includes(f));
    const c = compare[this.sort.key];
    return list.sort((a, b) => (b.dir - a.dir) || this.sort.dir * c(a, b));
  }

  selection() {
    return this.items.filter((i) => this.selected.has(i.name));
  }

  selectAll(on) {
    for (const i of this.shown()) on ? this.selected.add(i.name) : this.selected.delete(i.name);
    this.render();
  }

  render() {
    const rows = this.shown().map((i) => this.row(i));
    this.o.tbody.replaceChildren(...rows);
    this.o.onChange();
  }

  row(item) {
    const kind = kindOf(item);
    const sel = this.selected.has(item.name);
    const box = el("input", { type: "checkbox", "aria-label": `Select ${item.name}`, checked: sel, tabindex: "-1" });
    box.addEventListener("change", () => { this.toggle(item, box.checked); });
    const link = el("a", { href: this.o.hrefOf(item), class: "name", "data-kind": kind, text: item.name });
    link.addEventListener("click", (e) => {
      if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
      e.preventDefault();
      this.o.onOpen(item);
    });
    const thumb = kind === "image"
      ? el("img", { class: "thumb", src: this.o.fileURL(item), alt: "", loading: "lazy", decoding: "async" })
      : icon(kind);
    const mod = item.modified ? el("time", { datetime: item.modified.toISOString(), text: formatDate(item.modified) }) : "";
    return el("tr", { "data-name": item.name, class: sel ? "selected" : "", "aria-selected": String(sel) },
      el("td", { class: "c-sel" }, box),
      el("td", { class: "c-icon" }, thumb, el("span", { class: "sr", text: kind })),
      el("td", { class: "c-name" }, link),
      el("td", { class: "c-size", text: item.dir ? "" : formatSize(item.size) }),
      el("td", { class: "c-mod" }, mod));
  }

  toggle(item, on) {
    on ? this.selected.add(item.name) : this.selected.delete(item.name);
    const tr = [...this.o.tbody.rows].find((r) => r.dataset.name === item.name);
    if (tr) {
      tr.classList.toggle("selected", on);
      tr.setAttribute("aria-selected", String(on));
      tr.querySelector("input").checked = on;
    }
    this.o.onChange();
  }

  key(e) {
    const tr = e.target.closest("tr");
    if (!tr || e.target.tagName === "INPUT") return;
    const item = this.items.find((i) => i.name === tr.dataset.name);
    const move = { ArrowDown: tr.nextElementSibling, ArrowUp: tr.previousElementSibling }[e.key];
    if (move !== undefined) {
      e.preventDefault();
      if (move) move.querySelector("a.name").focus();
    } else if (e.key === " ") {
      e.preventDefault();
      this.toggle(item, !this.selected.has(item.name));
    } else if (e.key === "Delete" || e.key === "F2") {
      e.preventDefault();
      if (!this.selected.has(item.name)) this.toggle(item, true);
      this.o.onKey(e.key === "Delete" ? "delete" : "rename");
    }
  }
}
