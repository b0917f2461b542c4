//! Faults across process boundaries: a server process killed under load, and restarted.
//!
//! The processes are the `arith_server` and `loadgen` examples, which `cargo test` builds
//! beside this test.

mod common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{example, spawn_announcing, Args, WAIT};
use netrpc::{Client, Error};

/// Starts the example server on `addr` and returns it with the address it bound.
fn spawn_server(addr: &str) -> (Child, SocketAddr) {
    spawn_announcing(Command::new(example("arith_server")).args(["--addr", addr]))
}

#[test]
fn killing_the_server_fails_every_pending_call_promptly_and_a_restart_serves_again() {
    let (mut server, addr) = spawn_server("127.0.0.1:0");
    let client = Client::dial(addr).unwrap();
    assert_eq!(
        client
            .call::<_, i64>("Arith.Multiply", &Args { a: 6, b: 7 })
            .unwrap(),
        42
    );

    // Keep many large calls in flight, then kill the server under them.
    let payload = serde_bytes::ByteBuf::from(vec![1u8; 256 << 10]);
    let calls: Vec<_> = (0..64)
        .map(|_| client.go::<_, serde_bytes::ByteBuf>("Echo.Echo", &payload))
        .collect();
    server.kill().unwrap();
    let killed = Instant::now();
    server.wait().unwrap();
    let mut failed = 0;
    for call in calls {
        let done = call.done.recv_timeout(WAIT).expect("every call completes");
        match done.result {
            Ok(reply) => assert_eq!(reply.len(), payload.len()),
            Err(Error::Io(_)) => failed += 1,
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    assert!(
        killed.elapsed() < Duration::from_secs(1),
        "pending calls took {:?}",
        killed.elapsed()
    );
    assert!(failed > 0, "the kill should have caught calls in flight");
    assert!(matches!(
        client.call::<_, i64>("Arith.Multiply", &Args { a: 1, b: 1 }),
        Err(Error::Shutdown)
    ));

    // A restarted server on the same address serves new clients.
    let (mut restarted, _) = spawn_server(&addr.to_string());
    let fresh = Client::builder().timeout(Some(WAIT)).dial(addr).unwrap();
    assert_eq!(
        fresh
            .call::<_, i64>("Arith.Multiply", &Args { a: 3, b: 5 })
            .unwrap(),
        15
    );
    restarted.kill().unwrap();
    restarted.wait().unwrap();
}

#[test]
fn a_client_process_killed_mid_call_leaves_the_server_serving() {
    let (mut server, addr) = spawn_server("127.0.0.1:0");
    // The load generator, with 64 KiB calls in flight on 4 connections, killed mid-run.
    let mut load = Command::new(example("loadgen"))
        .args(["--addr", &addr.to_string(), "--conns", "4", "--async", "16"])
        .args(["--payload", "65536", "--duration", "30"])
        .stdout(Stdio::null())
        .spawn()
        .expect("start loadgen");
    thread::sleep(Duration::from_millis(700));
    load.kill().unwrap();
    load.wait().unwrap();
    let client = Client::builder().timeout(Some(WAIT)).dial(addr).unwrap();
    assert_eq!(
        client
            .call::<_, i64>("Arith.Multiply", &Args { a: 2, b: 21 })
            .unwrap(),
        42
    );
    server.kill().unwrap();
    server.wait().unwrap();
}
