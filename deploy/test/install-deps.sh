#!/usr/bin/env bash
# Installs what davgate's tests and demo need on Debian, if it is missing:
# Samba (file server, and AD DC for later tests), redis-server, litmus,
# rclone, cadaver, fuse3. Daemons are not started: the tests start their own
# on 127.0.0.1. Runs as root (or with sudo available).
#
#   install-deps.sh          everything the tests need
#   install-deps.sh demo     only what the demo needs
set -euo pipefail
if [ "${1:-}" = demo ]; then
	pkgs=(samba curl ca-certificates)
else
	pkgs=(samba smbclient redis-server litmus rclone cadaver fuse3 curl ca-certificates)
fi
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	echo "installing: ${missing[*]}" >&2
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
	echo "note: add /usr/local/go/bin to PATH" >&2
fi
