#!/usr/bin/env bash
# CPU time and context switches per call, server and client process, measured by `perf stat`.
# Needs perf, benches/scripts/compare.sh to have built the Go yardstick and the floor into
# /tmp/netrpc-bench, and cargo build --release --examples. Run from the project root.
# usage: benches/scripts/cpu_per_call.sh netrpc|go|thread-floor|floor "--conns 8 --callers 8"
# thread-floor (benches/thread_floor, built here) serves only Work.Sleep, driven by netrpc's loadgen.
# floor is compare.sh's raw TCP ping-pong (no RPC at all), server and client, built by compare.sh.
set -euo pipefail
TARGET=${CARGO_TARGET_DIR:-target}
impl=$1; flags=$2; secs=3
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
addr=127.0.0.1:$port
if [ "$impl" = netrpc ] || [ "$impl" = thread-floor ]; then
  if [ "$impl" = netrpc ]; then
    "$TARGET/release/examples/arith_server" --addr "$addr" >/dev/null &
  else
    cargo build -q --release --manifest-path benches/thread_floor/Cargo.toml
    benches/thread_floor/target/release/thread-floor --addr "$addr" >/dev/null &
  fi
  client="$TARGET/release/examples/loadgen --addr $addr --duration $secs $flags"
else
  bin=/tmp/netrpc-bench/go-netrpcbench
  [ "$impl" = floor ] && bin=/tmp/netrpc-bench/floor
  "$bin" -mode server -addr "$addr" 2>/dev/null &
  client="$bin -mode client -addr $addr -duration ${secs}s ${flags//--/-}"
fi
srv=$!
trap 'kill $srv 2>/dev/null || true' EXIT
sleep 0.5
out=$(mktemp -d)
perf stat -e task-clock,context-switches -x, -p "$srv" -o "$out/server" &
stat=$!
# shellcheck disable=SC2086
perf stat -e task-clock,context-switches -x, -o "$out/client" $client >"$out/line"
kill -INT $stat; wait $stat || true
python3 - "$impl" "$flags" "$out" "$secs" <<'EOF'
import json, sys
impl, flags, out, secs = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
line = json.load(open(f"{out}/line"))
# Both processes also run during the 0.5 s warm-up before the measured window.
calls = line["calls"] * (secs + 0.5) / secs
def stat(who):
    values = {}
    for row in open(f"{out}/{who}"):
        fields = row.strip().split(",")
        if len(fields) > 2 and fields[0].replace(".", "").isdigit():
            values[fields[2]] = float(fields[0])
    return values["task-clock"] * 1000 / calls, values["context-switches"] / calls
s_us, s_cs = stat("server")
c_us, c_cs = stat("client")
print(f"{impl} [{flags}] calls/s={line['calls_per_sec']:.0f} "
      f"server: {s_us:.1f} us/call {s_cs:.2f} switches/call; "
      f"client: {c_us:.1f} us/call {c_cs:.2f} switches/call")
EOF
rm -r "$out"
