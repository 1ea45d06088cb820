// What kind a listed item is, for its icon and its preview.

const byExt = {
  image: ["jpg", "jpeg", "png", "gif", "webp", "svg", "avif", "bmp", "ico"],
  video: ["mp4", "webm", "ogv", "mov", "m4v"],
  audio: ["mp3", "ogg", "oga", "opus", "wav", "flac", "m4a", "aac"],
  pdf: ["pdf"],
  text: ["txt", "md", "markdown", "csv", "tsv", "log", "ini", "conf", "cfg", "yaml", "yml", "json", "xml",
    "html", "htm", "css", "js", "mjs", "ts", "go", "py", "rb", "rs", "c", "h", "cpp", "java", "sh", "bat",
    "ps1", "sql", "toml", "tex", "srt", "vtt"],
  archive: ["zip", "tar", "gz", "tgz", "bz2", "xz", "7z", "rar", "zst"],
};

const extKind = new Map();
for (const [kind, exts] of Object.entries(byExt)) for (const e of exts) extKind.set(e, kind);

// kindOf returns folder, image, video, audio, pdf, text, archive or file.
export function kindOf(item) {
  if (item.dir) return "folder";
  const dot = item.name.lastIndexOf(".");
  const byName = dot > 0 ? extKind.get(item.name.slice(dot + 1).toLowerCase()) : undefined;
  if (byName) return byName;
  const t = item.type || "";
  if (t === "application/pdf") return "pdf";
  for (const k of ["image", "video", "audio"]) if (t.startsWith(k + "/")) return k;
  if (t.startsWith("text/") || t === "application/json" || t === "application/xml") return "text";
  return "file";
}

// maxEdit is the largest text file the page offers to edit.
export const maxEdit = 1 << 20;

const svgNS = "http://www.w3.org/2000/svg";

// icon is the kind's icon from the sprite, hidden from screen readers
// (the kind column's text says it).
export function icon(kind) {
  const svg = document.createElementNS(svgNS, "svg");
  svg.setAttribute("class", "icon");
  svg.setAttribute("aria-hidden", "true");
  const use = document.createElementNS(svgNS, "use");
  use.setAttribute("href", `/static/icons.svg#${kind}`);
  svg.append(use);
  return svg;
}
