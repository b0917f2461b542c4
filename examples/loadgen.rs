//! A load generator: many connections, blocking callers or pipelined `go` calls, for a while;
//! prints one JSON line with the same keys as the Go yardstick in `benches/go_netrpc`.
//!
//! Run against an in-process server: `cargo run --release --example loadgen -- --conns 8 --callers 8`
//! or a running one: `... -- --addr 127.0.0.1:1234 --async 128`.
//!
//! Flags: `--addr A` (default: an in-process server on an ephemeral port), `--conns N` (1),
//! `--callers M` blocking callers per connection (1), `--async K` outstanding `go` calls per
//! connection instead of callers (0), `--duration SECS` (5), `--payload BYTES` (0: calls
//! `Arith.Multiply`; otherwise `Echo.Echo` with that many bytes), `--sleep-us N` (calls
//! `Work.Sleep`, a method that blocks N µs, instead), `--codec msgpack|json|gob`,
//! `--interval MS` (paced load instead: every connection makes one call per interval, started
//! with `go` by a few pacer threads, so that 10,000 connections need no caller thread each; an
//! interval longer than the duration leaves the connections idle), `--idle SECS` (0: the
//! connections idle that long before the load and again after it, and the line reports this
//! process's RSS at the end of each spell as `rss_idle_before_kb` and `rss_idle_after_kb`).

mod common;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::error::Error;
use std::net::TcpListener;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use common::{Args, CommandLine, SleepArgs};
use crossbeam_channel::bounded;
use hdrhistogram::Histogram;
use netrpc::{Client, Completed, Server};
use serde::{Deserialize, Serialize};

const WARMUP: Duration = Duration::from_millis(500);

/// Go's `EchoArgs`, `{"Data": <bytes>}` (bytes as MessagePack `bin`, sent without a copy),
/// plus the index of the connection sending it, which `Echo.Echo` returns with the rest.
#[derive(Serialize)]
struct EchoArgs<'a> {
    #[serde(rename = "Data", with = "serde_bytes")]
    data: &'a [u8],
    #[serde(rename = "Conn")]
    conn: usize,
}

/// Go's `EchoReply`, with the connection index sent.
#[derive(Deserialize)]
struct EchoData {
    #[serde(rename = "Data", with = "serde_bytes")]
    data: Vec<u8>,
    #[serde(rename = "Conn", default)]
    conn: usize,
}

/// The wire the load is sent in.
#[derive(Clone, Copy, PartialEq)]
enum Codec {
    Msgpack,
    Json,
    Gob,
}

impl Codec {
    fn name(self) -> &'static str {
        match self {
            Codec::Msgpack => "msgpack",
            Codec::Json => "json",
            Codec::Gob => "gob",
        }
    }
}

struct Opts {
    addr: Option<String>,
    conns: usize,
    callers: usize,
    async_k: usize,
    duration: Duration,
    payload: usize,
    codec: Codec,
    interval: Duration,
    sleep_us: u64,
    idle: Duration,
}

fn number(args: &CommandLine, name: &str, default: usize) -> Result<usize, Box<dyn Error>> {
    match args.flag(name) {
        Some(v) => Ok(v.parse().map_err(|e| format!("--{name} {v}: {e}"))?),
        None => Ok(default),
    }
}

