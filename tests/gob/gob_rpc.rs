//! Go's net/rpc with its gob codec against netrpc, both ways, over TCP and HTTP.
//!
//! The Go peer (`tests/peers/gorpc/main.go`, standard library only) is built at test time into the
//! target directory. Without a Go toolchain these tests fail with a clear message. Every wait
//! is bounded: each Go program is killed after [`GO_WAIT`].

#![cfg(feature = "gob")]

use crate::common;

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{assert_has_lines, spawn_announcing, Args, Quotient, WAIT};
use netrpc::gob::Time;
use netrpc::{Client, Error, Server, Service};
use serde::{Deserialize, Serialize};

/// The longest a Go program may run.
const GO_WAIT: Duration = Duration::from_secs(60);

/// The Go peer, built once per test run.
fn go_peer() -> PathBuf {
    common::go_program("gorpc")
}

/// Runs the Go peer with `args` to its end, killing it after [`GO_WAIT`]; its stdout.
fn run_go(args: &[&str]) -> String {
    run_bounded(Command::new(go_peer()).args(args))
}

/// Runs `command` to its end, killing it after [`GO_WAIT`]; its stdout. Fails unless it
/// succeeds.
fn run_bounded(command: &mut Command) -> String {
    let args = format!("{command:?}");
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {args}: {e}"));
    let mut stdout = child.stdout.take().unwrap();
    let reader = thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let deadline = Instant::now() + GO_WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args} ran past {GO_WAIT:?}");
        }
        thread::sleep(Duration::from_millis(20));
    };
    let out = reader.join().unwrap();
    let mut err = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut err);
    assert!(
        status.success(),
        "the Go peer {args:?} failed:\n{out}\n{err}"
    );
    out
}

/// A Go server, killed when dropped.
struct GoServer {
    child: Child,
    addr: SocketAddr,
}

impl GoServer {
    fn start(mode: &str) -> GoServer {
        let (child, addr) = spawn_announcing(Command::new(go_peer()).args(["-mode", mode]));
        GoServer { child, addr }
    }
}

impl Drop for GoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone, Default)]
#[serde(rename_all = "PascalCase")]
struct Point {
    x: i64,
    y: i64,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone, Default)]
#[serde(rename_all = "PascalCase")]
struct Inner {
    name: String,
    pts: Vec<Point>,
    p: Option<Point>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone, Default)]
#[serde(rename_all = "PascalCase")]
struct Everything {
    i: i64,
    i64: i64,
    u: u64,
    u64: u64,
    f32: f32,
    f64: f64,
    b: bool,
    s: String,
    #[serde(with = "serde_bytes")]
    bytes: Vec<u8>,
    nested: Inner,
    structs: Vec<Point>,
    by_name: BTreeMap<String, Point>,
    by_num: BTreeMap<i64, String>,
    arr: [i64; 3],
    ptr: Option<Point>,
    nil_ptr: Option<Point>,
    empty: Vec<Point>,
    empty_map: BTreeMap<String, Point>,
    zero: Point,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone, Default)]
struct Blob {
    #[serde(rename = "Data", with = "serde_bytes")]
    data: Vec<u8>,
}

fn megabyte() -> Vec<u8> {
    (0..1 << 20).map(|i: u32| (i * 7) as u8).collect()
}

/// The Go peer's `sample()`.
fn sample() -> Everything {
    Everything {
        i: -1 << 40,
        i64: i64::MIN,
        u: 1 << 40,
        u64: u64::MAX,
        f32: 1.5,
        f64: -3.25e100,
        b: true,
        s: "héllo, 世界 🚀".into(),
        bytes: megabyte(),
        nested: Inner {
            name: "in".into(),
            pts: vec![Point { x: 1, y: 2 }, Point { x: -3, y: 4 }],
            p: Some(Point { x: 5, y: 6 }),
        },
        structs: vec![
            Point { x: 7, y: 8 },
            Point::default(),
            Point { x: 9, y: -10 },
        ],
        by_name: [
            ("a".into(), Point { x: 1, y: 1 }),
            ("b".into(), Point::default()),
        ]
        .into(),
        by_num: [(-1, "minus one".into()), (42, "answer".into())].into(),
        arr: [1, -2, 3],
        ptr: Some(Point { x: 11, y: 12 }),
        ..Default::default()
    }
}

