#!/usr/bin/env bash
# Side-by-side benchmark: netrpc vs Go net/rpc (gob) vs a raw TCP ping-pong floor, on this machine,
# interleaved run by run. Run:  benches/scripts/compare.sh [CFG...]  (from any directory)
# Env: REPS (3), DUR seconds (5). CFG names: a b c d e f g h i (see CONFIGS below); default all.
# g h i call Work.Sleep, a method that blocks 1 ms (a database query's stand-in): 64 callers can make
# at most 64,000 calls/s, 256 outstanding calls 256,000; the floor has no such method and is skipped.
# A run that fails (e.g. a loadgen without --sleep-us) is recorded as missing, not fatal.
# netrpc side: `examples/arith_server --addr A` as the server and `examples/loadgen --addr A ...`
# as the client, built with `cargo build --release --examples` (into $CARGO_TARGET_DIR if set).
# Go side: benches/go_netrpc (Go's net/rpc, gob); floor: benches/tcp_floor (raw TCP echo). Both
# are built into $BENCH_WORK (/tmp/netrpc-bench), where cpu_per_call.sh, idle_rss.sh and
# versus.sh look for them.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PROJECT=$(cd "$HERE/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$PROJECT/target}
REPS=${REPS:-3}
DUR=${DUR:-5}
WORK=${BENCH_WORK:-/tmp/netrpc-bench}
mkdir -p "$WORK"
ulimit -n 65536 2>/dev/null || true

if ! command -v go >/dev/null; then
  echo "installing golang-go (Debian package) ..." >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go) >/dev/null
fi
export GOPATH=$WORK/gopath GOCACHE=$WORK/gocache GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local
(cd "$PROJECT/benches/go_netrpc" && go build -o "$WORK/go-netrpcbench" .)
(cd "$PROJECT/benches/tcp_floor" && CARGO_TARGET_DIR=$WORK/floor-target cargo build --release -q)
cp "$WORK/floor-target/release/floor" "$WORK/floor"
(cd "$PROJECT" && cargo build --release -q --examples)
NETSRV=$TARGET/release/examples/arith_server
NETGEN=$TARGET/release/examples/loadgen
for b in "$NETSRV" "$NETGEN"; do [ -x "$b" ] || { echo "missing $b" >&2; exit 1; }; done

# name | flags (Go-style single dash; translated for netrpc)
CONFIGS=(
  "a|-conns 1 -callers 1"
  "b|-conns 1 -callers 16"
  "c|-conns 1 -async 128"
  "d|-conns 8 -callers 8"
  "e|-conns 1 -callers 1 -payload 65536"
  "f|-conns 100 -callers 1"
  "g|-conns 64 -callers 1 -sleep-us 1000"
  "h|-conns 1 -callers 64 -sleep-us 1000"
  "i|-conns 1 -async 256 -sleep-us 1000"
)
want=("$@")
wait_port() { for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 not up" >&2; return 1; }

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

run_one() { # impl cfg flags...
  local impl=$1 cfg=$2; shift 2
  local port; port=$(free_port)
  local addr=127.0.0.1:$port srv line
  case $impl in
    go) "$WORK/go-netrpcbench" -mode server -addr "$addr" >/dev/null 2>&1 & srv=$! ;;
    floor) "$WORK/floor" -mode server -addr "$addr" >/dev/null 2>&1 & srv=$! ;;
    netrpc) "$NETSRV" --addr "$addr" >/dev/null 2>&1 & srv=$! ;;
  esac
  wait_port "$port"
  case $impl in
    go) line=$("$WORK/go-netrpcbench" -mode client -addr "$addr" -duration "${DUR}s" "$@") || line=null ;;
    floor) line=$("$WORK/floor" -mode client -addr "$addr" -duration "${DUR}s" "$@") || line=null ;;
    netrpc) line=$("$NETGEN" --addr "$addr" --duration "$DUR" $(printf '%s\n' "$@" | sed 's/^-\([a-z]\)/--\1/')) || line=null ;;
  esac
  [ -n "$line" ] || line=null
  # A load generator that ignores --sleep-us would measure another method: such a line must name it.
  if [[ " $* " == *" -sleep-us "* ]] && [[ $line != *Work.Sleep* ]]; then line=null; fi
  local hwm; hwm=$(awk '/VmHWM/{print $2}' /proc/$srv/status 2>/dev/null || echo 0)
  kill "$srv" 2>/dev/null || true; wait "$srv" 2>/dev/null || true
  echo "{\"bench\":\"$impl\",\"cfg\":\"$cfg\",\"server_hwm_kb\":$hwm,\"result\":$line}"
}

RAW=$WORK/raw.jsonl
: >"$RAW"
for rep in $(seq "$REPS"); do
  for c in "${CONFIGS[@]}"; do
    IFS='|' read -r cfg flags <<<"$c"
    if [ ${#want[@]} -gt 0 ] && [[ ! " ${want[*]} " == *" $cfg "* ]]; then continue; fi
    impls="netrpc go floor"
    [[ $flags == *-sleep-us* ]] && impls="netrpc go"
    for impl in $impls; do
      # shellcheck disable=SC2086
      run_one "$impl" "$cfg" $flags | tee -a "$RAW" >&2
    done
  done
done
python3 "$HERE/summarize.py" "$RAW"
