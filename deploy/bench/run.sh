#!/usr/bin/env bash
# The speed report of issue 3 ("Speed"): starts a private smbd on loopback
# (and a second one with `server signing = mandatory`), builds davgate and
# runs it as its own process, then prints davgate's figures next to a
# direct go-smb2 client's on the same files, then its small GETs and
# PROPFIND Depth:0 next to `rclone serve webdav`'s on the same smbd
# (BenchmarkRclonePeer), the ratios with PASS or MISS per target, and
# davgate's peak memory (VmHWM) during the GET and PROPFIND
# runs. About three minutes; needs ~3 GiB free in $TMPDIR for a minute (the
# 1 GiB files are deleted as it goes). A benchmark, not a test: a MISS does
# not fail it. While it measures it pauses the VM's free page reporting,
# where the kernel has it, and puts it back at the end (see
# pageReportingOrder in cmd/davgate/benchproc_test.go).
#
# Run as root on Debian (smbd runs as root and the bench adds a Unix
# account). Extra arguments go to `go test`. Environment:
#   DAVGATE_BENCH_PPROF=DIR  run davgate inside the benchmark process and
#                            write a CPU profile per measure into DIR
#   DAVGATE_BENCH_KEEP_PAGE_REPORTING=1  leave free page reporting on
#   DAVGATE_BENCH_RCLONE=BIN  the rclone to compare with; by default rclone
#                            $RCLONE_VERSION built from its source through the
#                            Go module proxy (a few minutes the first time,
#                            kept in ~/.cache/davgate-bench), as the issue asks:
#                            Debian's rclone is older and uses another go-smb2
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"
if [ "$(id -u)" -ne 0 ]; then
	echo "run the bench as root (sudo $0): it starts private smbds and adds a Unix account" >&2
	exit 1
fi
deploy/test/install-deps.sh demo
# A missing smbd fails the run instead of skipping the benchmark.
export CI="${CI:-true}"
# The bench pauses the VM's free page reporting while it measures and puts
# it back when it ends; this puts it back too if the bench is interrupted.
order=/sys/module/page_reporting/parameters/page_reporting_order
if [ -w "$order" ]; then
	saved="$(cat "$order")"
	# 11 is what the bench writes: a bench killed before it could put the
	# setting back left it; 9, the pageblock order on x86-64, is the default.
	if [ "$saved" = 11 ]; then saved=9; fi
	trap 'echo "$saved" > "$order"' EXIT
fi
# The rclone peer, built from its current source (it uses the same go-smb2
# fork as davgate).
RCLONE_VERSION="${RCLONE_VERSION:-v1.76.0}"
if [ -z "${DAVGATE_BENCH_RCLONE:-}" ]; then
	bin="${XDG_CACHE_HOME:-$HOME/.cache}/davgate-bench/rclone-$RCLONE_VERSION"
	if [ ! -x "$bin/rclone" ]; then
		echo "building rclone $RCLONE_VERSION from source into $bin (once)" >&2
		GOBIN="$bin" go install "github.com/rclone/rclone@$RCLONE_VERSION"
	fi
	export DAVGATE_BENCH_RCLONE="$bin/rclone"
fi
go test -run '^$' -bench '^Benchmark(Gateway|RclonePeer)$' -benchtime 1x -count 1 -timeout 15m ./cmd/davgate/ "$@"