struct Kinds;

impl Kinds {
    fn echo(&self, e: Everything) -> Result<Everything, String> {
        Ok(e)
    }
    fn bytes(&self, b: Blob) -> Result<Blob, String> {
        Ok(b)
    }
    fn points(&self, n: i64) -> Result<Vec<Point>, String> {
        Ok((0..n).map(|i| Point { x: i, y: -i }).collect())
    }
    fn len(&self, pts: Vec<Point>) -> Result<i64, String> {
        Ok(pts.len() as i64)
    }
    fn names(&self, n: i64) -> Result<BTreeMap<String, Point>, String> {
        Ok((0..n)
            .map(|i| (format!("p{i}"), Point { x: i, y: i }))
            .collect())
    }
    fn zero(&self, _: Point) -> Result<Point, String> {
        Ok(Point::default())
    }
    fn circle(&self, r: f64) -> Result<CircleShape, String> {
        Ok(CircleShape {
            name: "circle".into(),
            circle: Circle { r },
        })
    }
    fn later(&self, m: Moment) -> Result<Moment, String> {
        Ok(Moment {
            at: later(m.at, m.secs),
            secs: 0,
            zero: m.zero,
            ptr: m.ptr,
        })
    }
    fn radius(&self, shape: Shape) -> Result<f64, String> {
        match shape.any.get("R") {
            Some(netrpc::gob::Value::Float(r)) => Ok(*r),
            other => Err(format!("not a circle: {other:?}")),
        }
    }
}

/// Go's `Moment{At time.Time; Secs int64; Zero time.Time}`.
#[derive(Serialize, Deserialize, Debug, PartialEq, Default)]
#[serde(rename_all = "PascalCase")]
struct Moment {
    at: Time,
    secs: i64,
    zero: Time,
    ptr: Option<Time>,
}

/// `t` moved by `secs` seconds, in its own zone.
fn later(t: Time, secs: i64) -> Time {
    let moved = Time::from_unix(t.unix_seconds() + secs, t.nanosecond());
    match t.offset() {
        Some(offset) => moved.with_offset(offset).unwrap(),
        None => moved,
    }
}

/// What Go's `Kinds.Circle` replies, in a struct of its own: netrpc cannot send interface
/// values, so its `Kinds.Circle` sends the Circle as a field (same field name, so the same
/// decoding into a `gob::Value`).
#[derive(Serialize, Debug)]
struct CircleShape {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Any")]
    circle: Circle,
}

#[derive(Serialize, Debug)]
struct Circle {
    #[serde(rename = "R")]
    r: f64,
}

/// Go's `Shape{Name string; Any interface{}}`, holding a `Circle{R float64}`.
#[derive(Serialize, Deserialize, Debug)]
struct Shape {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Any")]
    any: netrpc::gob::Value,
}

fn server() -> Server {
    let server = Server::new();
    common::register_all(&server);
    server
        .register(
            Service::new(Kinds)
                .method("Echo", Kinds::echo)
                .method("Bytes", Kinds::bytes)
                .method("Points", Kinds::points)
                .method("Len", Kinds::len)
                .method("Names", Kinds::names)
                .method("Zero", Kinds::zero)
                .method("Radius", Kinds::radius)
                .method("Circle", Kinds::circle)
                .method("Later", Kinds::later),
        )
        .unwrap();
    server
}

/// Serves `server` on an ephemeral port with `serve`.
fn serve(serve: fn(&Server, &TcpListener) -> std::io::Result<()>) -> SocketAddr {
    let server = server();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || serve(&server, &listener));
    addr
}

const GO_CLIENT_LINES: &[&str] = &[
    "ok: multiply",
    "ok: divide",
    "ok: divide by zero",
    "ok: unknown method",
    "ok: interface value",
    "ok: unknown service",
    "ok: echo string",
    "ok: every kind",
    "ok: zero struct",
    "ok: 1 MiB payload",
    "ok: empty slice at top level",
    "ok: empty map at top level",
    "ok: zero struct at top level",
    "ok: time.Time",
    "ok: 100 concurrent calls",
];

