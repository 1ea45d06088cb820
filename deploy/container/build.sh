#!/usr/bin/env bash
# Builds davgate's container image with podman, offline: FROM scratch, the
# files come from this machine (a static Go build, the host's CA bundle,
# a two-line /etc/passwd). Nothing is pulled from any registry.
#
#   deploy/container/build.sh [IMAGE]     default IMAGE: localhost/davgate:latest
#
# Environment: VERSION (default: git describe), GO (default: go).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"
image="${1:-localhost/davgate:latest}"
version="${VERSION:-$(git describe --always --dirty 2>/dev/null || echo dev)}"
ca=/etc/ssl/certs/ca-certificates.crt
if [ ! -s "$ca" ]; then
	echo "build.sh: $ca is missing: install Debian's ca-certificates" >&2
	exit 1
fi
ctx=$(mktemp -d /tmp/davgate-image.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
CGO_ENABLED=0 "${GO:-go}" build -trimpath -ldflags "-s -w -X main.version=$version" \
	-o "$ctx/davgate" ./cmd/davgate
cp "$ca" "$ctx/ca-certificates.crt"
# The user the image runs as; 65532 is the "nonroot" id distroless uses.
echo 'davgate:x:65532:65532:davgate:/nonexistent:/nonexistent' >"$ctx/passwd"
echo 'davgate:x:65532:' >"$ctx/group"
cp deploy/container/Containerfile "$ctx/Containerfile"
# --pull=never: a FROM other than scratch, or any base missing here, fails
# instead of reaching for a registry.
podman build --pull=never --network=none --label "org.opencontainers.image.version=$version" \
	-t "$image" -f "$ctx/Containerfile" "$ctx"
echo "built $image ($version)"
