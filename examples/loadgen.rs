//! A load generator: many connections, blocking callers or pipelined `go` calls, for a while;
//! prints one JSON line with the same keys as the Go yardstick in `../shared/bench`.
//!
//! Run against an in-process server: `cargo run --release --example loadgen -- --conns 8 --callers 8`
//! or a running one: `... -- --addr 127.0.0.1:1234 --async 128`.
//!
//! Flags: `--addr A` (default: an in-process server on an ephemeral port), `--conns N` (1),
//! `--callers M` blocking callers per connection (1), `--async K` outstanding `go` calls per
//! connection instead of callers (0), `--duration SECS` (5), `--payload BYTES` (0: calls
//! `Arith.Multiply`; otherwise `Echo.Echo` with that many bytes), `--codec msgpack|json`,
//! `--interval MS` (each blocking caller pauses this long between calls: paced load, or idle
//! connections when longer than the duration).

mod common;

use std::collections::HashMap;
use std::error::Error;
use std::net::TcpListener;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use common::Args;
use crossbeam_channel::bounded;
use hdrhistogram::Histogram;
use netrpc::{Client, Completed, Server};
use serde::{Deserialize, Serialize};

const WARMUP: Duration = Duration::from_millis(500);

/// Go's `EchoArgs` / `EchoReply`: `{"Data": <bytes>}`, bytes as MessagePack `bin`.
#[derive(Serialize, Deserialize)]
struct EchoData {
    #[serde(rename = "Data", with = "serde_bytes")]
    data: Vec<u8>,
}

struct Opts {
    addr: Option<String>,
    conns: usize,
    callers: usize,
    async_k: usize,
    duration: Duration,
    payload: usize,
    json: bool,
    interval: Duration,
}

fn number(name: &str, default: usize) -> Result<usize, Box<dyn Error>> {
    match common::flag(name) {
        Some(v) => Ok(v.parse().map_err(|e| format!("--{name} {v}: {e}"))?),
        None => Ok(default),
    }
}

fn parse() -> Result<Opts, Box<dyn Error>> {
    let secs: f64 =
        common::flag("duration").map_or(Ok(5.0), |v| v.trim_end_matches('s').parse())?;
    let codec = common::flag("codec").unwrap_or_else(|| "msgpack".to_owned());
    if codec != "msgpack" && codec != "json" {
        return Err(format!("--codec must be msgpack or json, not {codec}").into());
    }
    Ok(Opts {
        addr: common::flag("addr"),
        conns: number("conns", 1)?.max(1),
        callers: number("callers", 1)?.max(1),
        async_k: number("async", 0)?,
        duration: Duration::from_secs_f64(secs),
        payload: number("payload", 0)?,
        json: codec == "json",
        interval: Duration::from_millis(number("interval", 0)? as u64),
    })
}

/// One kind of call, checked on return.
#[derive(Clone)]
enum Work {
    Multiply,
    Echo(Vec<u8>),
}

impl Work {
    /// Makes one call and checks its reply.
    fn call(&self, client: &Client) -> bool {
        match self {
            Work::Multiply => client
                .call::<_, i64>("Arith.Multiply", &Args { a: 7, b: 8 })
                .is_ok_and(|r| r == 56),
            Work::Echo(data) => client
                .call::<_, EchoData>("Echo.Echo", &EchoData { data: data.clone() })
                .is_ok_and(|r| r.data.len() == data.len()),
        }
    }

    /// Starts one call completing into `done`; returns its sequence number.
    fn go(
        &self,
        client: &Client,
        done: &crossbeam_channel::Sender<Completed<Reply>>,
    ) -> Option<u64> {
        match self {
            Work::Multiply => client.go_with("Arith.Multiply", &Args { a: 7, b: 8 }, done),
            Work::Echo(data) => client.go_with("Echo.Echo", &EchoData { data: data.clone() }, done),
        }
        .ok()
    }
}

/// Either reply, so that one done channel serves both kinds of work.
#[derive(Deserialize)]
#[serde(untagged)]
enum Reply {
    Product(i64),
    Echo(EchoData),
}

impl Reply {
    fn is_right(&self, work: &Work) -> bool {
        match (self, work) {
            (Reply::Product(p), Work::Multiply) => *p == 56,
            (Reply::Echo(e), Work::Echo(data)) => e.data.len() == data.len(),
            _ => false,
        }
    }
}

struct Window {
    start: Instant,
    end: Instant,
}