#[test]
fn a_go_gob_client_calls_a_netrpc_gob_server() {
    let addr = serve(netrpc::gob::accept).to_string();
    let out = run_go(&["-mode", "client", "-addr", &addr]);
    assert_has_lines(&out, GO_CLIENT_LINES);
}

#[test]
fn a_go_gob_client_calls_a_netrpc_server_that_detects_the_wire() {
    let addr = serve(|s, l| s.accept(l)).to_string();
    let out = run_go(&["-mode", "client", "-addr", &addr]);
    assert_has_lines(&out, GO_CLIENT_LINES);
}

#[test]
fn a_go_client_calls_a_netrpc_server_over_http_with_gob() {
    let addr = serve(|s, l| s.serve_http(l)).to_string();
    let out = run_go(&["-mode", "client", "-http", "-addr", &addr]);
    assert_has_lines(&out, GO_CLIENT_LINES);
}

/// The calls of the Go peer's `check`, made by netrpc's client.
fn check(client: &Client) {
    let product: i64 = client
        .call_timeout("Arith.Multiply", &Args { a: 7, b: 8 }, WAIT)
        .unwrap();
    assert_eq!(product, 56);
    let q: Quotient = client
        .call_timeout("Arith.Divide", &Args { a: 15, b: 4 }, WAIT)
        .unwrap();
    assert_eq!(q, Quotient { quo: 3, rem: 3 });
    match client.call_timeout::<_, Quotient>("Arith.Divide", &Args { a: 1, b: 0 }, WAIT) {
        Err(Error::Server(text)) => assert_eq!(text, "divide by zero"),
        other => panic!("expected divide by zero, got {other:?}"),
    }
    match client.call_timeout::<_, i64>("Arith.Nope", &Args { a: 1, b: 0 }, WAIT) {
        Err(Error::Server(text)) => assert_eq!(text, "rpc: can't find method Arith.Nope"),
        other => panic!("expected an unknown method error, got {other:?}"),
    }
    match client.call_timeout::<_, i64>("Nope.Nope", &Args { a: 1, b: 0 }, WAIT) {
        Err(Error::Server(text)) => assert_eq!(text, "rpc: can't find service Nope.Nope"),
        other => panic!("expected an unknown service error, got {other:?}"),
    }
    // The connection goes on after errors.
    let s: String = client
        .call_timeout("Echo.Echo", "héllo, 世界", WAIT)
        .unwrap();
    assert_eq!(s, "héllo, 世界");

    let want = sample();
    let got: Everything = client.call_timeout("Kinds.Echo", &want, WAIT).unwrap();
    assert_eq!(got, want);
    let got: Everything = client
        .call_timeout("Kinds.Echo", &Everything::default(), WAIT)
        .unwrap();
    assert_eq!(got, Everything::default());

    let blob: Blob = client
        .call_timeout("Kinds.Bytes", &Blob { data: megabyte() }, WAIT)
        .unwrap();
    assert_eq!(blob.data, megabyte());

    let pts: Vec<Point> = client.call_timeout("Kinds.Points", &3, WAIT).unwrap();
    assert_eq!(
        pts,
        (0..3).map(|i| Point { x: i, y: -i }).collect::<Vec<_>>()
    );
    let pts: Vec<Point> = client.call_timeout("Kinds.Points", &0, WAIT).unwrap();
    assert!(pts.is_empty());
    let n: i64 = client
        .call_timeout("Kinds.Len", &Vec::<Point>::new(), WAIT)
        .unwrap();
    assert_eq!(n, 0);
    let n: i64 = client
        .call_timeout(
            "Kinds.Len",
            &vec![Point::default(), Point { x: 1, y: 2 }],
            WAIT,
        )
        .unwrap();
    assert_eq!(n, 2);
    let names: BTreeMap<String, Point> = client.call_timeout("Kinds.Names", &0, WAIT).unwrap();
    assert!(names.is_empty());
    let names: BTreeMap<String, Point> = client.call_timeout("Kinds.Names", &2, WAIT).unwrap();
    assert_eq!(names.len(), 2);
    assert_eq!(names["p1"], Point { x: 1, y: 1 });
    let p: Point = client
        .call_timeout("Kinds.Zero", &Point { x: 3, y: 4 }, WAIT)
        .unwrap();
    assert_eq!(p, Point::default());
    // Go defines Circle inside the first reply that holds one, and splits it in two messages.
    for r in [1.5, 3.0] {
        let shape: Shape = client.call_timeout("Kinds.Circle", &r, WAIT).unwrap();
        assert_eq!(shape.any.get("R"), Some(&netrpc::gob::Value::Float(r)));
    }
    // 19:07:00.123456789 at UTC+5:30, and the Moon landing in UTC.
    let at = Time::from_unix(1_796_220_420, 123_456_789)
        .with_offset(19_800)
        .unwrap();
    let landing = Time::from_unix(-14_182_940, 0);
    for (at, secs, ptr) in [(at, 90, Some(Time::default())), (landing, -40, None)] {
        let sent = Moment {
            at,
            secs,
            ptr,
            ..Moment::default()
        };
        let m: Moment = client.call_timeout("Kinds.Later", &sent, WAIT).unwrap();
        assert_eq!(m.at, later(at, secs));
        assert!(m.zero.is_zero());
        assert_eq!(m.ptr, ptr);
    }

    thread::scope(|s| {
        for i in 0..100i64 {
            s.spawn(move || {
                let r: i64 = client
                    .call_timeout("Arith.Multiply", &Args { a: i, b: -3 }, WAIT)
                    .unwrap();
                assert_eq!(r, i * -3);
            });
        }
    });
}

