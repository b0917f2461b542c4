#!/usr/bin/env bash
# Gathers what devbench.sh needs into .devbench/ (ignored by git), for a 16-core machine that
# has neither Go nor cargo: netrpc's arith_server and loadgen (release), Go's net/rpc yardstick
# (benches/go_netrpc, static: CGO_ENABLED=0), the raw TCP floor (benches/tcp_floor, release),
# devbench.sh and summarize.py. Then run `bash .devbench/devbench.sh` there with .devbench
# carried along (BENCHMARKS.md says how). Run from anywhere; builds offline.
set -euo pipefail
PROJECT=$(cd "$(dirname "$0")/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$PROJECT/target}
WORK=${BENCH_WORK:-/tmp/netrpc-bench}
DEST=$PROJECT/.devbench
mkdir -p "$DEST" "$WORK"
(cd "$PROJECT" && cargo build --release -q --examples)
cp "$TARGET/release/examples/arith_server" "$TARGET/release/examples/loadgen" "$DEST/"
(cd "$PROJECT/benches/go_netrpc" &&
  GOPATH=$WORK/gopath GOCACHE=$WORK/gocache GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local \
    CGO_ENABLED=0 go build -o "$DEST/go-netrpcbench" .)
(cd "$PROJECT/benches/tcp_floor" && CARGO_TARGET_DIR=$WORK/floor-target cargo build --release -q)
cp "$WORK/floor-target/release/floor" "$DEST/"
cp "$PROJECT/benches/scripts/devbench.sh" "$PROJECT/benches/scripts/summarize.py" "$DEST/"
ls -l "$DEST"