impl Window {
    fn holds(&self, t0: Instant, t1: Instant) -> bool {
        t0 >= self.start && t1 <= self.end
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds")
}

fn sync_caller(
    client: &Client,
    work: &Work,
    window: &Window,
    interval: Duration,
) -> (Histogram<u64>, u64) {
    let mut hist = histogram();
    let mut failures = 0;
    loop {
        let t0 = Instant::now();
        if t0 > window.end {
            break;
        }
        let ok = work.call(client);
        let t1 = Instant::now();
        if !ok {
            failures += 1;
        } else if window.holds(t0, t1) {
            let _ = hist.record(t1.duration_since(t0).as_nanos() as u64);
        }
        if !interval.is_zero() {
            thread::sleep(interval.min(window.end.saturating_duration_since(Instant::now())));
        }
    }
    (hist, failures)
}

fn async_caller(
    client: &Client,
    work: &Work,
    outstanding: usize,
    window: &Window,
) -> (Histogram<u64>, u64) {
    let mut hist = histogram();
    let mut failures = 0;
    let (tx, rx) = bounded(outstanding);
    let mut started: HashMap<u64, Instant> = HashMap::with_capacity(outstanding);
    for _ in 0..outstanding {
        if let Some(seq) = work.go(client, &tx) {
            started.insert(seq, Instant::now());
        }
    }
    let mut stopping = false;
    while !started.is_empty() {
        let Ok(done) = rx.recv_timeout(Duration::from_secs(30)) else {
            failures += started.len() as u64;
            break;
        };
        let now = Instant::now();
        let t0 = started.remove(&done.seq).unwrap_or(now);
        match done.result {
            Ok(reply) if reply.is_right(work) => {
                if window.holds(t0, now) {
                    let _ = hist.record(now.duration_since(t0).as_nanos() as u64);
                }
            }
            _ => failures += 1,
        }
        stopping |= now > window.end;
        if !stopping {
            if let Some(seq) = work.go(client, &tx) {
                started.insert(seq, Instant::now());
            }
        }
    }
    (hist, failures)
}

fn max_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn Error>> {
    let opts = parse()?;
    let addr = match &opts.addr {
        Some(addr) => addr.clone(),
        None => {
            let server = Server::new();
            common::register(&server)?;
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let addr = listener.local_addr()?.to_string();
            let json = opts.json;
            thread::spawn(move || {
                if json {
                    netrpc::jsonrpc::accept(&server, &listener)
                } else {
                    server.accept(&listener)
                }
            });
            addr
        }
    };
    let work = if opts.payload > 0 {
        Work::Echo((0..opts.payload).map(|i| i as u8).collect())
    } else {
        Work::Multiply
    };
    let clients = (0..opts.conns)
        .map(|_| {
            let client = if opts.json {
                netrpc::jsonrpc::dial(&addr)?
            } else {
                Client::dial(&addr)?
            };
            if !work.call(&client) {
                return Err(format!("the warm-up call to {addr} failed").into());
            }
            Ok(client)
        })
        .collect::<Result<Vec<_>, Box<dyn Error>>>()?;

    let start = Instant::now() + WARMUP;
    let window = Window {
        start,
        end: start + opts.duration,
    };
    let total = Mutex::new((histogram(), 0u64));
    thread::scope(|s| {
        for client in &clients {
            let threads = if opts.async_k > 0 { 1 } else { opts.callers };
            for _ in 0..threads {
                let (work, window, total) = (&work, &window, &total);
                s.spawn(move || {
                    let (hist, failures) = if opts.async_k > 0 {
                        async_caller(client, work, opts.async_k, window)
                    } else {
                        sync_caller(client, work, window, opts.interval)
                    };
                    let mut total = total.lock().unwrap_or_else(|e| e.into_inner());
                    let _ = total.0.add(&hist);
                    total.1 += failures;
                });
            }
        }
    });
    let (hist, failures) = total.into_inner().unwrap_or_else(|e| e.into_inner());
    if failures > 0 {
        eprintln!("WARNING: {failures} failed calls");
    }
    let secs = opts.duration.as_secs_f64();
    let us = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "{}",
        serde_json::json!({
            "impl": "netrpc",
            "codec": if opts.json { "json" } else { "msgpack" },
            "conns": opts.conns,
            "callers": if opts.async_k > 0 { 0 } else { opts.callers },
            "async": opts.async_k,
            "payload": opts.payload,
            "calls": hist.len(),
            "secs": secs,
            "calls_per_sec": hist.len() as f64 / secs,
            "p50_us": us(0.50),
            "p99_us": us(0.99),
            "max_rss_kb": max_rss_kb(),
            "failures": failures,
        })
    );
    Ok(())
}
