#!/usr/bin/env bash
# davgate demo: a throwaway Samba file server on loopback with a demo user
# and share, davgate in front of it (memory store, no Redis), a fresh device
# token, and example curl commands. Ctrl-C stops both and removes the state
# and the demo's Unix account. If the demo cannot start, it says why and
# keeps its logs.
#
# Run as root on Debian (it installs samba with apt-get if missing and
# creates a Unix account for the demo user). Environment:
#   DEMO_PORT  davgate's port on 127.0.0.1 (default 8080)
#   SMB_PORT   the demo smbd's port on 127.0.0.1 (default 4450)
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"
DEMO_PORT="${DEMO_PORT:-8080}"
SMB_PORT="${SMB_PORT:-4450}"
DEMO_USER=davdemo
DEMO_PASS="demo-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"

if [ "$(id -u)" -ne 0 ]; then
	echo "run the demo as root (sudo $0): it starts a private smbd and adds a Unix account" >&2
	exit 1
fi
# port_user names what listens on 127.0.0.1:$1, or says nothing does.
port_user() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null || return 1
	local who
	who=$(ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'users:(("[^"]*"' | head -n1 | cut -d'"' -f2)
	echo "${who:-another program}"
}
for spec in "DEMO_PORT:$DEMO_PORT:davgate" "SMB_PORT:$SMB_PORT:the demo's Samba server"; do
	IFS=: read -r var port what <<<"$spec"
	if who=$(port_user "$port"); then
		echo "port $port on 127.0.0.1 is already in use (by $who), so $what cannot listen there." >&2
		echo "Stop that program or choose another port, e.g.: $var=$((port + 1)) $0" >&2
		exit 1
	fi
done
deploy/test/install-deps.sh demo