fn parse(args: &CommandLine) -> Result<Opts, Box<dyn Error>> {
    let secs: f64 = args
        .flag("duration")
        .map_or(Ok(5.0), |v| v.trim_end_matches('s').parse())?;
    let codec = args.flag("codec").unwrap_or_else(|| "msgpack".to_owned());
    let codec = match codec.as_str() {
        "msgpack" => Codec::Msgpack,
        "json" => Codec::Json,
        "gob" => Codec::Gob,
        _ => return Err(format!("--codec must be msgpack, json or gob, not {codec}").into()),
    };
    let sleep_us = number(args, "sleep-us", 0)? as u64;
    let interval = Duration::from_millis(number(args, "interval", 0)? as u64);
    if sleep_us > 0 && !interval.is_zero() {
        return Err(
            "--sleep-us cannot be paced with --interval: Work.Sleep's reply names no \
                    connection for the shared done channel"
                .into(),
        );
    }
    Ok(Opts {
        addr: args.flag("addr"),
        conns: number(args, "conns", 1)?.max(1),
        callers: number(args, "callers", 1)?.max(1),
        async_k: number(args, "async", 0)?,
        duration: Duration::from_secs_f64(secs),
        payload: number(args, "payload", 0)?,
        codec,
        interval,
        sleep_us,
        idle: Duration::from_secs_f64(
            args.flag("idle")
                .map_or(Ok(0.0), |v| v.trim_end_matches('s').parse())?,
        ),
    })
}

/// One kind of call, checked on return. Each call names the connection that makes it
/// (`Multiply` multiplies its index by 7, `Echo` sends it along), so that a reply on a done
/// channel shared by many connections finds its connection again.
/// (`Sleep` cannot: its reply is the time slept, so it is not paced.)
enum Work {
    Multiply,
    Echo(Vec<u8>),
    Sleep(u64),
}

impl Work {
    /// The method called, as the JSON line names it.
    fn method(&self) -> &'static str {
        match self {
            Work::Multiply => "Arith.Multiply",
            Work::Echo(_) => "Echo.Echo",
            Work::Sleep(_) => "Work.Sleep",
        }
    }

    /// Makes one call from connection `conn` and checks its reply.
    fn call(&self, client: &Client, conn: usize) -> bool {
        let reply = match self {
            Work::Multiply => client
                .call(self.method(), &Args::for_conn(conn))
                .map(Reply::Product),
            Work::Echo(data) => client
                .call(self.method(), &EchoArgs { data, conn })
                .map(Reply::Echo),
            Work::Sleep(micros) => client
                .call(self.method(), &SleepArgs { micros: *micros })
                .map(Reply::Product),
        };
        reply.is_ok_and(|reply| reply.answers(self, conn))
    }

    /// The first call, which checks that the server answers: the work itself, but an echo
    /// sends nothing, so that `--idle`'s first reading comes before any large message.
    fn warm_up(&self, client: &Client, conn: usize) -> bool {
        match self {
            Work::Echo(_) => Work::Echo(Vec::new()).call(client, conn),
            work => work.call(client, conn),
        }
    }

    /// Starts one call from connection `conn`, completing into `done`; returns its sequence
    /// number.
    fn go(
        &self,
        client: &Client,
        conn: usize,
        done: &crossbeam_channel::Sender<Completed<Reply>>,
    ) -> Option<u64> {
        match self {
            Work::Multiply => client.go_with(self.method(), &Args::for_conn(conn), done),
            Work::Echo(data) => client.go_with(self.method(), &EchoArgs { data, conn }, done),
            Work::Sleep(micros) => {
                client.go_with(self.method(), &SleepArgs { micros: *micros }, done)
            }
        }
        .ok()
    }
}