#[test]
fn a_netrpc_gob_client_calls_a_go_server() {
    let go = GoServer::start("server");
    let client = netrpc::gob::dial(go.addr).unwrap();
    check(&client);
}

#[test]
fn a_netrpc_gob_client_calls_a_go_server_over_http() {
    let go = GoServer::start("httpserver");
    let client = netrpc::gob::dial_http(go.addr).unwrap();
    check(&client);
}

#[test]
fn netrpc_gob_client_and_server_agree() {
    let addr = serve(|s, l| s.accept(l));
    check(&netrpc::gob::dial(addr).unwrap());
    let addr = serve(|s, l| s.serve_http(l));
    check(&netrpc::gob::dial_http(addr).unwrap());
}

/// `arith_server`, started once with only `--addr`, killed when dropped.
struct ArithServer(Child, SocketAddr);

impl Drop for ArithServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn arith_server() -> ArithServer {
    let (child, addr) = spawn_announcing(
        Command::new(common::example("arith_server")).args(["--addr", "127.0.0.1:0"]),
    );
    ArithServer(child, addr)
}

#[test]
fn one_arith_server_answers_every_kind_of_client() {
    use std::io::Write;
    let server = arith_server();
    let addr = server.1;

    // Go: rpc.Dial (gob), rpc.DialHTTP (gob after CONNECT), jsonrpc.Dial.
    let out = run_go(&["-mode", "wires", "-addr", &addr.to_string()]);
    assert_has_lines(&out, &["ok: gob", "ok: http", "ok: json"]);

    // MessagePack-RPC: netrpc's own client...
    let client = Client::builder().timeout(Some(WAIT)).dial(addr).unwrap();
    let product: i64 = client.call("Arith.Multiply", &Args { a: 6, b: 7 }).unwrap();
    assert_eq!(product, 42);
    // ...and a foreign one's bytes: [0, 1, "Arith.Multiply", [{"A": 6, "B": 7}]].
    let mut raw = std::net::TcpStream::connect(addr).unwrap();
    raw.set_read_timeout(Some(WAIT)).unwrap();
    let mut request = vec![0x94, 0x00, 0x01, 0xae];
    request.extend_from_slice(b"Arith.Multiply");
    request.extend_from_slice(&[0x91, 0x82, 0xa1, b'A', 0x06, 0xa1, b'B', 0x07]);
    assert_eq!(
        common::exchange(&mut raw, &request, 5),
        [0x94, 0x01, 0x01, 0xc0, 42]
    );
    // ...and Python's msgpack (Debian's python3-msgpack, which .ci/run installs).
    let debian = std::path::Path::new("/usr/bin/python3");
    let interpreter = if debian.exists() {
        debian
    } else {
        "python3".as_ref()
    };
    let python = Command::new(interpreter)
        .args(["-c", PYTHON_MSGPACK, &addr.port().to_string()])
        .output();
    match python {
        Ok(out) if out.status.success() => {
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "42")
        }
        Ok(out) if String::from_utf8_lossy(&out.stderr).contains("No module named") => {
            assert!(
                std::env::var_os("CI").is_none(),
                "python3 has no msgpack module: .ci/run installs python3-msgpack"
            );
            eprintln!("notice: python3 has no msgpack module; skipping the Python client")
        }
        other => panic!("the Python MessagePack-RPC client failed: {other:?}"),
    }

    // HTTP: the debug page.
    let mut http = std::net::TcpStream::connect(addr).unwrap();
    http.set_read_timeout(Some(WAIT)).unwrap();
    http.write_all(b"GET /debug/rpc HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut page = String::new();
    http.read_to_string(&mut page).unwrap();
    assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
    assert!(page.contains("Service Arith"), "{page}");
    assert!(page.contains("Multiply"), "{page}");
}

