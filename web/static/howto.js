// How to connect each kind of client, filled in for this server, this user
// and the token just created: one <details> per platform.

import { el, copyText } from "./ui.js";

// shq quotes a word for a POSIX shell.
const shq = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;

function code(text) {
  const c = el("code", { text });
  const b = el("button", { type: "button", class: "copy", text: "Copy", "aria-label": "Copy these lines" });
  b.addEventListener("click", async () => { b.textContent = (await copyText(text, c)) ? "Copied" : "Select and copy"; });
  return el("div", { class: "code" }, el("pre", {}, c), b);
}

const p = (...parts) => el("p", {}, ...parts);
const ol = (...items) => el("ol", {}, ...items.map((i) => el("li", {}, ...[].concat(i))));
const b = (text) => el("b", { text });

// platforms lists each platform's title and its steps for v (see fill).
const platforms = [
  ["macOS Finder", (v) => [
    ol(["In Finder choose ", b("Go › Connect to Server…"), " (⌘K)."],
      ["Server address: ", b(v.share)],
      ["Choose ", b("Registered User"), ". Name: ", b(v.user), ", password: the token. Tick “Remember this password in my keychain”."]),
    v.secure ? null : p("This server is reached over plain HTTP, so the token crosses the network unencrypted; ask for its https:// address."),
  ]],
  ["Windows File Explorer", (v) => [
    ol(["Right-click ", b("This PC"), " and choose ", b("Map network drive…"), "."],
      ["Folder: ", b(v.share), ", tick ", b("Connect using different credentials"), "."],
      ["User name: ", b(v.user), ", password: the token; tick “Remember my credentials”."]),
    p("Or in a Command Prompt (it asks for the password: paste the token):"),
    code(`net use * "${v.share}" * /user:${v.user} /persistent:yes`),
    p("Explorer also takes the form ", b(v.unc), "."),
    p(b("HTTPS: "), v.secure
      ? "Windows sends a password only over HTTPS, which this server uses: nothing to change."
      : "Windows sends a password only over HTTPS, and this address is plain HTTP: Explorer will keep asking. Use the server's https:// address. Only on a network you trust, an administrator can allow it over HTTP (BasicAuthLevel 2), then restart the WebClient service:"),
    v.secure ? null : code(String.raw`reg add HKLM\SYSTEM\CurrentControlSet\Services\WebClient\Parameters /v BasicAuthLevel /t REG_DWORD /d 2 /f`),
    p(b("Files over 50 MB: "), "Windows refuses them by default (“The file size exceeds the limit allowed”). To lift the limit to 4 GB, the most it allows, run in a Command Prompt opened as administrator:"),
    code(String.raw`reg add HKLM\SYSTEM\CurrentControlSet\Services\WebClient\Parameters /v FileSizeLimitInBytes /t REG_DWORD /d 4294967295 /f
net stop webclient
net start webclient`),
  ]],
  ["iPhone and iPad", (v) => [
    p("The Files app does not speak WebDAV; use a WebDAV app such as Documents by Readdle, FE File Explorer or Owlfiles, and add a WebDAV server:"),
    fields(v),
  ]],
  ["Android", (v) => [
    p("Use a file manager that speaks WebDAV, such as Material Files, Solid Explorer or CX File Explorer, and add a WebDAV server:"),
    fields(v),
  ]],
  ["Linux: GNOME Files and KDE Dolphin", (v) => [
    p("GNOME Files: ", b("Other Locations"), ", then under “Connect to Server” enter:"),
    code(v.gnome),
    p("KDE Dolphin: type into the address bar:"),
    code(v.kde),
    p("Log on with user ", b(v.user), " and the token as password."),
  ]],
  ["Linux: davfs2 (mount as a folder)", (v) => [
    code(`sudo apt install davfs2
echo ${shq(`${v.share} ${v.user} ${v.token}`)} | sudo tee -a /etc/davfs2/secrets >/dev/null
sudo chmod 600 /etc/davfs2/secrets
sudo mkdir -p /mnt/${v.shareName}
sudo mount -t davfs ${shq(v.share)} /mnt/${v.shareName} -o uid=$(id -u),gid=$(id -g)`),
    p("/etc/davfs2/secrets holds one line per server: address, user name, token."),
  ]],
  ["rclone", (v) => [
    code(`rclone config create davgate webdav url=${shq(v.root)} vendor=other user=${shq(v.user)} pass=${shq(v.token)} --obscure
rclone lsd davgate:
rclone copy ~/Documents davgate:${v.shareName}/Documents`),
    p("Or in rclone.conf, with the token obscured by ", el("code", { text: "rclone obscure TOKEN" }), ":"),
    code(`[davgate]
type = webdav
url = ${v.root}
vendor = other
user = ${v.user}
pass = OUTPUT-OF-RCLONE-OBSCURE`),
    p("rclone's obscuring only hides the token from a glance; keep rclone.conf private (or encrypt it with rclone config)."),
  ]],
  ["curl and scripts", (v) => [
    code(`curl -u ${shq(`${v.user}:${v.token}`)} -T report.pdf ${shq(v.share + "report.pdf")}
curl -u ${shq(`${v.user}:${v.token}`)} -o report.pdf ${shq(v.share + "report.pdf")}
curl -H ${shq(`Authorization: Bearer ${v.token}`)} -X PROPFIND -H 'Depth: 1' ${shq(v.share)}`),
  ]],
];

function fields(v) {
  return el("dl", { class: "fields" },
    el("dt", { text: "Address (URL)" }), el("dd", {}, b(v.share)),
    el("dt", { text: "Or: host, port, path" }), el("dd", { text: `${v.host}, ${v.port}, ${v.path}${v.secure ? ", HTTPS (SSL) on" : ", HTTPS off"}` }),
    el("dt", { text: "User name" }), el("dd", {}, b(v.user)),
    el("dt", { text: "Password" }), el("dd", { text: "the token" }));
}

// fill computes the addresses each platform names for one share.
function fill(o, share) {
  const u = new URL(o.origin);
  const secure = u.protocol === "https:";
  const port = u.port || (secure ? "443" : "80");
  const path = share ? share.path : "/dav/";
  const unc = `\\\\${u.hostname}${secure ? "@SSL" : ""}${u.port ? "@" + u.port : ""}${path.replace(/\//g, "\\")}`;
  return {
    ...o, secure, port, path, unc, host: u.hostname,
    share: o.origin + path, shareName: share ? share.name : "files", root: o.origin + "/dav/",
    gnome: `${secure ? "davs" : "dav"}://${u.host}${path}`,
    kde: `${secure ? "webdavs" : "webdav"}://${u.host}${path}`,
  };
}

// renderHowto fills box for o: {origin, user, token, label, shares}.
export function renderHowto(box, o) {
  const select = el("select", { id: "howto-share" }, ...o.shares.map((s, i) => el("option", { value: String(i), text: s.name })));
  const list = el("div", { class: "platforms" });
  const draw = () => {
    const v = fill(o, o.shares[Number(select.value)]);
    list.replaceChildren(...platforms.map(([title, steps]) =>
      el("details", {}, el("summary", { text: title }), ...steps(v).filter(Boolean))));
  };
  select.addEventListener("change", draw);
  box.replaceChildren(el("h3", { text: `Connect ${o.label}` }),
    o.shares.length > 1 ? el("label", {}, "Share ", select) : "",
    p("The address ", b(o.origin + "/dav/"), " shows all your shares at once."),
    list);
  draw();
}
