//! netrpc's JSON-RPC codec against a real Go `net/rpc/jsonrpc`, both ways.
//!
//! The Go peer (`tests/peers/jsonrpc/main.go`, standard library only) is built at test time into the
//! target directory. Without a Go toolchain these tests fail with a clear message.

#![cfg(feature = "json")]

use crate::common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::thread;

use crate::common::{assert_has_lines, output_of, spawn_announcing, Args, Quotient, WAIT};
use netrpc::Error;
use serde::{Deserialize, Serialize};

/// The Go peer, built once per test run.
fn go_peer() -> PathBuf {
    common::go_program("jsonrpc")
}

/// A Go jsonrpc server, killed when dropped.
struct GoServer {
    child: Child,
    addr: SocketAddr,
}

impl GoServer {
    fn start() -> GoServer {
        // It prints "listening 127.0.0.1:PORT".
        let (child, addr) = spawn_announcing(Command::new(go_peer()).args(["-mode", "server"]));
        GoServer { child, addr }
    }
}

impl Drop for GoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn netrpc_json_server() -> SocketAddr {
    common::start_json().addr
}

#[test]
fn a_go_client_calls_a_netrpc_server() {
    let addr = netrpc_json_server();
    let stdout =
        output_of(Command::new(go_peer()).args(["-mode", "client", "-addr", &addr.to_string()]));
    assert_has_lines(
        &stdout,
        &[
            "ok: multiply",
            "ok: divide",
            "ok: omitempty and names in any case",
            "ok: divide by zero",
            "ok: unknown method",
            "ok: empty struct",
            "ok: 100 concurrent calls",
            "ok: 1 MiB payload",
        ],
    );
}

#[derive(Serialize, Deserialize)]
struct EchoData {
    #[serde(rename = "Data")]
    data: String,
}

#[test]
fn a_netrpc_client_calls_a_go_server() {
    let go = GoServer::start();
    let client = netrpc::jsonrpc::dial(go.addr).unwrap();
    let product: i64 = client
        .call_timeout("Arith.Multiply", &Args { a: 7, b: 8 }, WAIT)
        .unwrap();
    assert_eq!(product, 56);
    let q: Quotient = client
        .call_timeout("Arith.Divide", &Args { a: 15, b: 4 }, WAIT)
        .unwrap();
    assert_eq!(q, Quotient { quo: 3, rem: 3 });
    // Go leaves the zero Rem out: {"Quo":2}.
    let q: Quotient = client
        .call_timeout("Arith.DivideSparse", &Args { a: 8, b: 4 }, WAIT)
        .unwrap();
    assert_eq!(q, Quotient { quo: 2, rem: 0 });
    match client.call_timeout::<_, Quotient>("Arith.Divide", &Args { a: 1, b: 0 }, WAIT) {
        Err(Error::Server(text)) => assert_eq!(text, "divide by zero"),
        other => panic!("expected divide by zero, got {other:?}"),
    }
    match client.call_timeout::<_, i64>("Arith.Nope", &Args { a: 1, b: 0 }, WAIT) {
        Err(Error::Server(text)) => assert_eq!(text, "rpc: can't find method Arith.Nope"),
        other => panic!("expected an unknown method error, got {other:?}"),
    }
    // Go's empty struct is () here, both ways.
    client
        .call_timeout::<_, ()>("Test.Nothing", &(), WAIT)
        .unwrap();
    thread::scope(|s| {
        for i in 0..100i64 {
            let client = &client;
            s.spawn(move || {
                let r: i64 = client
                    .call_timeout("Arith.Multiply", &Args { a: i, b: 3 }, WAIT)
                    .unwrap();
                assert_eq!(r, i * 3);
            });
        }
    });
    // Go's []byte travels as base64; "AAAA" is three zero bytes, so 1 MiB of zeros is this.
    let data = "A".repeat((1 << 20) / 3 * 4);
    let echoed: EchoData = client
        .call_timeout("Echo.Echo", &EchoData { data: data.clone() }, WAIT)
        .unwrap();
    assert_eq!(echoed.data, data);
}

