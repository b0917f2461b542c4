#!/usr/bin/env bash
# Instructions per call, counted by valgrind's callgrind: deterministic where time is not, so
# that a change of a few percent in user-space cost shows on a loaded 2-core machine. Kernel
# time (system calls, wake-ups) is not counted: cpu_per_call.sh counts those.
# usage: benches/scripts/instr_per_call.sh server|client TARGET_DIR "LOADGEN FLAGS" [OUT]
#   server: arith_server of TARGET_DIR runs under callgrind, TARGET_DIR's loadgen drives it;
#           per call = instructions / calls its methods ran (Method::invoke).
#   client: loadgen of TARGET_DIR runs under callgrind against TARGET_DIR's arith_server, or
#           Go's server where GO=gob|json (built by compare.sh into /tmp/netrpc-bench);
#           per call = instructions / calls it registered (Calls::register).
# Prints the total, the calls, the instructions per call, and the functions costing the most
# per call (exclusive). OUT (default /tmp/instr_per_call.out) keeps callgrind's file.
# TARGET_DIR holds release/examples/{arith_server,loadgen} (cargo build --release --examples).
set -euo pipefail
side=$1; dir=$2; flags=$3; out=${4:-/tmp/instr_per_call.out}
rm -f "$out"
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
addr=127.0.0.1:$port
grind="valgrind --tool=callgrind --callgrind-out-file=$out"
server=("$dir/release/examples/arith_server" --addr "$addr")
client=("$dir/release/examples/loadgen" --addr "$addr" --duration 4)
codec=()
if [ "$side" = client ] && [ -n "${GO:-}" ]; then
  server=(/tmp/netrpc-bench/go-netrpcbench -mode server -codec "$GO" -addr "$addr")
  codec=(--codec "$GO")
fi
if [ "$side" = server ]; then
  # shellcheck disable=SC2086
  RUST_LOG=off $grind "${server[@]}" >/dev/null 2>/tmp/instr_per_call.err & srv=$!
else
  RUST_LOG=off "${server[@]}" >/dev/null 2>&1 & srv=$!
fi
for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done
if [ "$side" = server ]; then
  # shellcheck disable=SC2086
  "${client[@]}" $flags >/dev/null
  callgrind_control -d "$srv" >/dev/null 2>&1
  sleep 1
  kill -9 "$srv"; wait "$srv" 2>/dev/null || true
  file=$(ls "$out".* | tail -1)
  counted='Method::invoke'
else
  # shellcheck disable=SC2086
  RUST_LOG=off $grind "${client[@]}" $flags "${codec[@]}" >/dev/null 2>/tmp/instr_per_call.err
  kill "$srv"; wait "$srv" 2>/dev/null || true
  file=$out
  counted='pending::Calls::register'
fi
calls=$(callgrind_annotate --tree=calling "$file" 2>/dev/null | grep -E ">  *[^ ]*$counted \(" |
  grep -o '([0-9,]*x)' | tr -d '(x,)' | awk '{s += $1} END {print s + 0}')
total=$(callgrind_annotate "$file" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
[ "$calls" -gt 0 ] || { echo "no calls counted" >&2; exit 1; }
echo "$side [$flags${GO:+, Go $GO server}]: $total instructions, $calls calls, $((total / calls)) per call"
callgrind_annotate "$file" 2>/dev/null | grep -E '^ *[0-9,]+ \(' | sed -n 2,16p |
  sed -E 's/\( *[0-9.]+%\) +//' |
  awk -v n="$calls" '{x = $1; gsub(",", "", x); $1 = ""; sub(/^ +/, ""); printf "%7.0f  %s\n", x / n, substr($0, 1, 110)}'
