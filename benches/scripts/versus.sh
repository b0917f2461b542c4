#!/usr/bin/env bash
# Two builds of netrpc beside Go's net/rpc, interleaved run by run, so that a change is judged
# by its ratio to Go in one run (the machine's noise moves all three together).
# usage: benches/scripts/versus.sh OLD_TARGET_DIR NEW_TARGET_DIR [CFG...]
#   each *_TARGET_DIR holds release/examples/{arith_server,loadgen} (cargo build --release --examples)
# Env: REPS (3), DUR seconds (4). CFG names as benches/scripts/compare.sh: a..i; default a..f.
# Needs the Go yardstick built by compare.sh in /tmp/netrpc-bench.
set -euo pipefail
old=$1; new=$2; shift 2
want=("${@:-a b c d e f}")
REPS=${REPS:-3}; DUR=${DUR:-4}
GO=/tmp/netrpc-bench/go-netrpcbench
declare -A FLAGS=(
  [a]="--conns 1 --callers 1" [b]="--conns 1 --callers 16" [c]="--conns 1 --async 128"
  [d]="--conns 8 --callers 8" [e]="--conns 1 --callers 1 --payload 65536"
  [f]="--conns 100 --callers 1" [g]="--conns 64 --callers 1 --sleep-us 1000"
  [h]="--conns 1 --callers 64 --sleep-us 1000" [i]="--conns 1 --async 256 --sleep-us 1000"
)
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }
run_one() { # impl flags
  local impl=$1 flags=$2 port srv line
  port=$(free_port)
  case $impl in
    go) "$GO" -mode server -addr "127.0.0.1:$port" >/dev/null 2>&1 & srv=$! ;;
    *) "$impl/release/examples/arith_server" --addr "127.0.0.1:$port" >/dev/null 2>&1 & srv=$! ;;
  esac
  wait_port "$port"
  case $impl in
    # shellcheck disable=SC2086
    go) line=$("$GO" -mode client -addr "127.0.0.1:$port" -duration "${DUR}s" ${flags//--/-}) || line=null ;;
    # shellcheck disable=SC2086
    *) line=$("$impl/release/examples/loadgen" --addr "127.0.0.1:$port" --duration "$DUR" $flags) || line=null ;;
  esac
  kill "$srv" 2>/dev/null || true; wait "$srv" 2>/dev/null || true
  python3 -c 'import json,sys; l=json.loads(sys.argv[1]); print(l["calls_per_sec"] if l else "nan")' "$line"
}
RAW=$(mktemp)
for rep in $(seq "$REPS"); do
  for cfg in ${want[*]}; do
    for impl in old new go; do
      case $impl in old) dir=$old ;; new) dir=$new ;; go) dir=go ;; esac
      echo "$rep $cfg $impl $(run_one "$dir" "${FLAGS[$cfg]}")" | tee -a "$RAW" >&2
    done
  done
done
python3 - "$RAW" <<'P'
import sys, statistics, collections
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    rep, cfg, impl, cps = line.split()
    runs[(cfg, impl)].append(float(cps))
print("| cfg | old calls/s | new calls/s | Go calls/s | old/Go | new/Go | new/old |")
print("|---|---|---|---|---|---|---|")
for cfg in sorted({c for c, _ in runs}):
    m = {i: statistics.median(runs[(cfg, i)]) for i in ("old", "new", "go")}
    print(f"| {cfg} | {m['old']:,.0f} | {m['new']:,.0f} | {m['go']:,.0f} | "
          f"{m['old']/m['go']:.2f} | {m['new']/m['go']:.2f} | {m['new']/m['old']:.2f} |")
P
rm "$RAW"