const PYTHON_MSGPACK: &str = r#"
import socket, sys, msgpack
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(msgpack.packb([0, 7, "Arith.Multiply", [{"A": 6, "B": 7}]]))
u = msgpack.Unpacker()
while True:
    data = s.recv(4096)
    if not data:
        sys.exit("closed")
    u.feed(data)
    for msg in u:
        assert msg[0] == 1 and msg[1] == 7 and msg[2] is None, msg
        print(msg[3])
        sys.exit(0)
"#;

/// What `arith_client` prints against a server with the example services.
fn expect_arith_client_lines(out: &str, addr: SocketAddr) {
    assert_has_lines(
        out,
        &[
            &format!("connected to {addr}"),
            "Arith.Multiply 7*8 = 56",
            "Arith.Divide 15/4 = 3 remainder 3",
            "Arith.Divide 1/0 error: divide by zero",
            "Echo.Echo \"hello, netrpc\"",
        ],
    );
}

fn arith_client(args: &[&str]) -> String {
    run_bounded(Command::new(common::example("arith_client")).args(args))
}

#[test]
fn arith_client_calls_go_gob_servers_and_the_one_port_server() {
    let go = GoServer::start("server");
    let addr = go.addr.to_string();
    expect_arith_client_lines(&arith_client(&["--addr", &addr, "--codec", "gob"]), go.addr);
    let go = GoServer::start("httpserver");
    let addr = go.addr.to_string();
    let out = arith_client(&["--addr", &addr, "--codec", "gob", "--http"]);
    expect_arith_client_lines(&out, go.addr);

    let server = arith_server();
    let addr = server.1.to_string();
    for args in [
        &[][..],
        &["--http"],
        &["--codec", "gob"],
        &["--codec", "gob", "--http"],
        &["--codec", "json"],
    ] {
        let mut all = vec!["--addr", &addr];
        all.extend_from_slice(args);
        expect_arith_client_lines(&arith_client(&all), server.1);
    }
}

#[test]
fn detection_waits_no_longer_than_the_read_timeout() {
    let server = Server::builder()
        .read_timeout(Some(Duration::from_millis(200)))
        .build();
    let addr = common::start_with(server).addr;
    // Nothing at all, and one byte that needs a second (`G` of `GET`, or a gob length).
    for sent in [&b""[..], b"G", b"{"] {
        let mut conn = std::net::TcpStream::connect(addr).unwrap();
        conn.set_read_timeout(Some(WAIT)).unwrap();
        std::io::Write::write_all(&mut conn, sent).unwrap();
        let started = Instant::now();
        let mut buf = [0u8; 64];
        let n = conn.read(&mut buf).unwrap_or(0);
        assert_eq!(n, 0, "after {sent:?}: {:?}", &buf[..n]);
        assert!(started.elapsed() < Duration::from_secs(3), "after {sent:?}");
    }
}

