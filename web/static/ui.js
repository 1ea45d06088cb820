// Small DOM helpers shared by the pages. Nothing here builds HTML from
// strings: text always goes in as text.

export const $ = (sel, root = document) => root.querySelector(sel);

// meta returns the content of <meta name=...>, which the server renders.
export function meta(name) {
  const m = document.querySelector(`meta[name="${name}"]`);
  return m ? m.content : "";
}

// el makes an element: attrs are set as attributes, except text (the
// text content), class, and on* (event listeners); children are nodes or
// strings.
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") e.textContent = v;
    else if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

// showError puts a message in the page's alert line; "" hides it.
export function showError(msg) {
  const a = $("#alert");
  a.textContent = msg;
  a.hidden = !msg;
}

// announce tells screen readers what just happened.
export function announce(msg) {
  $("#status").textContent = msg;
}

const units = ["bytes", "KB", "MB", "GB", "TB"];

export function formatSize(n) {
  if (n === null || n === undefined || isNaN(n)) return "";
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return (i === 0 ? String(n) : n.toFixed(n < 10 ? 1 : 0)) + " " + units[i];
}

const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function formatDate(d) {
  return d && !isNaN(d) ? dateFmt.format(d) : "";
}

export function formatDuration(s) {
  if (!isFinite(s)) return "";
  s = Math.ceil(s);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

// copyText copies to the clipboard, falling back to a selection copy where
// the Clipboard API is missing (plain HTTP on another host than localhost).
export async function copyText(text, node) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const r = document.createRange();
    r.selectNodeContents(node);
    const sel = getSelection();
    sel.removeAllRanges();
    sel.addRange(r);
    return document.execCommand("copy");
  }
}

// ask shows the page's <dialog id=ask> and resolves to the button pressed
// ("ok", "alt" or "cancel") and the input's value. setup, if given, can
// fill in more of the dialog before it opens.
export function ask({ title, text = "", ok = "OK", alt = "", input = null, setup = null }) {
  const d = $("#ask");
  $("#ask-title").textContent = title;
  $("#ask-text").textContent = text;
  $("#ask-ok").textContent = ok;
  const altB = $("#ask-alt");
  if (altB) { altB.textContent = alt; altB.hidden = !alt; }
  const label = $("#ask-label");
  const field = $("#ask-input");
  if (label) {
    label.hidden = !input;
    field.required = !!input;
    if (input) {
      $("#ask-label-text").textContent = input.label;
      field.value = input.value || "";
    }
  }
  const picker = $("#ask-picker");
  if (picker) picker.hidden = true;
  if (setup) setup(d);
  d.returnValue = "cancel";
  return new Promise((resolve) => {
    d.addEventListener("close", () => resolve({ action: d.returnValue || "cancel", value: field ? field.value : "" }), { once: true });
    d.showModal();
    if (input) {
      field.focus();
      const dot = field.value.lastIndexOf(".");
      field.setSelectionRange(0, input.selectStem && dot > 0 ? dot : field.value.length);
    }
  });
}
