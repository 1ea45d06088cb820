// What the user gives to upload: files from a picker (a folder picker names
// each file's relative path) or dropped files and folders, walked through
// the entries API. Each comes out as {file, rel}: rel is the path under the
// folder the upload goes to; dirs lists folders to create, empty ones too.

// fromInput reads an <input type=file>, with or without webkitdirectory.
export function fromInput(input) {
  const files = [...input.files].map((file) => ({ file, rel: file.webkitRelativePath || file.name }));
  return { files, dirs: [] };
}

// fromDrop reads a drop event. The entries must be taken before the first
// await: the DataTransfer is emptied when the event handler returns.
export async function fromDrop(dt) {
  const entries = [...dt.items].map((i) => (i.webkitGetAsEntry ? i.webkitGetAsEntry() : null));
  if (entries.some((e) => !e)) {
    return { files: [...dt.files].map((file) => ({ file, rel: file.name })), dirs: [] };
  }
  const out = { files: [], dirs: [] };
  for (const e of entries) await walk(e, out);
  return out;
}

async function walk(entry, out) {
  const rel = entry.fullPath.replace(/^\/+/, "");
  if (entry.isFile) {
    out.files.push({ file: await new Promise((ok, fail) => entry.file(ok, fail)), rel });
    return;
  }
  out.dirs.push(rel);
  const reader = entry.createReader();
  for (;;) {
    // readEntries answers in batches (100 in Chromium) until an empty one.
    const batch = await new Promise((ok, fail) => reader.readEntries(ok, fail));
    if (!batch.length) break;
    for (const e of batch) await walk(e, out);
  }
}
