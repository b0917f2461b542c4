#!/usr/bin/env bash
# Needs ../shared/bench/compare.sh to have built the Go yardstick into /tmp/netrpc-bench, and
# cargo build --release --examples. Run from the project root.
# CPU microseconds per call, server and client process.
# usage: benches/scripts/cpu_per_call.sh netrpc|go "--conns 8 --callers 8"
impl=$1; flags=$2
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
if [ $impl = netrpc ]; then ./target/release/examples/arith_server --addr 127.0.0.1:$port >/dev/null & else /tmp/netrpc-bench/go-netrpcbench -mode server -addr 127.0.0.1:$port 2>/dev/null & fi
srv=$!; sleep 0.5
cpu() { awk '{print $14+$15}' /proc/$1/stat; }
b=$(cpu $srv)
if [ $impl = netrpc ]; then cmd="./target/release/examples/loadgen --addr 127.0.0.1:$port --duration 3 $flags"; else cmd="/tmp/netrpc-bench/go-netrpcbench -mode client -addr 127.0.0.1:$port -duration 3s $(echo $flags | sed 's/--/-/g')"; fi
out=$( { /usr/bin/time -f "CLIENTCPU %U %S" $cmd; } 2>&1 )
a=$(cpu $srv); kill $srv
line=$(echo "$out" | grep '^{'); ccpu=$(echo "$out" | awk '/CLIENTCPU/{print $2+$3}')
calls=$(echo "$line" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(int(d["calls"]))')
python3 -c "print('$impl [$flags] calls/s=%d server_us/call=%.2f client_us/call=%.2f' % ($calls/3, ($a-$b)*10000/$calls, $ccpu*1e6/$calls))"
