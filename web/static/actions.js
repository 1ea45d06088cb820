// The file manager's operations on the open folder and its selection:
// new folder, rename, move or copy, delete, download. Each is one WebDAV
// request per item; what fails is said in plain words, the rest goes on.

import { el, ask, showError, announce } from "./ui.js";
import { davURL, davPrefix, mkcol, remove, transfer } from "./dav.js";
import { explain } from "./errors.js";
import { pickFolder } from "./picker.js";

// badName says why a name typed by the user cannot be one, or "".
function badName(name) {
  if (!name.trim()) return "A name cannot be empty.";
  if (/[/\\]/.test(name)) return "A name cannot contain / or \\.";
  if (name === "." || name === "..") return "That name is not allowed.";
  return "";
}

const quoted = (items) => (items.length === 1 ? `"${items[0].name}"` : `${items.length} items`);

// urlOf is the /dav URL of an item of the open folder.
const urlOf = ({ here }, item) => davURL(here.share, [...here.segs, item.name], item.dir);

export async function newFolder(ctx) {
  const { action, value } = await ask({ title: "New folder", ok: "Create", input: { label: "Name" } });
  if (action !== "ok") return;
  const name = value.trim();
  if (badName(name)) return showError(badName(name));
  try {
    await mkcol(davURL(ctx.here.share, [...ctx.here.segs, name], true));
    announce(`Folder "${name}" created.`);
  } catch (err) {
    showError(explain(err, `Could not create the folder "${name}"`));
  }
  await ctx.reload();
}

export async function renameSelected(ctx) {
  const [item] = ctx.listing.selection();
  if (!item) return;
  const { action, value } = await ask({ title: `Rename "${item.name}"`, ok: "Rename",
    input: { label: "New name", value: item.name, selectStem: !item.dir } });
  const name = value.trim();
  if (action !== "ok" || name === item.name) return;
  if (badName(name)) return showError(badName(name));
  try {
    await transfer("MOVE", urlOf(ctx, item), davURL(ctx.here.share, [...ctx.here.segs, name], item.dir));
    announce(`Renamed to "${name}".`);
  } catch (err) {
    showError(explain(err, `Could not rename "${item.name}"`));
  }
  await ctx.reload();
}

// moveSelected moves or copies the selection into a folder the user picks,
// on this share or another.
export async function moveSelected(ctx) {
  const items = ctx.listing.selection();
  if (!items.length) return;
  const dest = await pickFolder(ctx, `Move or copy ${quoted(items)}`);
  if (!dest) return;
  const method = dest.copy ? "COPY" : "MOVE";
  const failed = [];
  for (const item of items) {
    try {
      await transfer(method, urlOf(ctx, item), davURL(dest.share, [...dest.segs, item.name], item.dir));
    } catch (err) {
      failed.push(explain(err, `Could not ${dest.copy ? "copy" : "move"} "${item.name}"`));
    }
  }
  showError(failed.join(" "));
  const where = [dest.share, ...dest.segs].join("/");
  announce(`${items.length - failed.length} of ${items.length} ${dest.copy ? "copied" : "moved"} to ${where}.`);
  await ctx.reload();
}

export async function removeSelected(ctx) {
  const items = ctx.listing.selection();
  if (!items.length) return;
  const folders = items.some((i) => i.dir) ? " Folders are deleted with everything in them." : "";
  const { action } = await ask({ title: `Delete ${quoted(items)}?`, ok: "Delete",
    text: `This cannot be undone.${folders}` });
  if (action !== "ok") return;
  const failed = [];
  for (const item of items) {
    try {
      await remove(urlOf(ctx, item));
    } catch (err) {
      failed.push(explain(err, `Could not delete "${item.name}"`));
    }
  }
  showError(failed.join(" "));
  announce(`${items.length - failed.length} of ${items.length} deleted.`);
  await ctx.reload();
}

// zipURL is the server's zip of some items of a folder, built while it
// streams (GET /api/v1/zip?dir=/dav/share/path/&name=a&name=b).
export function zipURL(share, segs, names) {
  const q = new URLSearchParams({ dir: [davPrefix, share, ...segs].join("/") + "/" });
  for (const n of names) q.append("name", n);
  return `/api/v1/zip?${q}`;
}

// downloadSelected saves one file under its own name; several items or a
// folder come as one zip.
export function downloadSelected(ctx) {
  const items = ctx.listing.selection();
  if (!items.length) return;
  const one = items.length === 1 && !items[0].dir;
  const href = one ? urlOf(ctx, items[0]) : zipURL(ctx.here.share, ctx.here.segs, items.map((i) => i.name));
  const a = el("a", { href, download: one ? items[0].name : true });
  document.body.append(a);
  a.click();
  a.remove();
}
