#!/usr/bin/env bash
# Memory held after large messages: one connection idles, sends CALLS... (for DUR seconds) echo
# calls of PAYLOAD bytes (default 10 MiB), then idles again; prints the server's and the
# client's RSS at the end of each idle spell. Needs cargo build --release --examples; run from
# the project root.
# usage: [PAYLOAD=bytes] [DUR=secs] [IDLE=secs] [CODEC=msgpack|json|gob] benches/scripts/big_rss.sh
set -euo pipefail
TARGET=${CARGO_TARGET_DIR:-target}
payload=${PAYLOAD:-10485760}; dur=${DUR:-1}; idle=${IDLE:-3}; codec=${CODEC:-msgpack}
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
"$TARGET/release/examples/arith_server" --addr 127.0.0.1:$port >/dev/null &
srv=$!
trap 'kill $srv 2>/dev/null || true' EXIT
sleep 0.5
rss() { awk '/VmRSS/{print $2}' /proc/$srv/status; }
out=$(mktemp)
"$TARGET/release/examples/loadgen" --addr 127.0.0.1:$port --payload "$payload" --codec "$codec" \
  --duration "$dur" --idle "$idle" >"$out" &
cl=$!
# The client's spells end after its warm-up call + idle, and after the load + idle: read the
# server a little before each end.
sleep "$(python3 -c "print($idle - 0.4)")"; server_before=$(rss)
sleep "$(python3 -c "print(0.9 + $dur + $idle)")"; server_after=$(rss)
wait $cl
python3 - "$out" "$server_before" "$server_after" <<'PY'
import json, sys
line = json.load(open(sys.argv[1]))
sb, sa = int(sys.argv[2]), int(sys.argv[3])
cb, ca = line["rss_idle_before_kb"], line["rss_idle_after_kb"]
print(f"{line['codec']} payload={line['payload']} calls={line['calls']} "
      f"server idle rss: before {sb} KiB, after {sa} KiB ({sa / sb:.2f}x); "
      f"client idle rss: before {cb} KiB, after {ca} KiB ({ca / cb:.2f}x), peak {line['max_rss_kb']} KiB")
PY
rm "$out"