/// Sends raw lines to a server and reads one line back per request.
fn raw_exchange(addr: SocketAddr, requests: &[&str]) -> Vec<String> {
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(WAIT)).unwrap();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    requests
        .iter()
        .map(|request| {
            conn.write_all(request.as_bytes()).unwrap();
            conn.write_all(b"\n").unwrap();
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            line
        })
        .collect()
}

#[test]
fn the_same_bytes_get_the_same_answers_from_go_and_netrpc() {
    let requests = [
        r#"{"method":"Arith.Multiply","params":[{"A":7,"B":8}],"id":0}"#,
        // Any JSON id is echoed unchanged.
        r#"{"method":"Arith.Multiply","params":[{"A":2,"B":3}],"id":"abc"}"#,
        r#"{"method":"Arith.Multiply","params":[{"A":2,"B":3}],"id":{"x":[1,2]}}"#,
        r#"{"method":"Arith.Divide","params":[{"A":1,"B":0}],"id":null}"#,
        // Only the first param counts.
        r#"{"method":"Arith.Multiply","params":[{"A":2,"B":3},{"A":9,"B":9}],"id":4}"#,
        // No params at all.
        r#"{"method":"Arith.Multiply","id":5}"#,
        // Empty params, or a null one: the argument keeps its zero value, Args{0, 0}.
        r#"{"method":"Arith.Multiply","params":[],"id":8}"#,
        r#"{"method":"Arith.Divide","params":[],"id":9}"#,
        r#"{"method":"Arith.Multiply","params":[null],"id":10}"#,
        r#"{"method":"Nope.Multiply","params":[{}],"id":6}"#,
        r#"{"method":"NoDot","params":[{}],"id":7}"#,
    ];
    let go = GoServer::start();
    let from_go = raw_exchange(go.addr, &requests);
    let from_netrpc = raw_exchange(netrpc_json_server(), &requests);
    for ((request, go), ours) in requests.iter().zip(&from_go).zip(&from_netrpc) {
        assert_eq!(ours, go, "for {request}");
    }
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct Blob {
    #[serde(rename = "Data", with = "serde_bytes")]
    data: Vec<u8>,
}

/// Every byte value, and a length that needs padding.
fn all_bytes() -> Vec<u8> {
    (0..=255u8).chain([7, 8]).collect()
}

#[test]
fn bytes_travel_as_base64_both_ways() {
    // netrpc's client to Go's server: Go's Echo takes and gives []byte.
    let go = GoServer::start();
    let client = netrpc::jsonrpc::dial(go.addr).unwrap();
    let echoed: Blob = client
        .call_timeout("Echo.Echo", &Blob { data: all_bytes() }, WAIT)
        .unwrap();
    assert_eq!(echoed.data, all_bytes());
    // A 64 KiB payload, which failed before bytes were base64.
    let big = Blob {
        data: (0..65536).map(|i| i as u8).collect(),
    };
    let echoed: Blob = client.call_timeout("Echo.Echo", &big, WAIT).unwrap();
    assert_eq!(echoed, big);
    // The bytes on the wire are Go's: "AAEC" is 0, 1, 2.
    let line = raw_exchange(
        go.addr,
        &[r#"{"method":"Echo.Echo","params":[{"Data":"AAEC"}],"id":1}"#],
    );
    assert_eq!(
        line[0],
        "{\"id\":1,\"result\":{\"Data\":\"AAEC\"},\"error\":null}\n"
    );

    // Go's client to netrpc's server: a method that takes and gives bytes, checked by Go.
    let server = netrpc::Server::new();
    server
        .register(netrpc::Service::new(Bytes).method("Reverse", Bytes::reverse))
        .unwrap();
    let addr = common::start_json_with(server).addr;
    let stdout =
        output_of(Command::new(go_peer()).args(["-mode", "bytes", "-addr", &addr.to_string()]));
    assert_has_lines(&stdout, &["ok: bytes reversed"]);
    let ours = raw_exchange(
        addr,
        &[r#"{"method":"Bytes.Reverse","params":[{"Data":"AAEC"}],"id":1}"#],
    );
    assert_eq!(
        ours[0],
        "{\"id\":1,\"result\":{\"Data\":\"AgEA\"},\"error\":null}\n"
    );
}

struct Bytes;

impl Bytes {
    fn reverse(&self, mut blob: Blob) -> Result<Blob, String> {
        blob.data.reverse();
        Ok(blob)
    }
}
