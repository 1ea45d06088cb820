#!/usr/bin/env bash
# The test command: installs what the tests need (Debian packages), then runs
# every test with the race detector against real servers that the tests
# start on 127.0.0.1. Run from anywhere; run as root (the tests create Unix
# accounts for a private smbd).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"
deploy/test/install-deps.sh
# In CI a missing server binary fails the run instead of skipping tests.
export CI="${CI:-true}"
go vet ./...
# staticcheck, pinned to a release that knows this Go (2026.2.x for Go 1.26)
staticcheck_version=2026.2.2
export PATH="$PATH:$(go env GOPATH)/bin"
if [ "$(staticcheck -version 2>/dev/null | cut -d' ' -f2)" != "$staticcheck_version" ]; then
	go install "honnef.co/go/tools/cmd/staticcheck@$staticcheck_version"
fi
staticcheck ./...
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted" >&2
	exit 1
fi
go test -race -count=1 -timeout 40m ./... "$@"
# The Kubernetes manifests, checked offline by a module of their own (it
# keeps the k8s.io/api types out of davgate's dependencies).
(cd deploy/k8s/validate && go vet ./... && go test -count=1 ./...)
# Fuzz each target for a bounded count of inputs (20,000 each, about 40 s
# in all, no -race); a crash fails the run and go keeps its input under the
# package's testdata/fuzz. A count, not a time: with -fuzztime 4s a loaded
# machine can spend the whole time on the baseline coverage, and go then
# fails the run with "context deadline exceeded".
for target in session:FuzzOpenToken session:FuzzSealOpen session:FuzzParseShareURL \
	session:FuzzExpandShareURL davfs:FuzzParseIf davfs:FuzzRequestPath \
	davfs:FuzzParsePropfind davfs:FuzzParseLockInfo davfs:FuzzProppatch; do
	go test -run '^$' -fuzz "^${target#*:}\$" -fuzztime 20000x "./${target%%:*}/"
done
