#!/usr/bin/env bash
# Installs what davgate's tests and demo need on Debian, if it is missing:
# Samba (file server with its VFS modules, and AD DC with its schema files
# and winbind: apt's --no-install-recommends leaves those out), the Kerberos and LDAP
# client tools, OpenLDAP's slapd, iproute2 (the AD DC runs in a network
# namespace), redis-server, litmus, rclone, cadaver, fuse3, davfs2, gvfs with
# gio and a D-Bus session bus, chromium (the browser test drives it headless),
# podman, runc, nginx, prometheus and systemd-analyze (the deployment tests). Daemons are not
# started: the tests start their own on 127.0.0.1 or in a namespace. Runs as
# root (or with sudo available).
#
#   install-deps.sh          everything the tests need
#   install-deps.sh demo     only what the demo and the bench need
set -euo pipefail
if [ "${1:-}" = demo ]; then
	pkgs=(samba samba-vfs-modules rclone curl ca-certificates) # rclone: the bench's peer
else
	pkgs=(samba samba-vfs-modules samba-ad-dc samba-ad-provision winbind smbclient krb5-user ldap-utils slapd iproute2
		redis-server litmus rclone cadaver fuse3 davfs2 gvfs-daemons gvfs-backends libglib2.0-bin dbus-daemon
		chromium curl ca-certificates)
	# The deployment tests (deploy/): podman builds and runc runs the
	# container image; nginx in front of davgate; prometheus and promtool.
	pkgs+=(podman runc nginx prometheus systemd)
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
	# slapd: configure no system directory. The tests run their own slapd.
	echo "slapd slapd/no_configuration boolean true" | $SUDO debconf-set-selections
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Where no policy-rc.d holds them back, packages start their daemons on
# install. A system slapd would listen on port 389 of every interface: stop
# and disable it (the tests start their own).
if [[ " ${missing[*]:-} " == *" slapd "* ]]; then
	if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
		$SUDO systemctl disable --now slapd >/dev/null 2>&1 || true
	elif [ -x /etc/init.d/slapd ]; then
		$SUDO /etc/init.d/slapd stop >/dev/null 2>&1 || true
	fi
fi
# nginx and prometheus start on install as well (ports 80 and 9090): the
# tests run their own on free loopback ports.
for svc in nginx prometheus; do
	if [[ " ${missing[*]:-} " == *" $svc "* ]]; then
		if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
			$SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
		elif [ -x "/etc/init.d/$svc" ]; then
			$SUDO "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
		fi
	fi
done
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
	echo "note: add /usr/local/go/bin to PATH" >&2
fi
