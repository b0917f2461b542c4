#!/usr/bin/env bash
# N connections, each calling once per interval, against examples/arith_server in its own
# process: the loadgen JSON line, then the server's threads halfway through and its peak RSS.
# Needs cargo build --release --examples. Run from the project root.
# usage: benches/scripts/many_conns.sh [N] [SECS] [INTERVAL_MS]
set -euo pipefail
n=${1:-10000}; secs=${2:-30}; interval=${3:-1000}
TARGET=${CARGO_TARGET_DIR:-target}
# Each side holds one descriptor per connection.
ulimit -n $((n + 1000))
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
"$TARGET/release/examples/arith_server" --addr 127.0.0.1:$port >/dev/null &
srv=$!
trap 'kill $srv 2>/dev/null || true' EXIT
sleep 0.5
"$TARGET/release/examples/loadgen" --addr 127.0.0.1:$port --conns "$n" --interval "$interval" \
  --duration "$secs" &
gen=$!
sleep $((secs / 2))
threads=$(ls /proc/$srv/task | wc -l)
wait $gen
echo "server: $threads threads halfway, peak RSS $(awk '/VmHWM/{print $2}' /proc/$srv/status) kB"
