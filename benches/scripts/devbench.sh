#!/usr/bin/env bash
# netrpc vs Go net/rpc vs the raw TCP floor on a 16-core machine, from prebuilt binaries.
# Modes: split = server on cores 0-7, client on cores 8-15 (two machines' worth);
#        two   = server and client both on cores 0-1 (like a 2-core machine, as a control);
#        apart = server on core 0, client on core 1 (server and client apart on a 2-core machine).
# Then the gob cross matrix (in CROSS's cores, split unless CROSS=apart): each client against
# each server on Go's gob wire.
# Needs beside it: arith_server, loadgen (netrpc's examples, release), go-netrpcbench
# (benches/go_netrpc, built with CGO_ENABLED=0), floor (benches/tcp_floor, release) and
# summarize.py. BENCHMARKS.md says how to gather them into .devbench/ and carry them.
# Env: DUR (3 s), REPS (2; the control mode runs once), MODES ("split two"), CROSS (split),
# CROSS_REPS (1), ONLY ("a f ...").
# About 6 minutes for everything; results are written under $OUT (or /tmp/devout) too.
set -u
D=$(cd "$(dirname "$0")" && pwd)
O=${OUT:-/tmp/devout}; mkdir -p "$O"
DUR=${DUR:-3}; REPS=${REPS:-2}
ulimit -n 65536 2>/dev/null || true
nproc > "$O/info.txt"; uname -a >> "$O/info.txt"; lscpu | head -20 >> "$O/info.txt"
chmod +x "$D"/arith_server "$D"/loadgen "$D"/floor "$D"/go-netrpcbench
wait_port() { for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }
PORT=20000
cores() { case $1 in split) echo 0-7 8-15;; two) echo 0-1 0-1;; apart) echo 0 1;; esac; }
run_one() { # mode impl cfg flags...
  local mode=$1 impl=$2 cfg=$3; shift 3
  local s c; read -r s c <<<"$(cores $mode)"
  PORT=$((PORT+1)); local addr=127.0.0.1:$PORT srv line
  case $impl in
    go) taskset -c $s "$D/go-netrpcbench" -mode server -addr "$addr" >/dev/null 2>&1 & srv=$! ;;
    floor) taskset -c $s "$D/floor" -mode server -addr "$addr" >/dev/null 2>&1 & srv=$! ;;
    netrpc) taskset -c $s "$D/arith_server" --addr "$addr" >/dev/null 2>&1 & srv=$! ;;
  esac
  wait_port $PORT
  case $impl in
    go) line=$(timeout 20 taskset -c $c "$D/go-netrpcbench" -mode client -addr "$addr" -duration "${DUR}s" "$@") || line=null ;;
    floor) line=$(timeout 20 taskset -c $c "$D/floor" -mode client -addr "$addr" -duration "${DUR}s" "$@") || line=null ;;
    netrpc) line=$(timeout 20 taskset -c $c "$D/loadgen" --addr "$addr" --duration "$DUR" $(printf '%s\n' "$@" | sed 's/^-\([a-z]\)/--\1/')) || line=null ;;
  esac
  [ -n "$line" ] || line=null
  local hwm; hwm=$(awk '/VmHWM/{print $2}' /proc/$srv/status 2>/dev/null || echo 0)
  kill "$srv" 2>/dev/null; wait "$srv" 2>/dev/null
  echo "{\"bench\":\"$impl\",\"cfg\":\"$cfg\",\"server_hwm_kb\":${hwm:-0},\"result\":$line}"
}
CONFIGS=(
  "a|-conns 1 -callers 1" "b|-conns 1 -callers 16" "c|-conns 1 -async 128" "d|-conns 8 -callers 8"
  "e|-conns 1 -callers 1 -payload 65536" "f|-conns 100 -callers 1"
  "g|-conns 64 -callers 1 -sleep-us 1000" "h|-conns 1 -callers 64 -sleep-us 1000" "i|-conns 1 -async 256 -sleep-us 1000"
)
for mode in ${MODES:-split two}; do
  : > "$O/$mode.jsonl"
  reps=$REPS; [ $mode = two ] && reps=1
  for rep in $(seq $reps); do
    for c in "${CONFIGS[@]}"; do
      IFS='|' read -r cfg flags <<<"$c"
      [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $cfg "* ]] && continue
      impls="netrpc go floor"; [[ $flags == *-sleep-us* ]] && impls="netrpc go"
      for impl in $impls; do run_one $mode $impl $cfg $flags >> "$O/$mode.jsonl"; done
    done
  done
  python3 "$D/summarize.py" "$O/$mode.jsonl" > "$O/$mode.md" 2>&1
  echo "== $mode"; cat "$O/$mode.md"
done
# gob cross matrix
xone() { # server client cfg flags...
  local server=$1 client=$2 cfg=$3; shift 3
  local s c; read -r s c <<<"$(cores ${CROSS:-split})"
  PORT=$((PORT+1)); local addr=127.0.0.1:$PORT srv line
  case $server in
    go) taskset -c $s "$D/go-netrpcbench" -mode server -codec gob -addr "$addr" >/dev/null 2>&1 & srv=$! ;;
    netrpc) taskset -c $s "$D/arith_server" --addr "$addr" >/dev/null 2>&1 & srv=$! ;;
  esac
  wait_port $PORT
  case $client in
    go) line=$(timeout 20 taskset -c $c "$D/go-netrpcbench" -mode client -codec gob -addr "$addr" -duration "${DUR}s" "$@") || line=null ;;
    netrpc) line=$(timeout 20 taskset -c $c "$D/loadgen" --codec gob --addr "$addr" --duration "$DUR" $(printf '%s\n' "$@" | sed 's/^-\([a-z]\)/--\1/')) || line=null ;;
  esac
  [ -n "$line" ] || line=null
  kill "$srv" 2>/dev/null; wait "$srv" 2>/dev/null
  echo "{\"server\":\"$server\",\"client\":\"$client\",\"cfg\":\"$cfg\",\"result\":$line}"
}
: > "$O/cross_gob.jsonl"
for c in "${CONFIGS[@]:0:6}"; do
  IFS='|' read -r cfg flags <<<"$c"
  [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $cfg "* ]] && continue
  for rep in $(seq "${CROSS_REPS:-1}"); do
    for pair in "netrpc netrpc" "go netrpc" "netrpc go" "go go"; do xone $pair $cfg $flags >> "$O/cross_gob.jsonl"; done
  done
done
python3 - "$O/cross_gob.jsonl" "${CROSS:-split}" <<'PY'
import json, sys
from collections import defaultdict
r = defaultdict(list)
for l in open(sys.argv[1]):
    if l.strip():
        j = json.loads(l)
        if j["result"]: r[(j["cfg"], j["server"], j["client"])].append(j["result"]["calls_per_sec"])
g = lambda k: (sorted(r[k])[len(r[k])//2] if r.get(k) else None)
print("== cross gob (" + sys.argv[2] + "): server ratio netrpc/go with Go client, netrpc client; client ratio netrpc/go with Go server, netrpc server")
for cfg in "abcdef":
    nn, gn, ng, gg = g((cfg,"netrpc","netrpc")), g((cfg,"go","netrpc")), g((cfg,"netrpc","go")), g((cfg,"go","go"))
    f = lambda a, b: f"{a/b:.2f}" if a and b else "-"
    print(cfg, "nn", nn, "gn", gn, "ng", ng, "gg", gg, "| server(goclient)", f(ng, gg), "server(netclient)", f(nn, gn), "| client(goserver)", f(gn, gg), "client(netserver)", f(nn, ng))
PY
