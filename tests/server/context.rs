//! A method that takes the call's `Context` learns who called, and learns at once that its
//! caller is gone.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crossbeam_channel::{after, select, unbounded, Receiver, Sender};
use netrpc::{Client, Context, Server, Service, Wire};

use crate::common::{self, WAIT};

/// What a watch saw when it ended.
struct Ended {
    at: Instant,
    caller_gone: bool,
    peer: String,
    wire: Option<Wire>,
    service_method: String,
}

struct Watcher {
    ended: Sender<Ended>,
}

impl Watcher {
    /// Waits `ms` for news that never comes, unless the caller leaves first.
    fn watch(&self, ctx: &Context, ms: u64) -> Result<&'static str, String> {
        let reply = select! {
            recv(ctx.done()) -> _ => Err("the caller is gone".to_owned()),
            recv(after(Duration::from_millis(ms))) -> _ => Ok("no news"),
        };
        let _ = self.ended.send(Ended {
            at: Instant::now(),
            caller_gone: ctx.is_done(),
            peer: ctx.peer().to_owned(),
            wire: ctx.wire(),
            service_method: ctx.service_method().to_owned(),
        });
        reply
    }
}

fn start() -> (Server, std::net::SocketAddr, Receiver<Ended>) {
    let (ended, watched) = unbounded();
    let server = Server::new();
    server
        .register(Service::new(Watcher { ended }).method_with_context("Watch", Watcher::watch))
        .unwrap();
    let addr = common::serve(&server);
    (server, addr, watched)
}

/// `[0, 1, "Watcher.Watch", [ms]]`
fn watch_request(ms: u16) -> Vec<u8> {
    let mut request = vec![0x94, 0x00, 0x01];
    rmp::encode::write_str(&mut request, "Watcher.Watch").unwrap();
    request.push(0x91);
    rmp::encode::write_u16(&mut request, ms).unwrap();
    request
}

#[test]
fn a_method_waiting_on_its_context_returns_as_its_caller_vanishes() {
    let (_server, addr, watched) = start();
    let mut conn = TcpStream::connect(addr).unwrap();
    let peer = conn.local_addr().unwrap().to_string();
    conn.write_all(&watch_request(10_000)).unwrap();
    std::thread::sleep(Duration::from_millis(200)); // The watch has begun.
    let gone = Instant::now();
    drop(conn);
    let ended = watched.recv_timeout(WAIT).unwrap();
    let after = ended.at.duration_since(gone);
    assert!(
        after < Duration::from_millis(100),
        "returned {after:?} after"
    );
    assert!(ended.caller_gone);
    assert_eq!(ended.peer, peer);
    assert_eq!(ended.wire, Some(Wire::Msgpack));
    assert_eq!(ended.service_method, "Watcher.Watch");
}

#[test]
fn a_closed_client_and_a_shutdown_past_its_grace_end_the_watch_too() {
    let (server, addr, watched) = start();
    let client = Client::dial(addr).unwrap();
    let call = client.go::<_, String>("Watcher.Watch", &10_000u64);
    std::thread::sleep(Duration::from_millis(200));
    let closed = Instant::now();
    client.close().unwrap();
    let ended = watched.recv_timeout(WAIT).unwrap();
    assert!(ended.at.duration_since(closed) < Duration::from_millis(100));
    assert!(ended.caller_gone);
    assert!(call.done.recv_timeout(WAIT).unwrap().result.is_err());

    // A watch still running when the grace ends is told too.
    let client = Client::dial(addr).unwrap();
    let call = client.go::<_, String>("Watcher.Watch", &10_000u64);
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    server.shutdown(Duration::from_millis(100));
    let ended = watched.recv_timeout(WAIT).unwrap();
    let after = ended.at.duration_since(started);
    assert!(
        after < Duration::from_millis(300),
        "returned {after:?} after"
    );
    assert!(ended.caller_gone);
    assert!(call.done.recv_timeout(WAIT).unwrap().result.is_err());
}

#[test]
fn a_caller_that_stays_sees_its_watch_run_out() {
    let (_server, addr, watched) = start();
    let client = Client::builder().wire(Wire::Json).dial(addr).unwrap();
    let reply: String = client.call("Watcher.Watch", &50u64).unwrap();
    assert_eq!(reply, "no news");
    let ended = watched.recv_timeout(WAIT).unwrap();
    assert!(!ended.caller_gone);
    assert_eq!(ended.wire, Some(Wire::Json));
}
