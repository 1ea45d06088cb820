// Uploads into the open folder: from the pickers or dropped, files and
// folders. Folders are created first (MKCOL), then files go two at a time,
// small ones by one PUT, big ones by tus in chunks that survive a dropped
// connection. Each file and the whole show progress, speed and time left,
// and can be cancelled.

import { $, el, ask, showError, announce, formatSize, formatDuration } from "./ui.js";
import { davURL, davPrefix, mkcol, send, HttpError } from "./dav.js";
import { explain } from "./errors.js";
import { fromInput, fromDrop } from "./drop.js";
import * as tus from "./tus.js";

const parallel = 2;

// Rate measures bytes per second over the last few seconds.
class Rate {
  constructor() { this.samples = []; }
  add(bytes) {
    const now = performance.now();
    this.samples.push([now, bytes]);
    while (this.samples.length > 2 && now - this.samples[0][0] > 5000) this.samples.shift();
  }
  perSecond() {
    const s = this.samples;
    if (s.length < 2) return 0;
    const [t0, b0] = s[0], [t1, b1] = s[s.length - 1];
    return t1 > t0 ? ((b1 - b0) * 1000) / (t1 - t0) : 0;
  }
}

function progressText(sent, size, rate) {
  const left = rate > 0 ? formatDuration((size - sent) / rate) + " left" : "";
  return [`${formatSize(sent)} of ${formatSize(size)}`, rate > 0 ? `${formatSize(rate)}/s` : "", left].filter(Boolean).join(" · ");
}

export class Uploads {
  constructor(ctx) {
    this.ctx = ctx;
    this.tasks = [];
    this.running = 0;
    this.total = new Rate();
    this.timer = 0;
    this.wire();
  }

  wire() {
    const fileIn = $("#file-input"), dirIn = $("#folder-input");
    $("#upload-files").addEventListener("click", () => fileIn.click());
    $("#upload-folder").addEventListener("click", () => dirIn.click());
    for (const input of [fileIn, dirIn]) {
      input.addEventListener("change", () => {
        const got = fromInput(input);
        input.value = "";
        this.add(got);
      });
    }
    $("#up-cancel-all").addEventListener("click", () => this.tasks.forEach((t) => this.cancel(t)));
    $("#up-close").addEventListener("click", () => this.clear());
    const zone = $("#main");
    const on = (e) => {
      if (!this.ctx.here.share || ![...e.dataTransfer.types].includes("Files")) return;
      e.preventDefault();
      zone.classList.add("dropping");
      $("#drop-hint").hidden = false;
    };
    const off = () => { zone.classList.remove("dropping"); $("#drop-hint").hidden = true; };
    zone.addEventListener("dragenter", on);
    zone.addEventListener("dragover", on);
    zone.addEventListener("dragleave", (e) => { if (!zone.contains(e.relatedTarget)) off(); });
    zone.addEventListener("drop", async (e) => {
      if (!this.ctx.here.share) return;
      e.preventDefault();
      off();
      this.add(await fromDrop(e.dataTransfer));
    });
  }

  // add uploads what the user gave into the folder open now.
  async add({ files, dirs }) {
    if (!files.length && !dirs.length) return;
    const base = { share: this.ctx.here.share, segs: [...this.ctx.here.segs] };
    const overwrite = await this.askReplace(files);
    if (overwrite === null) return;
    const failed = await this.makeDirs(base, files, dirs);
    for (const { file, rel } of files) {
      const segs = [...base.segs, ...rel.split("/")];
      if (failed.some((d) => rel.startsWith(d + "/"))) continue;
      this.tasks.push(this.task(base, file, segs, overwrite));
    }
    $("#uploads").hidden = false;
    $("#up-close").hidden = true;
    this.pump();
  }

  // askReplace returns whether files may replace what is there, or null
  // to upload nothing; skipped files are taken out of files.
  async askReplace(files) {
    const here = new Set(this.ctx.listing.items.filter((i) => !i.dir).map((i) => i.name));
    const clash = files.filter((f) => !f.rel.includes("/") && here.has(f.rel));
    if (!clash.length) return false;
    const what = clash.length === 1 ? `"${clash[0].rel}" is` : `${clash.length} of these files are`;
    const { action } = await ask({ title: "Replace files?", text: `${what} already here.`, ok: "Replace", alt: "Skip those" });
    if (action === "cancel") return null;
    if (action === "ok") return true;
    const skip = new Set(clash.map((f) => f.rel));
    files.splice(0, files.length, ...files.filter((f) => !skip.has(f.rel)));
    return false;
  }

