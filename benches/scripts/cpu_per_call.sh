#!/usr/bin/env bash
# CPU time, context switches, wake-ups and system calls per call, server and client process,
# counted by `perf stat` (tracepoints: it needs root or perf_event_paranoid <= -1).
# Needs perf, benches/scripts/compare.sh to have built the Go yardstick and the floor into
# /tmp/netrpc-bench, and cargo build --release --examples. Run from the project root.
# usage: [CLIENT=netrpc|go] [CODEC=msgpack|gob|json] \
#          benches/scripts/cpu_per_call.sh netrpc|go|thread-floor|floor "--conns 8 --callers 8"
# The first word names the server, and the client too unless CLIENT names another. netrpc's
# server takes every wire; Go's serves CODEC (gob unless json). thread-floor (benches/thread_floor,
# built here) serves only Work.Sleep, driven by netrpc's loadgen. floor is compare.sh's raw TCP
# ping-pong (no RPC at all), server and client, built by compare.sh.
set -euo pipefail
TARGET=${CARGO_TARGET_DIR:-target}
impl=$1; flags=$2; secs=3
client_impl=${CLIENT:-$impl}
codec=${CODEC:-}
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
addr=127.0.0.1:$port
go_codec=gob; [ "$codec" = json ] && go_codec=json
case $impl in
  netrpc) "$TARGET/release/examples/arith_server" --addr "$addr" >/dev/null & ;;
  thread-floor)
    cargo build -q --release --manifest-path benches/thread_floor/Cargo.toml
    benches/thread_floor/target/release/thread-floor --addr "$addr" >/dev/null & ;;
  go) /tmp/netrpc-bench/go-netrpcbench -mode server -codec $go_codec -addr "$addr" 2>/dev/null & ;;
  floor) /tmp/netrpc-bench/floor -mode server -addr "$addr" 2>/dev/null & ;;
esac
srv=$!
case $client_impl in
  netrpc|thread-floor) client="$TARGET/release/examples/loadgen --addr $addr --duration $secs $flags${codec:+ --codec $codec}" ;;
  go) client="/tmp/netrpc-bench/go-netrpcbench -mode client -codec $go_codec -addr $addr -duration ${secs}s ${flags//--/-}" ;;
  floor) client="/tmp/netrpc-bench/floor -mode client -addr $addr -duration ${secs}s ${flags//--/-}" ;;
esac
trap 'kill $srv 2>/dev/null || true' EXIT
sleep 0.5
out=$(mktemp -d)
events=task-clock,context-switches,sched:sched_wakeup,raw_syscalls:sys_enter
for call in read recvfrom write sendto writev futex epoll_pwait sched_yield; do
  events="$events,syscalls:sys_enter_$call"
done
perf stat -e "$events" -x, -p "$srv" -o "$out/server" &
stat=$!
# shellcheck disable=SC2086
perf stat -e "$events" -x, -o "$out/client" $client >"$out/line"
kill -INT $stat; wait $stat || true
python3 - "$impl" "$client_impl" "$flags" "$out" "$secs" <<'PY'
import json, sys
impl, client_impl, flags, out, secs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
line = json.load(open(f"{out}/line"))
# Both processes also run during the 0.5 s warm-up before the measured window.
calls = line["calls"] * (secs + 0.5) / secs
def stat(who):
    values = {}
    for row in open(f"{out}/{who}"):
        fields = row.strip().split(",")
        if len(fields) > 2 and fields[0].replace(".", "").isdigit():
            values[fields[2]] = float(fields[0])
    us = values.pop("task-clock") * 1000 / calls
    names = {"context-switches": "switches", "sched:sched_wakeup": "wakeups",
             "raw_syscalls:sys_enter": "syscalls"}
    per = {names.get(k, k.replace("syscalls:sys_enter_", "")): v / calls for k, v in values.items()}
    rest = " ".join(f"{k}={v:.2f}" for k, v in per.items() if v >= 0.005)
    return f"{us:.1f} us/call {rest}"
print(f"server {impl}, client {client_impl} [{flags}] calls/s={line['calls_per_sec']:.0f}")
print(f"  server: {stat('server')}")
print(f"  client: {stat('client')}")
PY
rm -r "$out"