#[test]
fn a_server_pinned_to_one_wire_serves_only_it() {
    let server = Server::builder().wire(netrpc::Wire::Msgpack).build();
    let addr = common::start_with(server).addr;
    let client = Client::builder().timeout(Some(WAIT)).dial(addr).unwrap();
    let product: i64 = client.call("Arith.Multiply", &Args { a: 6, b: 7 }).unwrap();
    assert_eq!(product, 42);
    let gob = netrpc::gob::dial(addr).unwrap();
    assert!(gob
        .call_timeout::<_, i64>("Arith.Multiply", &Args { a: 6, b: 7 }, WAIT)
        .is_err());
}

#[test]
fn argument_lists_and_notifications_are_refused_on_gob() {
    let addr = serve(netrpc::gob::accept);
    let client = netrpc::gob::dial(addr).unwrap();
    let err = client
        .call_timeout::<_, i64>("Arith.Multiply", &netrpc::Params((1, 2)), WAIT)
        .unwrap_err();
    assert!(err.to_string().contains("one argument"), "{err}");
    assert!(client
        .notify("Arith.Multiply", &Args { a: 1, b: 2 })
        .is_err());
    // The connection goes on.
    let product: i64 = client
        .call_timeout("Arith.Multiply", &Args { a: 6, b: 7 }, WAIT)
        .unwrap();
    assert_eq!(product, 42);
}

#[test]
fn a_call_whose_error_cannot_be_sent_closes_the_connection_instead_of_hanging() {
    // Go's reply header echoes the method name: for a name just under the server's limit, even
    // the "can't find service" error is over it.
    let server = Server::builder().max_message_size(64 << 10).build();
    let addr = common::start_with(server).addr;
    let client = netrpc::gob::dial(addr).unwrap();
    let name = "X".repeat((64 << 10) - 100);
    let started = Instant::now();
    let result = client.call_timeout::<_, i64>(&name, &Args { a: 6, b: 7 }, WAIT);
    assert!(
        matches!(result, Err(ref e) if !matches!(e, Error::Timeout)),
        "{result:?}"
    );
    assert!(started.elapsed() < WAIT / 2, "{:?}", started.elapsed());
}

/// A proxy to `target` that forwards nothing of what its one client sends until `release`
/// is signalled: a server slow to read.
fn held_proxy(target: SocketAddr) -> (SocketAddr, crossbeam_channel::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (release, released) = crossbeam_channel::bounded(1);
    thread::spawn(move || {
        let (mut client, _) = listener.accept().unwrap();
        let mut server = std::net::TcpStream::connect(target).unwrap();
        let (mut client_back, mut server_back) =
            (client.try_clone().unwrap(), server.try_clone().unwrap());
        thread::spawn(move || std::io::copy(&mut server_back, &mut client_back));
        if released.recv_timeout(WAIT).is_ok() {
            let _ = std::io::copy(&mut client, &mut server);
        }
    });
    (addr, release)
}

#[test]
fn a_request_refused_before_its_type_was_sent_leaves_the_gob_stream_whole() {
    let server = Server::new();
    common::register_all(&server);
    let (addr, release) = held_proxy(common::serve(&server));
    let builder = Client::builder()
        .max_message_size(1 << 20)
        .max_unsent_bytes(2 << 20)
        .timeout(Some(WAIT));
    let client = builder.wire(netrpc::Wire::Gob).dial(addr).unwrap();
    // Bytes ([]byte, a predefined type) until the server's socket is full and a call is
    // refused...
    let bytes = serde_bytes::ByteBuf::from(vec![1u8; 500 << 10]);
    let mut pending = Vec::new();
    loop {
        assert!(pending.len() < 1000, "nothing was refused");
        let call = client.go::<_, serde_bytes::ByteBuf>("Echo.Echo", &bytes);
        if call.done.try_recv().is_ok() {
            break;
        }
        pending.push(call);
    }
    // ...then the first call whose argument's type gob must define is refused too.
    let refused = client.call::<_, i64>("Arith.Multiply", &Args { a: 6, b: 7 });
    assert!(matches!(refused, Err(Error::Codec(_))), "{refused:?}");
    release.send(()).unwrap();
    for call in pending {
        call.done.recv_timeout(WAIT).unwrap().result.unwrap();
    }
    // The definition was not sent, nor taken as sent: the next call defines the type.
    let product: i64 = client.call("Arith.Multiply", &Args { a: 6, b: 7 }).unwrap();
    assert_eq!(product, 42);
}
