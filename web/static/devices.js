// The Devices page: the user's sessions (browsers and device tokens),
// revoking one or all, and creating a device token, shown once with the
// instructions for each kind of client filled in.

import { $, el, meta, ask, showError, announce, formatDate, copyText } from "./ui.js";
import { request } from "./dav.js";
import { explain } from "./errors.js";
import { renderHowto } from "./howto.js";

const api = "/api/v1";

async function json(method, url, body) {
  const opts = body === undefined ? {} : { headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const resp = await request(method, url, opts);
  return resp.status === 204 ? null : resp.json();
}

export function startDevices() {
  $("#new-device").addEventListener("submit", (e) => { e.preventDefault(); create(); });
  $("#revoke-all").addEventListener("click", revokeAll);
  $("#copy-token").addEventListener("click", async () => {
    const ok = await copyText($("#token").textContent, $("#token"));
    $("#copied").textContent = ok ? "Copied." : "Select the token and copy it.";
  });
  load();
}

async function load() {
  let list;
  try {
    list = await json("GET", `${api}/sessions`);
  } catch (err) {
    return showError(explain(err, "Could not list your sessions"));
  }
  list.sort((a, b) => (b.current - a.current) || new Date(b.last_used_at) - new Date(a.last_used_at));
  $("#session-rows").replaceChildren(...list.map(row));
}

function row(s) {
  const name = s.label || (s.kind === "browser" ? "Browser" : "Unnamed device");
  const when = (t) => { const d = new Date(t); return el("time", { datetime: d.toISOString(), text: formatDate(d) }); };
  const revoke = el("button", { type: "button", class: "danger", text: s.current ? "Log out" : "Revoke",
    "aria-label": `${s.current ? "Log out of" : "Revoke"} ${name}`, onclick: () => revokeOne(s, name) });
  return el("tr", { "data-id": s.id },
    el("td", {}, name, s.current ? el("span", { class: "badge", text: "this browser" }) : null),
    el("td", { "data-label": "Kind", text: s.kind === "browser" ? "Browser" : "Device token" }),
    el("td", { "data-label": "Created" }, when(s.created_at)),
    el("td", { "data-label": "Last used" }, when(s.last_used_at)),
    el("td", { "data-label": "From", text: s.last_used_from || "unknown" }),
    el("td", {}, revoke));
}

async function revokeOne(s, name) {
  const { action } = await ask({ title: `Revoke "${name}"?`, ok: "Revoke",
    text: s.current ? "This logs this browser out." : "The device can no longer reach your files until you give it a new token." });
  if (action !== "ok") return;
  try {
    await json("DELETE", `${api}/sessions/${encodeURIComponent(s.id)}`);
  } catch (err) {
    return showError(explain(err, `Could not revoke "${name}"`));
  }
  if (s.current) return location.assign("/login");
  announce(`"${name}" revoked.`);
  load();
}

async function revokeAll() {
  const { action } = await ask({ title: "Log out everywhere?", ok: "Log out everywhere",
    text: "Every browser and every device token of yours stops working, this browser too." });
  if (action !== "ok") return;
  try {
    await json("DELETE", `${api}/sessions`);
  } catch (err) {
    return showError(explain(err, "Could not log out everywhere"));
  }
  location.assign("/login");
}

async function create() {
  const label = $("#device-label").value.trim();
  if (!label) return;
  let dev;
  try {
    dev = await json("POST", `${api}/devices`, { label });
  } catch (err) {
    return showError(explain(err, "Could not create a token"));
  }
  showError("");
  $("#device-label").value = "";
  $("#token-label").textContent = dev.label || label;
  $("#token").textContent = dev.token;
  $("#copied").textContent = "";
  $("#token-box").hidden = false;
  const shares = [...document.querySelectorAll("#share-data")].flatMap((t) =>
    [...t.content.querySelectorAll("a")].map((a) => ({ name: a.dataset.share, path: a.getAttribute("href") })));
  renderHowto($("#howto"), { origin: location.origin, user: meta("user"), token: dev.token, label: dev.label || label, shares });
  $("#token").focus();
  announce("Token created. Copy it now: it is shown only once.");
  load();
}
