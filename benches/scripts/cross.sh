#!/usr/bin/env bash
# Cross matrix on one of Go's wires: Go's net/rpc and netrpc speak the same bytes on gob and on
# JSON-RPC, so each client can drive each server. Judges the server and the client apart:
#   server: netrpc-server/go-server with the same client;  client: netrpc-client/go-client with the
#   same server. Run:  benches/scripts/cross.sh [CFG...]  (from any directory)
# Env: WIRE (json or gob; json), REPS (3), DUR seconds (5). CFG names as compare.sh: a b c d e f;
# default all. On gob the netrpc server is arith_server with no flag but --addr: it tells gob
# from the first bytes, as a Go client meets it.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PROJECT=$(cd "$HERE/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$PROJECT/target}
WIRE=${WIRE:-json}
case $WIRE in
  json) SERVER_FLAGS=(--codec json); TITLE="JSON-RPC" ;;
  gob) SERVER_FLAGS=(); TITLE="gob" ;;
  *) echo "WIRE must be json or gob, not $WIRE" >&2; exit 2 ;;
esac
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
(cd "$PROJECT" && cargo build --release -q --examples)
NETSRV=$TARGET/release/examples/arith_server
NETGEN=$TARGET/release/examples/loadgen
GO=$WORK/go-netrpcbench

CONFIGS=(
  "a|-conns 1 -callers 1"
  "b|-conns 1 -callers 16"
  "c|-conns 1 -async 128"
  "d|-conns 8 -callers 8"
  "e|-conns 1 -callers 1 -payload 65536"
  "f|-conns 100 -callers 1"
)
want=("$@")
wait_port() { for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 not up" >&2; return 1; }
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

run_one() { # server client cfg flags...
  local server=$1 client=$2 cfg=$3; shift 3
  local port; port=$(free_port)
  local addr=127.0.0.1:$port srv line
  case $server in
    go) "$GO" -mode server -codec "$WIRE" -addr "$addr" >/dev/null 2>&1 & srv=$! ;;
    netrpc) "$NETSRV" --addr "$addr" "${SERVER_FLAGS[@]}" >/dev/null 2>&1 & srv=$! ;;
  esac
  wait_port "$port"
  case $client in
    go) line=$("$GO" -mode client -codec "$WIRE" -addr "$addr" -duration "${DUR}s" "$@") || line=null ;;
    netrpc) line=$("$NETGEN" --codec "$WIRE" --addr "$addr" --duration "$DUR" $(printf '%s\n' "$@" | sed 's/^-\([a-z]\)/--\1/')) || line=null ;;
  esac
  [ -n "$line" ] || line=null
  kill "$srv" 2>/dev/null || true; wait "$srv" 2>/dev/null || true
  echo "{\"server\":\"$server\",\"client\":\"$client\",\"cfg\":\"$cfg\",\"result\":$line}"
}

RAW=$WORK/cross_$WIRE.jsonl
: >"$RAW"
for rep in $(seq "$REPS"); do
  for c in "${CONFIGS[@]}"; do
    IFS='|' read -r cfg flags <<<"$c"
    if [ ${#want[@]} -gt 0 ] && [[ ! " ${want[*]} " == *" $cfg "* ]]; then continue; fi
    for pair in "netrpc netrpc" "go netrpc" "netrpc go" "go go"; do
      # shellcheck disable=SC2086
      run_one $pair "$cfg" $flags | tee -a "$RAW" >&2
    done
  done
done
python3 - "$RAW" "$TITLE" <<'EOF'
import json, statistics, sys
from collections import defaultdict
runs = defaultdict(list)
for line in open(sys.argv[1]):
    if line.strip():
        r = json.loads(line)
        if r["result"]:
            runs[(r["cfg"], r["server"], r["client"])].append(r["result"]["calls_per_sec"])
med = lambda k: statistics.median(runs[k]) if runs.get(k) else None
fmt = lambda x: f"{x:,.0f}" if x else "-"
ratio = lambda a, b: f"{a / b:.2f}" if a and b else "-"
print(f"{sys.argv[2]} on both sides; calls/s, medians. server ratio = netrpc server / Go server, same client;")
print("client ratio = netrpc client / Go client, same server.")
print()
print("| cfg | netrpc→netrpc | go→netrpc | netrpc→go | go→go | server ratio (go client) | server ratio (netrpc client) | client ratio (go server) | client ratio (netrpc server) |")
print("|---|---|---|---|---|---|---|---|---|")
for cfg in sorted({k[0] for k in runs}):
    nn, gn, ng, gg = (med((cfg, s, c)) for s, c in
                      (("netrpc", "netrpc"), ("netrpc", "go"), ("go", "netrpc"), ("go", "go")))
    print(f"| {cfg} | {fmt(nn)} | {fmt(gn)} | {fmt(ng)} | {fmt(gg)} | {ratio(gn, gg)} | {ratio(nn, ng)} "
          f"| {ratio(ng, gg)} | {ratio(nn, gn)} |")
EOF
