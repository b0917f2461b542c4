#!/usr/bin/env bash
# Needs benches/scripts/compare.sh to have built the Go yardstick into /tmp/netrpc-bench, and
# cargo build --release --examples. Run from the project root.
# Server RSS per idle connection: RSS while N connections are held, minus RSS before. netrpc's
# connections make their first call spread over INTERVAL ms (default 100000: most are still
# silent when RSS is read; 4000: each has made one call, as Go's hold mode does).
# usage: [INTERVAL=ms] benches/scripts/idle_rss.sh netrpc|go [N]
impl=$1; n=${2:-1000}
TARGET=${CARGO_TARGET_DIR:-target}
ulimit -n 20000 2>/dev/null
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
if [ $impl = netrpc ]; then "$TARGET/release/examples/arith_server" --addr 127.0.0.1:$port >/dev/null & else /tmp/netrpc-bench/go-netrpcbench -mode server -addr 127.0.0.1:$port 2>/dev/null & fi
srv=$!; sleep 0.5
rss() { awk '/VmRSS/{print $2}' /proc/$srv/status; }
before=$(rss)
if [ $impl = netrpc ]; then "$TARGET/release/examples/loadgen" --addr 127.0.0.1:$port --conns $n --interval ${INTERVAL:-100000} --duration 6 >/dev/null & else /tmp/netrpc-bench/go-netrpcbench -mode hold -addr 127.0.0.1:$port -conns $n -duration 6s >/dev/null & fi
cl=$!; sleep 4.5
during=$(rss); threads=$(ls /proc/$srv/task | wc -l)
wait $cl; kill $srv
python3 -c "print('$impl idle conns=$n server_rss_before_kb=$before during_kb=$during per_conn_kib=%.1f server_threads=$threads' % (($during-$before)/$n))"