  // makeDirs creates the folders the upload needs, parents first; a folder
  // already there is fine. It returns the folders that could not be made.
  async makeDirs(base, files, dirs) {
    const need = new Set(dirs);
    for (const { rel } of files) {
      const parts = rel.split("/").slice(0, -1);
      for (let i = 1; i <= parts.length; i++) need.add(parts.slice(0, i).join("/"));
    }
    const failed = [];
    for (const d of [...need].sort((a, b) => a.split("/").length - b.split("/").length)) {
      if (failed.some((f) => d.startsWith(f + "/"))) continue;
      try {
        await mkcol(davURL(base.share, [...base.segs, ...d.split("/")], true));
      } catch (err) {
        if (err.status === 405) continue;
        failed.push(d);
        showError(explain(err, `Could not create the folder "${d}"`));
      }
    }
    return failed;
  }

  task(base, file, segs, overwrite) {
    const t = { file, base, segs, overwrite, sent: 0, state: "waiting", rate: new Rate(), cancelled: false };
    t.bar = el("progress", { max: String(file.size || 1), value: "0", "aria-label": `Upload of ${segs.join("/")}` });
    t.meta = el("span", { class: "meta", text: "Waiting" });
    t.button = el("button", { type: "button", text: "Cancel", "aria-label": `Cancel upload of ${file.name}`, onclick: () => this.cancel(t) });
    t.li = el("li", {}, el("span", { class: "up-name", text: segs.slice(base.segs.length).join("/") }), t.bar, t.meta, t.button);
    $("#up-list").append(t.li);
    return t;
  }

  pump() {
    if (!this.timer) this.timer = setInterval(() => this.paint(), 300);
    while (this.running < parallel) {
      const t = this.tasks.find((x) => x.state === "waiting");
      if (!t) break;
      this.running++;
      this.run(t).finally(() => { this.running--; this.pump(); });
    }
    if (this.running === 0) this.finished();
  }

  async run(t) {
    t.state = "sending";
    const url = davURL(t.base.share, t.segs);
    const progress = (n) => { t.sent = n; t.rate.add(n); };
    try {
      if (t.file.size >= tus.minSize) {
        try {
          const target = [davPrefix, t.base.share, ...t.segs].join("/");
          t.onRetry = (n) => { t.retrying = n; };
          await tus.upload(t, t.file, target, t.overwrite, progress);
          return this.end(t, "done");
        } catch (err) {
          if (!(err instanceof tus.NoTus)) throw err;
        }
      }
      await this.put(t, url, progress);
      this.end(t, "done");
    } catch (err) {
      if (err instanceof tus.Cancelled || t.cancelled) return this.end(t, "cancelled");
      this.end(t, "failed", explain(err, `Could not upload "${t.file.name}"`));
    }
  }

  async put(t, url, progress) {
    const headers = { "Content-Type": t.file.type || "application/octet-stream" };
    if (!t.overwrite) headers["If-None-Match"] = "*";
    const r = await send("PUT", url, { headers, body: t.file, onProgress: progress, abort: t });
    if (r.aborted) throw new tus.Cancelled();
    if (r.status < 200 || r.status > 299) throw new HttpError(r.status, "PUT", url);
  }

  end(t, state, msg = "") {
    t.state = state;
    if (state === "done") t.sent = t.file.size;
    t.button.hidden = true;
    t.li.className = state;
    t.meta.textContent = { done: "Done", cancelled: "Cancelled", failed: msg }[state];
    t.bar.value = state === "done" ? t.bar.max : t.sent;
  }

  cancel(t) {
    if (t.state !== "waiting" && t.state !== "sending") return;
    t.cancelled = true;
    if (t.abort) t.abort();
    if (t.state === "waiting") this.end(t, "cancelled");
    tus.forget(t);
  }

  paint() {
    let size = 0, sent = 0;
    for (const t of this.tasks) {
      if (t.state === "cancelled") continue;
      size += t.file.size;
      sent += t.sent;
      if (t.state !== "sending") continue;
      t.bar.value = t.sent;
      t.meta.textContent = t.retrying
        ? `Connection lost; retrying (${t.retrying})…` : progressText(t.sent, t.file.size, t.rate.perSecond());
    }
    this.total.add(sent);
    $("#up-total").max = size || 1;
    $("#up-total").value = sent;
    const n = this.tasks.filter((t) => t.state === "done").length;
    $("#up-total-text").textContent = `${n} of ${this.tasks.filter((t) => t.state !== "cancelled").length} files · ` +
      progressText(sent, size, this.total.perSecond());
  }

  finished() {
    clearInterval(this.timer);
    this.timer = 0;
    if (!this.tasks.length) return;
    this.paint();
    $("#up-close").hidden = false;
    const failed = this.tasks.filter((t) => t.state === "failed").length;
    announce(failed ? `Uploads finished; ${failed} failed.` : "Uploads finished.");
    const done = this.tasks.filter((t) => t.state === "done");
    const h = this.ctx.here;
    if (done.some((t) => t.base.share === h.share && t.base.segs.join("/") === h.segs.join("/"))) this.ctx.reload();
  }

  clear() {
    if (this.running) return;
    this.tasks = [];
    this.total = new Rate();
    $("#up-list").replaceChildren();
    $("#uploads").hidden = true;
  }
}