impl Args {
    fn for_conn(conn: usize) -> Args {
        Args {
            a: conn as i64,
            b: 7,
        }
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
    /// Whether this is the right reply to `work` from connection `conn`.
    fn answers(&self, work: &Work, conn: usize) -> bool {
        match (self, work) {
            (Reply::Product(p), Work::Sleep(micros)) => u64::try_from(*p) == Ok(*micros),
            _ => self.conn(work) == Some(conn),
        }
    }

    /// The connection that made the call, if this is the right reply to it.
    fn conn(&self, work: &Work) -> Option<usize> {
        match (self, work) {
            (Reply::Product(p), Work::Multiply) if p % 7 == 0 => usize::try_from(p / 7).ok(),
            (Reply::Echo(e), Work::Echo(data)) if e.data.len() == data.len() => Some(e.conn),
            _ => None,
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
    conn: usize,
    work: &Work,
    window: &Window,
) -> (Histogram<u64>, u64) {
    let mut hist = histogram();
    let mut failures = 0;
    loop {
        let t0 = Instant::now();
        if t0 > window.end {
            break;
        }
        let ok = work.call(client, conn);
        let t1 = Instant::now();
        if !ok {
            failures += 1;
        } else if window.holds(t0, t1) {
            let _ = hist.record(t1.duration_since(t0).as_nanos() as u64);
        }
    }
    (hist, failures)
}

fn async_caller(
    client: &Client,
    conn: usize,
    work: &Work,
    outstanding: usize,
    window: &Window,
) -> (Histogram<u64>, u64) {
    let mut hist = histogram();
    let mut failures = 0;
    let (tx, rx) = bounded(outstanding);
    let mut started: HashMap<u64, Instant> = HashMap::with_capacity(outstanding);
    for _ in 0..outstanding {
        if let Some(seq) = work.go(client, conn, &tx) {
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
            Ok(reply) if reply.answers(work, conn) => {
                if window.holds(t0, now) {
                    let _ = hist.record(now.duration_since(t0).as_nanos() as u64);
                }
            }
            _ => failures += 1,
        }
        stopping |= now > window.end;
        if !stopping {
            if let Some(seq) = work.go(client, conn, &tx) {
                started.insert(seq, Instant::now());
            }
        }
    }
    (hist, failures)
}

/// Drives `clients` (connection indexes from `first`): each makes one call per `interval`,
/// the first ones spread evenly over the first interval, the next one an interval after the
/// last was due, or at once if its reply came later than that.
fn pacer(
    clients: &[Client],
    first: usize,
    conns: usize,
    work: &Work,
    window: &Window,
    interval: Duration,
) -> (Histogram<u64>, u64) {
    let mut hist = histogram();
    let mut failures = 0;
    let (tx, rx) = bounded(clients.len());
    // Per connection: when its call in flight started, and when it was due.
    let mut in_flight: Vec<Option<(Instant, Instant)>> = vec![None; clients.len()];
    let mut outstanding = 0;
    let mut due: BinaryHeap<Reverse<(Instant, usize)>> = (0..clients.len())
        .map(|i| {
            Reverse((
                window.start + interval.mul_f64((first + i) as f64 / conns as f64),
                i,
            ))
        })
        .collect();
    loop {
        let now = Instant::now();
        while let Some(&Reverse((at, i))) = due.peek() {
            if at > now || at > window.end {
                break;
            }
            due.pop();
            if work.go(&clients[i], first + i, &tx).is_some() {
                in_flight[i] = Some((Instant::now(), at));
                outstanding += 1;
            } else {
                failures += 1;
            }
        }
        let next = match due.peek() {
            Some(&Reverse((at, _))) if at <= window.end => at,
            _ if outstanding == 0 => break,
            // Nothing more to start: wait for the stragglers, for a bounded time.
            _ => window.end + Duration::from_secs(30),
        };
        let done = match rx.recv_deadline(next) {
            Ok(done) => done,
            Err(_) if next > window.end => break,
            Err(_) => continue,
        };
        let now = Instant::now();
        let index = done.result.ok().and_then(|reply| reply.conn(work));
        let Some(i) = index.and_then(|index| index.checked_sub(first)) else {
            // An error does not say which connection it came from: that one stops calling.
            failures += 1;
            outstanding -= 1;
            continue;
        };
        let Some((t0, at)) = in_flight.get_mut(i).and_then(Option::take) else {
            failures += 1;
            continue;
        };
        outstanding -= 1;
        if window.holds(t0, now) {
            let _ = hist.record(now.duration_since(t0).as_nanos() as u64);
        }
        due.push(Reverse(((at + interval).max(now), i)));
    }
    failures += outstanding as u64;
    (hist, failures)
}

/// A figure of this process's `/proc/self/status` in KiB: `VmHWM` (peak RSS) or `VmRSS`.
fn status_kb(name: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with(name))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

/// Sleeps `idle`, then gives this process's RSS in KiB.
fn rss_after_idling(idle: Duration) -> u64 {
    thread::sleep(idle);
    status_kb("VmRSS:")
}

const USAGE: &str = "usage: loadgen [--addr HOST:PORT] [--conns N] [--callers M | --async K]
               [--duration SECS] [--payload BYTES | --sleep-us N] [--interval MS]
               [--codec msgpack|json|gob] [--idle SECS]

Drives --addr (an in-process server if none) for --duration and prints one JSON line of
calls per second and latency percentiles. See the top of examples/loadgen.rs for each flag.";

fn main() -> Result<(), Box<dyn Error>> {
    let args = CommandLine::read(
        USAGE,
        &[
            "addr", "conns", "callers", "async", "duration", "payload", "sleep-us", "codec",
            "interval", "idle",
        ],
        &[],
    );
    let opts = parse(&args)?;
    let addr = match &opts.addr {
        Some(addr) => addr.clone(),
        None => {
            let server = Server::new();
            common::register(&server)?;
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let addr = listener.local_addr()?.to_string();
            // The server tells each connection's wire from its first bytes.
            thread::spawn(move || server.accept(&listener));
            addr
        }
    };
    let work = if opts.sleep_us > 0 {
        Work::Sleep(opts.sleep_us)
    } else if opts.payload > 0 {
        Work::Echo((0..opts.payload).map(|i| i as u8).collect())
    } else {
        Work::Multiply
    };
    let clients = (0..opts.conns)
        .map(|conn| {
            let client = match opts.codec {
                Codec::Json => netrpc::jsonrpc::dial(&addr)?,
                Codec::Gob => netrpc::gob::dial(&addr)?,
                Codec::Msgpack => Client::dial(&addr)?,
            };
            if !work.warm_up(&client, conn) {
                return Err(format!("the warm-up call to {addr} failed").into());
            }
            Ok(client)
        })
        .collect::<Result<Vec<_>, Box<dyn Error>>>()?;
    let rss_idle_before_kb = rss_after_idling(opts.idle);

    let start = Instant::now() + WARMUP;
    let window = Window {
        start,
        end: start + opts.duration,
    };
    let total = Mutex::new((histogram(), 0u64));
    let add = |(hist, failures): (Histogram<u64>, u64)| {
        let mut total = total.lock().unwrap_or_else(|e| e.into_inner());
        let _ = total.0.add(&hist);
        total.1 += failures;
    };
    let (work, window) = (&work, &window);
    thread::scope(|s| {
        if !opts.interval.is_zero() {
            let pacers = thread::available_parallelism().map_or(2, |n| n.get());
            let per_pacer = clients.len().div_ceil(pacers);
            for (n, chunk) in clients.chunks(per_pacer).enumerate() {
                let first = n * per_pacer;
                s.spawn(move || add(pacer(chunk, first, opts.conns, work, window, opts.interval)));
            }
            return;
        }
        for (conn, client) in clients.iter().enumerate() {
            if opts.async_k > 0 {
                s.spawn(move || add(async_caller(client, conn, work, opts.async_k, window)));
                continue;
            }
            for _ in 0..opts.callers {
                s.spawn(move || add(sync_caller(client, conn, work, window)));
            }
        }
    });
    let rss_idle_after_kb = rss_after_idling(opts.idle);
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
            "codec": opts.codec.name(),
            "method": work.method(),
            "conns": opts.conns,
            "callers": if opts.async_k > 0 { 0 } else { opts.callers },
            "async": opts.async_k,
            "payload": opts.payload,
            "calls": hist.len(),
            "secs": secs,
            "calls_per_sec": hist.len() as f64 / secs,
            "p50_us": us(0.50),
            "p99_us": us(0.99),
            "max_rss_kb": status_kb("VmHWM:"),
            "rss_idle_before_kb": rss_idle_before_kb,
            "rss_idle_after_kb": rss_idle_after_kb,
            "failures": failures,
        })
    );
    Ok(())
}