state=$(mktemp -d /tmp/davgate-demo.XXXXXX)
chmod 755 "$state"
pids=()
# The demo's Unix account is marked with this comment: only such an account
# is removed at the end (also one an interrupted earlier demo left behind).
DEMO_GECOS="davgate demo"
cleanup() {
	local status=$?
	# A second Ctrl-C must not cut the clean-up short.
	trap '' INT TERM
	trap - EXIT
	set +e
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	# smbd's helpers (samba-dcerpcd) outlive it; they carry our config path.
	for d in /proc/[0-9]*; do
		[ "${d#/proc/}" = "$$" ] && continue
		grep -qsF "$state/smb.conf" "$d/cmdline" && kill "${d#/proc/}" 2>/dev/null
	done
	sleep 0.5
	if [ "$(getent passwd "$DEMO_USER" | cut -d: -f5)" = "$DEMO_GECOS" ]; then
		# Another demo running on this machine still logs on with it.
		others=0
		for d in /proc/[0-9]*; do
			cmd=$(tr '\0' ' ' <"$d/cmdline" 2>/dev/null) || continue
			[[ "$cmd" == */tmp/davgate-demo.* && "$cmd" != *"$state"* ]] && others=1
		done
		if [ "$others" -eq 1 ]; then
			echo "kept the demo account $DEMO_USER: another demo is running"
		else
			userdel "$DEMO_USER" 2>/dev/null && echo "removed the demo account $DEMO_USER"
		fi
	fi
	# A demo that failed keeps its logs, so that the reason can be read.
	if [ "$status" -ne 0 ] && [ "$status" -ne 130 ] && [ -d "$state/log" ]; then
		logs=$(mktemp -d /tmp/davgate-demo-logs.XXXXXX)
		cp -a "$state/log/." "$logs/"
		echo "the demo failed; its logs are in $logs" >&2
	fi
	rm -rf "$state"
	echo "demo stopped"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "building davgate..."
CGO_ENABLED=0 go build -trimpath -o "$state/davgate" ./cmd/davgate

mkdir -p "$state"/{private,lock,state,cache,pid,ncalrpc,log,share}
chmod 777 "$state/share"
echo "Welcome to davgate. This file lives on the demo Samba share." >"$state/share/README.txt"
chmod 666 "$state/share/README.txt"
cat >"$state/smb.conf" <<CONF
[global]
	workgroup = WORKGROUP
	server role = standalone server
	smb ports = $SMB_PORT
	interfaces = 127.0.0.1/8
	bind interfaces only = yes
	disable netbios = yes
	server min protocol = SMB2_02
	private dir = $state/private
	lock directory = $state/lock
	state directory = $state/state
	cache directory = $state/cache
	pid directory = $state/pid
	ncalrpc dir = $state/ncalrpc
	passdb backend = tdbsam:$state/private/passdb.tdb
	log file = $state/log/smbd.log
	log level = 1 auth_audit:3
	load printers = no
	printing = bsd
	printcap name = /dev/null
	disable spoolss = yes
	map to guest = never
[demo]
	path = $state/share
	read only = no
	create mask = 0666
	directory mask = 0777
	vfs objects = streams_xattr
CONF
if ! id -u "$DEMO_USER" >/dev/null 2>&1; then
	useradd -M -s /usr/sbin/nologin -c "$DEMO_GECOS" "$DEMO_USER"
elif [ "$(getent passwd "$DEMO_USER" | cut -d: -f5-7)" = ":/home/$DEMO_USER:/usr/sbin/nologin" ] &&
	[ ! -e "/home/$DEMO_USER" ]; then
	# Left by a demo from before accounts were marked: mark it now.
	usermod -c "$DEMO_GECOS" "$DEMO_USER"
fi
printf '%s\n%s\n' "$DEMO_PASS" "$DEMO_PASS" | smbpasswd -c "$state/smb.conf" -a -s "$DEMO_USER" >/dev/null
# In a session of its own: smbd signals its whole process group when it
# shuts down, which would stop davgate and this script with it.
setsid smbd --foreground --no-process-group --configfile="$state/smb.conf" >"$state/log/smbd.out" 2>&1 &
pids+=($!)

"$state/davgate" keygen --out "$state/master.keys" >/dev/null
cat >"$state/davgate.yaml" <<CONF
listen: 127.0.0.1:$DEMO_PORT
master_key_file: $state/master.keys
store: memory
auth:
  backend: smb
shares:
  - {name: demo, url: "smb://127.0.0.1:$SMB_PORT/demo"}
CONF
for _ in $(seq 100); do
	(exec 3<>/dev/tcp/127.0.0.1/"$SMB_PORT") 2>/dev/null && break
	sleep 0.1
done
"$state/davgate" serve --config "$state/davgate.yaml" >"$state/log/davgate.out" 2>"$state/log/davgate.log" &
pids+=($!)
# Ready once davgate itself says it listens (a /healthz answer alone could
# come from another server that took the port meanwhile).
for _ in $(seq 100); do
	grep -q "davgate listening on" "$state/log/davgate.out" && break
	if ! kill -0 "${pids[1]}" 2>/dev/null; then
		echo "davgate did not start:" >&2
		tail -n 5 "$state/log/davgate.log" >&2
		exit 1
	fi
	sleep 0.1
done
if ! curl -fsS "http://127.0.0.1:$DEMO_PORT/healthz" >/dev/null 2>&1; then
	echo "davgate does not answer on 127.0.0.1:$DEMO_PORT" >&2
	exit 1
fi

resp=$(curl -fsS -H 'Content-Type: application/json' \
	-d "{\"username\":\"$DEMO_USER\",\"password\":\"$DEMO_PASS\",\"kind\":\"device\",\"label\":\"demo\"}" \
	"http://127.0.0.1:$DEMO_PORT/api/v1/sessions")
TOKEN=$(printf '%s' "$resp" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
if [ -z "$TOKEN" ]; then
	echo "log-on failed: $resp" >&2
	tail -n 20 "$state/log/davgate.log" >&2
	exit 1
fi
URL="http://127.0.0.1:$DEMO_PORT"
cat <<TXT

davgate demo is running (Ctrl-C stops it)
  WebDAV:        $URL/dav/demo/
  browser:       $URL/login   user: $DEMO_USER   password: $DEMO_PASS
  device token:  $TOKEN
  WebDAV clients (Finder, gio, davfs2, rclone, mobile apps): $URL/ or $URL/dav/demo/,
                 user $DEMO_USER, the device token as the password
  logs:          $state/log/davgate.log

Try:
  TOKEN=$TOKEN
  curl -u $DEMO_USER:\$TOKEN $URL/dav/demo/README.txt
  curl -u $DEMO_USER:\$TOKEN -T /etc/os-release $URL/dav/demo/os-release.txt
  curl -H "Authorization: Bearer \$TOKEN" -X PROPFIND -H 'Depth: 1' $URL/dav/demo/
  curl -H "Authorization: Bearer \$TOKEN" -X MKCOL $URL/dav/demo/folder/
  curl -H "Authorization: Bearer \$TOKEN" $URL/api/v1/sessions
  curl -H "Authorization: Bearer \$TOKEN" -X DELETE $URL/api/v1/sessions/current
  rclone lsf :webdav: --webdav-url $URL/dav/demo/ --webdav-user $DEMO_USER --webdav-pass \$(rclone obscure \$TOKEN)
TXT
wait "${pids[1]}"
